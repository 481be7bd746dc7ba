package httpx

import (
	"bytes"
	"net"
	"strconv"
	"strings"

	"github.com/kvraft/hraftd/internal/jsonenc"
)

// Listener wraps ln so that the answers net/http's server writes by itself,
// before any handler runs, are JSON like every other answer. The server
// answers a request it cannot parse (a bad percent-escape such as
// /get/100%, a malformed header, headers over MaxHeaderBytes, an unknown
// Transfer-Encoding) with a text/plain status line written straight to the
// connection and then closes it. Those writes have one exact shape, a
// status line followed by
//
//	Content-Type: text/plain; charset=utf-8
//	Connection: close
//
// which no handler's answer has (a handler's headers are sorted and carry
// a Date), so the wrapper recognises them and rewrites them; every other
// write passes through untouched.
//
// net/http serves TLS only on a connection it can see is a *tls.Conn, so
// this wrapper is for plain-text listeners.
func Listener(ln net.Listener) net.Listener { return jsonErrorListener{ln} }

type jsonErrorListener struct{ net.Listener }

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c}, nil
}

type jsonErrorConn struct{ net.Conn }

// serverErrorHeaders are the headers net/http writes after the status line
// of an answer it gives without a handler.
const serverErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *jsonErrorConn) Write(b []byte) (int, error) {
	if !bytes.HasPrefix(b, []byte("HTTP/1.1 ")) {
		return c.Conn.Write(b)
	}
	eol := bytes.Index(b, []byte("\r\n"))
	if eol < 0 || !bytes.HasPrefix(b[eol:], []byte(serverErrorHeaders)) {
		return c.Conn.Write(b)
	}
	if _, err := c.Conn.Write(rewriteServerError(b[:eol], b[eol+len(serverErrorHeaders):])); err != nil {
		return 0, err
	}
	return len(b), nil
}

// rewriteServerError turns net/http's plain-text answer (status line and
// body) into the same answer with a JSON body that says what to do.
func rewriteServerError(statusLine, text []byte) []byte {
	msg := strings.TrimSpace(string(text))
	if msg == "400 Bad Request" {
		msg += ": the request line, URL or headers could not be parsed " +
			"(for example a % in a path or query must be followed by two hex digits: send a literal % as %25)"
	}
	body := jsonenc.AppendString([]byte(`{"error":`), msg)
	body = append(body, "}\n"...)
	out := make([]byte, 0, len(statusLine)+len(body)+96)
	out = append(out, statusLine...)
	out = append(out, "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	out = append(out, "\r\n\r\n"...)
	return append(out, body...)
}
