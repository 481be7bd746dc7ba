package webguard

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kvraft/hraftd/internal/httpx"
)

// The defaults of ServerConfig. Together they bound what one client can
// pin: a connection holds at most MaxHeaderBytes (plus net/http's 4 KiB
// of slack and its buffers) while its headers arrive, for at most
// ReadHeaderTimeout; MaxConns bounds the number of such connections.
const (
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxConns          = 1024
)

// ServerConfig holds the limits of a server. Zero fields take the
// defaults above.
type ServerConfig struct {
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds the time to send the headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time to send a whole request, body
	// included: the read deadline of bodies.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time to write an answer; 0 (the default)
	// leaves it unbounded, because profiles and long polls answer slowly
	// on purpose. A client that never reads holds one connection, which
	// MaxConns bounds.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its
	// next request.
	IdleTimeout time.Duration
	// MaxConns caps open connections; past it, new ones are answered 503
	// (plain text) or closed (TLS) at once.
	MaxConns int
	// TLS, if set, makes Listen serve HTTPS with it (from tlsconf's
	// ServerConfig, with NextProtos "http/1.1").
	TLS *tls.Config
	// Logger receives net/http's own errors (TLS handshakes that failed,
	// and the like); nil means slog.Default().
	Logger *slog.Logger
}

func (c ServerConfig) withDefaults() ServerConfig {
	set := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	set(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	set(&c.ReadTimeout, DefaultReadTimeout)
	set(&c.IdleTimeout, DefaultIdleTimeout)
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// NewServer is an http.Server for h with cfg's limits. Serve it on a
// listener from Listen, which applies the connection cap and TLS.
func NewServer(cfg ServerConfig, h http.Handler) *http.Server {
	cfg = cfg.withDefaults()
	return &http.Server{
		Handler:           h,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
}

// Listener is a listening socket with the connection cap and, above it,
// TLS or JSON errors. Serve an http.Server from NewServer on it.
type Listener struct {
	net.Listener
	limit *limitListener
}

// Open is the number of connections open now (for a gauge).
func (l *Listener) Open() int64 { return l.limit.open.Load() }

// Listen listens on addr (TCP) and wraps the listener in the connection
// cap, then in TLS if cfg.TLS is set, or else in httpx.Listener so that
// the errors net/http answers by itself are JSON.
func Listen(addr string, cfg ServerConfig) (*Listener, error) {
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	limit := LimitListener(ln, cfg.MaxConns, cfg.TLS == nil).(*limitListener)
	if cfg.TLS != nil {
		return &Listener{tls.NewListener(limit, cfg.TLS), limit}, nil
	}
	return &Listener{httpx.Listener(limit), limit}, nil
}

// overloaded is the answer to a plain-text connection past the cap.
var overloaded = func() []byte {
	body := `{"error":"too many open connections to this server; retry in a moment, and reuse connections"}` + "\n"
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n" +
		"Retry-After: 1\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

// LimitListener caps the connections of ln that are open at once at max.
// A connection past the cap is not queued (a queue would hold clients
// while the ones holding the slots idle): it is answered at once, with a
// JSON 503 if plainHTTP, else (TLS, whose handshake has not happened yet)
// simply closed.
func LimitListener(ln net.Listener, max int, plainHTTP bool) net.Listener {
	return &limitListener{Listener: ln, max: int64(max), plain: plainHTTP}
}

type limitListener struct {
	net.Listener
	max   int64
	open  atomic.Int64
	plain bool
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &limitConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		go l.refuse(c)
	}
}

// refuse answers a connection past the cap and closes it. The client may
// already have sent its request: closing with unread data would reset the
// connection before the client reads the answer, so the write side is
// shut first and what arrives is drained for a moment. Each refusal lives
// at most refuseLinger.
func (l *limitListener) refuse(c net.Conn) {
	defer c.Close()
	if !l.plain {
		return
	}
	_ = c.SetDeadline(time.Now().Add(refuseLinger))
	if _, err := c.Write(overloaded); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.CopyN(io.Discard, c, 64<<10)
}

// refuseLinger bounds the life of a refused connection.
const refuseLinger = 500 * time.Millisecond

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}
