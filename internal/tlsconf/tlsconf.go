// Package tlsconf loads a program's TLS material (its certificate and key,
// and the CA bundle it trusts) from files, re-reads them when they change
// so that a renewed certificate takes effect without a restart, and builds
// the tls.Configs the programs use: a server's, a client's, and the pair a
// node uses for its mutual-TLS links to its peers. It also reads the
// identity a verified peer certificate proves (see Identity for the
// convention).
//
// Reload: every handshake asks the Source for the current material; at
// most once per ReloadInterval that ask also stats the three files, and if
// a file's modification time or size changed, the Source re-reads them. A
// reload that fails (a half-written file, a key that does not match the
// certificate) is logged and the old material is kept, so a botched
// renewal never takes a running node down; the next change is tried again.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/kvraft/hraftd/internal/filewatch"
)

// DefaultReloadInterval is how often, at most, a handshake checks whether
// the files changed: a stat of three files per second is free, and a
// renewed certificate is live within a second of being written.
const DefaultReloadInterval = time.Second

// Config names the files a Source loads.
type Config struct {
	// CertFile and KeyFile are the PEM certificate (leaf first, then any
	// intermediates) and its private key. Both or neither: a client that
	// presents no certificate needs neither.
	CertFile, KeyFile string
	// CAFile is the PEM bundle of the CAs whose certificates are trusted.
	CAFile string
	// ReloadInterval bounds how often handshakes check the files for
	// changes; 0 means DefaultReloadInterval.
	ReloadInterval time.Duration
	// Logger receives reload failures and successes; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Validate checks that the configuration names a usable set of files.
func (c Config) Validate() error {
	if c.CAFile == "" {
		return errors.New("tlsconf: no CA file: give the CA bundle that signs the cluster's certificates (-tls-ca)")
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("tlsconf: give both a certificate and its key (-tls-cert and -tls-key), or neither")
	}
	if c.ReloadInterval < 0 {
		return errors.New("tlsconf: ReloadInterval must not be negative")
	}
	return nil
}

// Source holds the current TLS material and reloads it on change. It is
// safe for concurrent use; the tls.Configs it builds read it on every
// handshake.
type Source struct {
	cfg    Config
	logger *slog.Logger
	watch  *filewatch.Watch
	cur    atomic.Pointer[material]
}

// material is one consistent set of loaded files.
type material struct {
	cert *tls.Certificate // nil when no certificate is configured
	pool *x509.CertPool
}

// Load reads the files named by cfg. It fails if any is missing or
// invalid, so that a program with bad TLS material does not start.
func Load(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	s := &Source{cfg: cfg, logger: cfg.Logger,
		watch: filewatch.New(cfg.ReloadInterval, cfg.CertFile, cfg.KeyFile, cfg.CAFile)}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	err := s.watch.Check(true, func() error {
		m, err := s.read()
		if err != nil {
			return err
		}
		s.cur.Store(m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.diagnose(s.cur.Load())
	return s, nil
}

// diagnose warns about a certificate its peers will refuse: expired, or
// not signed by the CA this program trusts (in a cluster with one CA, the
// CA its peers trust too). It only warns: a client may rightly trust one
// CA for servers and hold a certificate from another.
func (s *Source) diagnose(m *material) {
	if m.cert == nil {
		return
	}
	_, err := m.cert.Leaf.Verify(x509.VerifyOptions{
		Roots:         m.pool,
		Intermediates: intermediates(m.cert),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		s.logger.Warn("tls certificate does not verify against the CA bundle; peers that trust only that CA will refuse it",
			"cert", s.cfg.CertFile, "ca", s.cfg.CAFile, "err", err)
	}
}

func intermediates(c *tls.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, der := range c.Certificate[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			pool.AddCert(ic)
		}
	}
	return pool
}

// Certificate is the current certificate, or nil if none is configured.
func (s *Source) Certificate() *tls.Certificate { return s.current().cert }

// Pool is the current CA pool.
func (s *Source) Pool() *x509.CertPool { return s.current().pool }

// current returns the material after checking the files for changes if
// the last check is older than the reload interval.
func (s *Source) current() *material {
	if s.watch.Due() {
		_ = s.check(false) // logged; the old material stays
	}
	return s.cur.Load()
}

// Reload re-reads the files now, whether or not they changed. It returns
// the error of a failed read and keeps the old material then; call it,
// say, on SIGHUP.
func (s *Source) Reload() error { return s.check(true) }

func (s *Source) check(force bool) error {
	err := s.watch.Check(force, func() error {
		m, err := s.read()
		if err != nil {
			return err
		}
		s.cur.Store(m)
		s.diagnose(m)
		attrs := []any{"ca", s.cfg.CAFile}
		if m.cert != nil {
			attrs = append(attrs, "cert", s.cfg.CertFile, "name", m.cert.Leaf.Subject.CommonName,
				"not_after", m.cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		s.logger.Info("tls material reloaded", attrs...)
		return nil
	})
	if err != nil {
		s.logger.Error("tls reload failed; keeping the previous certificate", "err", err)
	}
	return err
}

func (s *Source) read() (*material, error) {
	caPEM, err := os.ReadFile(s.cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("tlsconf: %s holds no PEM certificate", s.cfg.CAFile)
	}
	m := &material{pool: pool}
	if s.cfg.CertFile == "" {
		return m, nil
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: load %s and %s: %w", s.cfg.CertFile, s.cfg.KeyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tlsconf: %s: %w", s.cfg.CertFile, err)
		}
	}
	m.cert = &cert
	return m, nil
}
