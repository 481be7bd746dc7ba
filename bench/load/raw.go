package load

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/kvraft/hraftd/api"
)

// rawSender speaks just enough HTTP/1.1 over one keep-alive connection per
// worker: write the request bytes, read the status line, three headers and
// the body. It exists because on a 2-core box net/http's client (two
// goroutines per connection, a dozen allocations per request) takes about
// as much CPU as the server it measures, so a server's ceiling would be
// the client's. This is what wrk does in C. It handles what our servers
// send — Content-Length or chunked bodies, Connection: close — and nothing
// else (no 1xx, no redirects followed, no HTTP/2). Over https:// it wraps
// the connection in crypto/tls, the same TLS code a Go client of our API
// would run.
type rawSender struct {
	rawOptions

	mu   sync.Mutex // guards conn against the ctx watcher
	conn net.Conn
	br   *bufio.Reader
	wbuf []byte

	stopWatch func() bool
}

// rawOptions are what a rawSender needs of its run's Config.
type rawOptions struct {
	addr    string // host:port to dial
	host    string // Host header
	timeout time.Duration
	// tls, for https, has ServerName set to the URL's host.
	tls *tls.Config
	// auth is the Authorization header's value, if any.
	auth string
	// oneShot closes the connection after every answer.
	oneShot bool
}

func newRawSender(ctx context.Context, opts rawOptions) *rawSender {
	s := &rawSender{rawOptions: opts}
	// Unblock a request in flight when the run is interrupted, rather than
	// waiting out its timeout: a deadline in the past fails it at once.
	s.stopWatch = context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.conn != nil {
			_ = s.conn.SetDeadline(time.Unix(1, 0))
		}
	})
	return s
}

// connect dials the server and, over https, completes the TLS handshake,
// all within the request's timeout.
func (s *rawSender) connect(ctx context.Context) error {
	d := net.Dialer{Timeout: min(s.timeout, 2*time.Second)}
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return err
	}
	if s.tls != nil {
		tc := tls.Client(conn, s.tls)
		_ = tc.SetDeadline(time.Now().Add(s.timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return err
		}
		conn = tc
	}
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	if ctx.Err() != nil { // interrupted while dialling: the watcher missed it
		s.drop()
		return ctx.Err()
	}
	s.br = bufio.NewReaderSize(conn, 16<<10)
	return nil
}

func (s *rawSender) send(ctx context.Context, c call, wantErrBody bool) (answer, error) {
	if err := ctx.Err(); err != nil {
		return answer{}, err
	}
	if s.conn == nil {
		if err := s.connect(ctx); err != nil {
			return answer{}, err
		}
	}
	_ = s.conn.SetDeadline(time.Now().Add(s.timeout))
	if err := ctx.Err(); err != nil {
		// The watcher may have fired just before the line above replaced
		// its past deadline.
		return answer{}, err
	}

	b := s.wbuf[:0]
	b = append(b, c.method...)
	b = append(b, ' ')
	b = append(b, c.uri...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, s.host...)
	b = append(b, "\r\nUser-Agent: hraftd-bench\r\n"...)
	if s.auth != "" {
		b = append(b, "Authorization: "...)
		b = append(b, s.auth...)
		b = append(b, "\r\n"...)
	}
	if s.oneShot {
		b = append(b, "Connection: close\r\n"...)
	}
	if c.body != nil {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(c.body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, c.body...)
	s.wbuf = b
	if _, err := s.conn.Write(b); err != nil {
		s.drop()
		return answer{}, err
	}
	a, keep, err := readResponse(s.br, wantErrBody)
	if err != nil || !keep || s.oneShot {
		s.drop()
	}
	return a, err
}

// drop closes the connection after an error or a Connection: close; the
// next request dials a new one.
func (s *rawSender) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

func (s *rawSender) close() {
	s.stopWatch()
	s.drop()
}

// errMalformed is a response this reader does not understand.
var errMalformed = errors.New("malformed HTTP response")

// readResponse reads one response from br. keep is false when the
// connection cannot carry another request. With wantErrBody the first
// bytes of a non-200 body are returned for the error report.
func readResponse(br *bufio.Reader, wantErrBody bool) (a answer, keep bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return a, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return a, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	if a.status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return a, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	keep = line[7] == '1' // HTTP/1.0 closes unless told otherwise; our servers speak 1.1
	length, chunked := int64(-1), false
	for {
		line, err = readLine(br)
		if err != nil {
			return a, false, err
		}
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return a, false, fmt.Errorf("%w: header %q", errMalformed, line)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(v), 10, 64); err != nil || length < 0 {
				return a, false, fmt.Errorf("%w: Content-Length %q", errMalformed, v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			if bytes.EqualFold(v, []byte("close")) {
				keep = false
			}
		case bytes.EqualFold(k, []byte(api.HeaderFound)):
			a.found = string(v)
		}
	}
	var body io.Reader
	switch {
	case chunked:
		body = newChunkedReader(br)
	case length >= 0:
		body = &exactReader{r: br, n: length}
	default:
		// No length: the body runs to the end of the connection.
		body, keep = br, false
	}
	if wantErrBody && a.status != 200 {
		a.errBody, err = io.ReadAll(io.LimitReader(body, 256))
		if err != nil {
			return a, false, err
		}
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		return a, false, err
	}
	return a, keep, nil
}

// readLine returns one CRLF- or LF-terminated line without its ending. The
// slice is only valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: line longer than %d bytes", errMalformed, br.Size())
		}
		return nil, err
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
	return line, nil
}

// exactReader reads exactly n bytes: a connection that ends before its
// Content-Length is an error (io.LimitReader would call it a clean end).
type exactReader struct {
	r io.Reader
	n int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), e.n)]
	n, err := e.r.Read(p)
	e.n -= int64(n)
	if err == io.EOF && e.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// chunkedReader decodes a chunked body (RFC 9112 §7.1), ignoring chunk
// extensions and trailers, which our servers do not send.
type chunkedReader struct {
	br   *bufio.Reader
	left int64 // bytes left in the current chunk
	done bool
}

func newChunkedReader(br *bufio.Reader) *chunkedReader { return &chunkedReader{br: br} }

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	n, err := c.read(p)
	if err == io.EOF && !c.done {
		// The connection ended inside the body: not a clean end.
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (c *chunkedReader) read(p []byte) (int, error) {
	if c.left == 0 {
		line, err := readLine(c.br)
		if err != nil {
			return 0, err
		}
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if n == 0 {
			// Trailers, if any, end with an empty line.
			for {
				line, err := readLine(c.br)
				if err != nil {
					return 0, err
				}
				if len(line) == 0 {
					break
				}
			}
			c.done = true
			return 0, io.EOF
		}
		c.left = n
	}
	p = p[:min(int64(len(p)), c.left)]
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if err == nil && c.left == 0 {
		line, lerr := readLine(c.br) // the CRLF after the chunk's data
		if lerr != nil {
			return n, lerr
		}
		if len(line) != 0 {
			return n, fmt.Errorf("%w: no CRLF after chunk", errMalformed)
		}
	}
	return n, err
}
