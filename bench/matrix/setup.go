package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/kvraft/hraftd/bench/load"
	"github.com/kvraft/hraftd/bench/suite"
	"github.com/kvraft/hraftd/internal/cluster"
	"github.com/kvraft/hraftd/internal/freeport"
)

// setup is what the matrix runs against: the cluster, its front ends, the
// nodes the node rows target, and why a row cannot run. A distributor or
// hello server that will not build or start costs its own rows, not the
// whole matrix.
type setup struct {
	cl               *cluster.Cluster
	leader, follower *cluster.Node // of shard 0
	dist, oneShard   *cluster.Distributor
	hello            *cluster.Proc
	helloURL         string

	distSkip, oneShardSkip, helloSkip string
}

// startSetup builds the binaries and starts the cluster (2×3 nodes) and
// its front ends. On error it closes what it started.
func startSetup(ctx context.Context, logger *slog.Logger, dir string, plan []suite.Workload, pprof bool) (s *setup, err error) {
	s = &setup{}
	benchBin, err := s.build(ctx, logger)
	if err != nil {
		return nil, err
	}
	ccfg := cluster.DefaultConfig()
	// Plain even under HRAFTD_TEST_SECURE=1: the secure cluster is the
	// TLS comparison's (-tls), beside this one.
	ccfg.Dir, ccfg.Distributor, ccfg.StopGrace, ccfg.Plain = dir, false, 5*time.Second, true
	ccfg.Logf = func(format string, args ...any) { logger.Info(fmt.Sprintf(format, args...)) }
	if pprof {
		ccfg.NodeArgs = []string{"-pprof"}
		ccfg.DistributorArgs = []string{"-pprof"}
	}
	if s.cl, err = cluster.Start(ctx, ccfg); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.cl.Close()
		}
	}()
	if s.distSkip == "" {
		var all []int
		for sh := range s.cl.Shards {
			all = append(all, sh)
		}
		if s.dist, err = s.cl.StartDistributor(ctx, "distributor", all); err != nil {
			s.distSkip = "distributor did not start (logs in " + s.cl.LogDir() + ")"
			logger.Warn("skipping the distributor rows", "error", err)
		}
	}
	if s.helloSkip == "" {
		if err := s.startHello(ctx, benchBin); err != nil {
			s.helloSkip = "hello server did not start (logs in " + s.cl.LogDir() + ")"
			logger.Warn("skipping the hello rows", "error", err)
		}
	}
	if s.leader, err = s.cl.WaitLeader(ctx, s.cl.Shards[0]...); err != nil {
		return nil, err
	}
	if s.follower, err = s.cl.WaitFollower(ctx, 0); err != nil {
		return nil, err
	}
	logger.Info("endpoints", "leader", s.leader.ID, "leader_http", s.leader.HTTP, "follower", s.follower.ID,
		"follower_http", s.follower.HTTP, "distributor", s.distURL(), "hello", s.helloURL)
	s.oneShardSkip = s.distSkip
	if s.distSkip == "" && wants(plan, suite.DistSetOneShard) {
		if s.oneShard, err = s.cl.StartDistributor(ctx, "distributor-shard0", []int{0}); err != nil {
			s.oneShardSkip = "one-shard distributor did not start (logs in " + s.cl.LogDir() + ")"
			logger.Warn("skipping the one-shard distributor row", "error", err)
		}
	}
	return s, nil
}

// build builds hraftd (which the matrix cannot do without), the
// distributor and the bench tool (which only their rows need), and
// returns the bench binary.
func (s *setup) build(ctx context.Context, logger *slog.Logger) (string, error) {
	logger.Info("building hraftd, the distributor and bench")
	if _, err := cluster.Build(ctx, cluster.PkgHraftd); err != nil {
		return "", err
	}
	if _, err := cluster.Build(ctx, cluster.PkgDistributor); err != nil {
		s.distSkip = "distributor does not build: " + firstLine(err.Error())
		logger.Warn("skipping the distributor rows", "error", err)
	}
	benchBin, err := cluster.Build(ctx, "./bench")
	if err != nil {
		s.helloSkip = "bench does not build: " + firstLine(err.Error())
		logger.Warn("skipping the hello rows", "error", err)
	}
	return benchBin, nil
}

// startHello starts `bench -serve-hello` on a free port.
func (s *setup) startHello(ctx context.Context, benchBin string) error {
	ports, err := freeport.Ports(1)
	if err != nil {
		return err
	}
	listen := freeport.Addr(ports[0])
	url := "http://" + listen + "/"
	if s.hello, err = s.cl.StartProcess(ctx, "hello", benchBin, []string{"-serve-hello", listen}, url); err != nil {
		return err
	}
	s.helloURL = url
	return nil
}

func (s *setup) distURL() string {
	if s.dist == nil {
		return ""
	}
	return s.dist.URL()
}

func (s *setup) oneShardURL() string {
	if s.oneShard == nil {
		return ""
	}
	return s.oneShard.URL()
}

// Key prefixes of the keys preloaded for the read rows.
const distReads, nodeReads = "rd", "rn"

// preload writes the keys the read rows read: through the distributor so
// each key lands in its own shard, and straight into shard 0 for the
// follower; then waits until the follower has applied them, or its "none"
// reads would miss. A failed preload through the distributor costs only
// the distributor's rows.
func (s *setup) preload(ctx context.Context, logger *slog.Logger, plan []suite.Workload, opts suite.Options) error {
	client := load.NewClient(4, opts.RequestTimeout)
	defer client.CloseIdleConnections()
	if s.distSkip == "" && wants(plan, suite.DistGetLin) {
		logger.Info("preloading through the distributor", "keys", opts.Keys)
		if err := load.Preload(ctx, client, s.distURL(), distReads, opts.Keys, opts.ValueSize); err != nil {
			s.distSkip = "preload through the distributor failed: " + firstLine(err.Error())
			logger.Warn("skipping the distributor rows", "error", err)
		}
	}
	if wants(plan, suite.NodeGetNone) {
		logger.Info("preloading shard 0", "keys", opts.Keys, "leader", s.leader.ID)
		if err := load.Preload(ctx, client, s.leader.URL(), nodeReads, opts.Keys, opts.ValueSize); err != nil {
			return err
		}
		last := string(load.AppendReadKey(nil, nodeReads, opts.Keys-1))
		if err := s.cl.WaitKey(ctx, s.follower, last); err != nil {
			return err
		}
	}
	return nil
}

// endpoints are where each workload's requests go.
func (s *setup) endpoints() map[string]suite.Endpoint {
	return map[string]suite.Endpoint{
		suite.DistSetOneShard: {URL: s.oneShardURL(), Skip: s.oneShardSkip},
		suite.DistSet:         {URL: s.distURL(), Skip: s.distSkip},
		suite.NodeSet:         {URL: s.leader.URL()},
		suite.DistGetLin:      {URL: s.distURL(), ReadPrefix: distReads, Skip: s.distSkip},
		suite.NodeGetNone:     {URL: s.follower.URL(), ReadPrefix: nodeReads},
		suite.Hello:           {URL: s.helloURL, Skip: s.helloSkip},
	}
}
