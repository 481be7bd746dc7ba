package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kvraft/hraftd/bench/suite"
	"github.com/kvraft/hraftd/internal/cluster"
	"github.com/kvraft/hraftd/internal/tlsconf"
)

// benchUser is the user the TLS rows' password load authenticates as. Its
// password is hashed at bcrypt's default cost, as `users add` does, not at
// the launcher's minimum: the first request after each cache expiry pays
// what a real users file costs.
const benchUser = "bench"

// bcryptCost is the cost of benchUser's password hash.
const bcryptCost = bcrypt.DefaultCost

// secureSetup is the second, secure cluster of the TLS comparison: HTTPS
// on every node's and the distributor's API, Raft over mutual TLS, -auth
// on (internal/cluster's secure mode), and the credentials the load
// presents.
type secureSetup struct {
	cl     *cluster.Cluster
	leader *cluster.Node // of shard 0
	dist   *cluster.Distributor
	// distSkip says why the distributor rows cannot run, if they cannot.
	distSkip string
	// basic is the Authorization header of benchUser.
	basic string
	// password trusts the cluster's CA and presents no certificate;
	// resumed is the same with a session cache, so that a new connection
	// resumes the previous one's TLS session; cert presents a client
	// certificate (role client, CN bench).
	password, resumed, cert *tls.Config
	// negotiated describes the TLS of a connection to the leader;
	// resumes says whether a new connection resumed the previous one's
	// session.
	negotiated string
	resumes    bool
	// cpu samples this cluster's processes, or is nil.
	cpu suite.CPUSampler
}

// startSecure starts the secure cluster in dir: 2×3 nodes, a distributor
// over both shards, benchUser in the users file and a client certificate.
// On error it closes what it started.
func startSecure(ctx context.Context, logger *slog.Logger, dir string, pprof bool) (s *secureSetup, err error) {
	ccfg := cluster.DefaultConfig()
	ccfg.Dir, ccfg.Distributor, ccfg.StopGrace, ccfg.Secure = dir, false, 5*time.Second, true
	ccfg.Logf = func(format string, args ...any) { logger.Info("secure cluster: " + fmt.Sprintf(format, args...)) }
	if pprof {
		ccfg.NodeArgs, ccfg.DistributorArgs = []string{"-pprof"}, []string{"-pprof"}
	}
	s = &secureSetup{}
	if s.cl, err = cluster.Start(ctx, ccfg); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.cl.Close()
		}
	}()
	if s.dist, err = s.cl.StartDistributor(ctx, "distributor", []int{0, 1}); err != nil {
		s.distSkip = "secure distributor did not start (logs in " + s.cl.LogDir() + ")"
		logger.Warn("skipping the secure distributor rows", "error", err)
	}
	if s.leader, err = s.cl.WaitLeader(ctx, s.cl.Shards[0]...); err != nil {
		return nil, err
	}
	if err := s.credentials(ctx); err != nil {
		return nil, fmt.Errorf("secure cluster: %w", err)
	}
	if s.negotiated, s.resumes, err = probeTLS(ctx, s.leader.HTTP, s.resumed); err != nil {
		return nil, fmt.Errorf("secure cluster: %w", err)
	}
	logger.Info("secure endpoints", "leader", s.leader.URL(), "distributor", s.distURL(), "tls", s.negotiated, "resumes", s.resumes)
	return s, nil
}

// credentials adds benchUser, waits until every process knows it, and
// makes the client TLS configurations.
func (s *secureSetup) credentials(ctx context.Context) error {
	sec := s.cl.Security
	password, err := addUser(sec.UsersFile, benchUser, []string{"read", "write"})
	if err != nil {
		return err
	}
	s.basic = "Basic " + base64.StdEncoding.EncodeToString([]byte(benchUser+":"+password))
	if s.password, err = sec.ClientTLS(nil); err != nil {
		return err
	}
	s.resumed = s.password.Clone()
	s.resumed.ClientSessionCache = tls.NewLRUClientSessionCache(256)
	leaf := sec.Leaf(benchUser, tlsconf.RoleClient)
	leaf.Hosts, leaf.Server = nil, false
	kp, err := sec.WriteCert(nil, "client-"+benchUser, leaf)
	if err != nil {
		return err
	}
	if s.cert, err = sec.ClientTLS(&kp); err != nil {
		return err
	}
	return s.waitUser(ctx)
}

