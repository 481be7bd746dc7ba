package load

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

// TestReadResponse reads each kind of answer the raw client may meet.
// (Long: a table, one entry per answer.)
func TestReadResponse(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantErrBody bool
		want        answer
		wantKeep    bool
	}{
		{
			name:     "empty 200 of a write",
			in:       "HTTP/1.1 200 OK\r\nX-Raft-Index: 7\r\nContent-Length: 0\r\n\r\n",
			want:     answer{status: 200},
			wantKeep: true,
		},
		{
			name:     "read with found header and body",
			in:       "HTTP/1.1 200 OK\r\nx-raft-key-found: false\r\nContent-Length: 8\r\n\r\n{\"k\":\"\"}",
			want:     answer{status: 200, found: "false"},
			wantKeep: true,
		},
		{
			name:        "error body kept when asked",
			in:          "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 17\r\n\r\n{\"error\":\"nope\"}\n",
			wantErrBody: true,
			want:        answer{status: 503, errBody: []byte("{\"error\":\"nope\"}\n")},
			wantKeep:    true,
		},
		{
			name:     "chunked body",
			in:       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n",
			want:     answer{status: 200},
			wantKeep: true,
		},
		{
			name:        "chunked error body",
			in:          "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n",
			wantErrBody: true,
			want:        answer{status: 500, errBody: []byte("abcd")},
			wantKeep:    true,
		},
		{
			name:     "connection close",
			in:       "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
			want:     answer{status: 200},
			wantKeep: false,
		},
		{
			name:     "HTTP/1.0 closes",
			in:       "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
			want:     answer{status: 200},
			wantKeep: false,
		},
		{
			name:     "no length: body to end of connection",
			in:       "HTTP/1.1 200 OK\r\n\r\nhello",
			want:     answer{status: 200},
			wantKeep: false,
		},
		{
			name:     "bare LF line endings",
			in:       "HTTP/1.1 307 Temporary Redirect\nLocation: http://x/\nContent-Length: 0\n\n",
			want:     answer{status: 307},
			wantKeep: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			got, keep, err := readResponse(br, tt.wantErrBody)
			if err != nil {
				t.Fatalf("readResponse: %v", err)
			}
			if got.status != tt.want.status || got.found != tt.want.found || string(got.errBody) != string(tt.want.errBody) || keep != tt.wantKeep {
				t.Errorf("got %+v keep=%v (errBody %q), want %+v keep=%v (errBody %q)",
					got, keep, got.errBody, tt.want, tt.wantKeep, tt.want.errBody)
			}
			if rest, _ := br.Peek(1); tt.wantKeep && len(rest) != 0 {
				t.Errorf("left %q unread: the next response on the connection would be misread", rest)
			}
		})
	}
}

// Two responses back to back on one connection, as keep-alive delivers
// them: each read must stop exactly at its own end.
func TestReadResponseKeepAlive(t *testing.T) {
	in := "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc" +
		"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\nno"
	br := bufio.NewReader(strings.NewReader(in))
	for i, want := range []int{200, 503} {
		a, keep, err := readResponse(br, false)
		if err != nil || a.status != want || !keep {
			t.Fatalf("response %d: status %d keep %v err %v, want %d true nil", i, a.status, keep, err, want)
		}
	}
}

func TestReadResponseMalformed(t *testing.T) {
	for _, in := range []string{
		"HTTP/1.1 20 OK\r\n\r\n",
		"SPDY/3 200 OK\r\n\r\n",
		"HTTP/1.1 abc OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n",
	} {
		_, _, err := readResponse(bufio.NewReader(strings.NewReader(in)), false)
		if !errors.Is(err, errMalformed) {
			t.Errorf("readResponse(%q) = %v, want errMalformed", in, err)
		}
	}
	// A truncated response is an I/O error, not a success.
	for _, in := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",
	} {
		if _, _, err := readResponse(bufio.NewReader(strings.NewReader(in)), false); err == nil {
			t.Errorf("truncated response %q read without error", in)
		}
	}
}