// waitUser polls until every node and the distributor accept benchUser's
// password: each re-reads the users file on its own, within a second or
// so of the change. Anything but a 401 means the user is known.
func (s *secureSetup) waitUser(ctx context.Context) error {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: s.password}}
	defer client.CloseIdleConnections()
	urls := []string{}
	for _, n := range s.cl.Nodes() {
		urls = append(urls, n.URL()+"/key/bench-probe")
	}
	if s.dist != nil {
		urls = append(urls, s.dist.URL()+"/get/bench-probe")
	}
	return cluster.Poll(ctx, 30*time.Second, "every process to accept the bench user's password", func() error {
		for _, u := range urls {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", s.basic)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return fmt.Errorf("%s: HTTP 401", u)
			}
		}
		return nil
	})
}

func (s *secureSetup) distURL() string {
	if s.dist == nil {
		return ""
	}
	return s.dist.URL()
}

// addUser adds name with a random password, hashed at bcrypt's default
// cost, and perms to the users file at path, and returns the password.
// The file is replaced through a rename, so that no process reads half of
// it.
func addUser(path, name string, perms []string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var entries []map[string]any
	if err := json.Unmarshal(b, &entries); err != nil {
		return "", fmt.Errorf("users file %s: %w", path, err)
	}
	password := rand.Text()[:16]
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return "", err
	}
	entries = append(entries, map[string]any{"username": name, "password": string(hash), "perms": perms})
	if b, err = json.MarshalIndent(entries, "", "  "); err != nil {
		return "", err
	}
	tmp := filepath.Join(filepath.Dir(path), ".tmp-bench-users.json")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return "", err
	}
	return password, os.Rename(tmp, path)
}

// probeTLS makes two HTTPS requests to addr on new connections with cfg
// (which has a session cache), describes what was negotiated and reports
// whether the second connection resumed the first one's session: the
// resumed row would measure full handshakes without saying so otherwise.
func probeTLS(ctx context.Context, addr string, cfg *tls.Config) (desc string, resumed bool, err error) {
	var st tls.ConnectionState
	for range 2 {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return "", false, fmt.Errorf("TLS probe: %w", err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		// Reading the answer also reads the session ticket a TLS 1.3
		// server sends after the handshake.
		_, err = fmt.Fprintf(conn, "GET /readyz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
		if err == nil {
			_, err = io.Copy(io.Discard, conn)
		}
		st = conn.(*tls.Conn).ConnectionState()
		conn.Close()
		if err != nil {
			return "", false, fmt.Errorf("TLS probe: %w", err)
		}
	}
	desc = fmt.Sprintf("%s, %s, key exchange %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), st.CurveID)
	return desc, st.DidResume, nil
}

// secureDir is the secure cluster's directory inside the matrix's.
const secureDir = "secure"

// runTLS starts the secure cluster in dir beside s's plain one and runs
// the TLS comparison; opts are the plain cluster's (its CPU sampler and
// quiesce). The secure cluster is closed before it returns.
func runTLS(ctx context.Context, logger *slog.Logger, dir string, s *setup, opts suite.Options, pprof bool) (tlsReport, error) {
	logger.Info("starting the secure cluster for the TLS comparison")
	sec, err := startSecure(ctx, logger, dir, pprof)
	if err != nil {
		return tlsReport{}, err
	}
	defer func() {
		logger.Info("stopping the secure cluster")
		sec.cl.Close()
	}()
	if opts.CPU != nil {
		sec.cpu = cpuSampler(ctx, logger, sec.cl, []*cluster.Distributor{sec.dist}, nil)
	}
	// Both clusters settle before every slice: the one just loaded, and
	// the other, idle but for heartbeats and the distributor's polls.
	plainQuiesce := opts.Quiesce
	opts.Quiesce = func(ctx context.Context) error {
		err := plainQuiesce(ctx)
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return errors.Join(err, sec.cl.Quiesce(qctx))
	}
	plan, eps := tlsPlan(s, sec)
	rep := tlsReport{Method: tlsMethod(opts, sec), LoadBefore: loadAvg()}
	logger.Info("TLS comparison", "workloads", len(plan), "loadavg", rep.LoadBefore)
	rep.Rows = suite.Run(ctx, plan, eps, opts)
	rep.LoadAfter = loadAvg()
	return rep, nil
}
