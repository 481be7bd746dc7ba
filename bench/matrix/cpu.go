package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/kvraft/hraftd/bench/suite"
	"github.com/kvraft/hraftd/internal/cluster"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat. It is
// USER_HZ, which Linux fixes at 100 for everything it exports to user
// space whatever the kernel's internal HZ, so it can be a constant rather
// than sysconf(_SC_CLK_TCK), which would need cgo. One tick is 10 ms:
// coarse for one request, but over a 5 s row on two cores (~1000 ticks)
// it is within about 1%.
const userHZ = 100

// cpuMethod is the sentence under the CPU table.
const cpuMethod = "CPU: utime+stime from /proc/<pid>/stat (10 ms ticks) read right before and right after each measured window " +
	"(warmup and settle excluded), divided by the row's successful requests; load = the matrix process (the load generator), " +
	"leaders = each shard's leader when the cluster came up, followers = the other nodes; box busy = all that CPU ÷ (CPUs × window)."

// procGroups maps a CPU table group to the PIDs whose CPU it sums.
type procGroups map[string][]int

// clusterGroups sorts a cluster's processes (and the matrix itself) into
// the table's groups. Leaders are decided once, here: they do not change
// during a healthy benchmark, and asking again at every sample would add
// requests to the numbers being measured. Distributors and the hello
// server that are nil or not running are left out.
func clusterGroups(ctx context.Context, cl *cluster.Cluster, dists []*cluster.Distributor, hello *cluster.Proc) (procGroups, error) {
	g := procGroups{suite.CPULoad: {os.Getpid()}}
	leaders := map[*cluster.Node]bool{}
	for sh := range cl.Shards {
		nd, err := cl.WaitLeader(ctx, cl.Shards[sh]...)
		if err != nil {
			return nil, fmt.Errorf("find shard %d's leader: %w", sh, err)
		}
		leaders[nd] = true
	}
	for _, nd := range cl.Nodes() {
		pid := nd.PID()
		if pid == 0 {
			return nil, fmt.Errorf("node %s is not running", nd.ID)
		}
		group := suite.CPUFollowers
		if leaders[nd] {
			group = suite.CPULeaders
		}
		g[group] = append(g[group], pid)
	}
	for _, d := range dists {
		if d != nil && d.PID() != 0 {
			g[suite.CPUDistributor] = append(g[suite.CPUDistributor], d.PID())
		}
	}
	if hello != nil && hello.PID() != 0 {
		g[suite.CPUHello] = []int{hello.PID()}
	}
	return g, nil
}

// sample sums each group's CPU so far. Any unreadable process fails the
// whole sample: a group short of one process would report a wrong number
// rather than none.
func (g procGroups) sample() (suite.CPUTimes, error) {
	out := suite.CPUTimes{}
	for group, pids := range g {
		for _, pid := range pids {
			// The load group is this process, and with -engine wrk the
			// wrk children it has run and waited for, whose CPU the
			// kernel adds to its cutime and cstime.
			d, err := procCPU(pid, group == suite.CPULoad)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", group, err)
			}
			out[group] += d
		}
	}
	return out, nil
}

// cpuSampler is the suite.CPUSampler of a cluster's processes (see
// clusterGroups), or nil (no CPU table, no failure) when this is not Linux
// or the processes' /proc entries cannot be read.
func cpuSampler(ctx context.Context, logger *slog.Logger, cl *cluster.Cluster, dists []*cluster.Distributor, hello *cluster.Proc) suite.CPUSampler {
	if runtime.GOOS != "linux" {
		logger.Info("no CPU table: per-process CPU comes from Linux's /proc", "os", runtime.GOOS)
		return nil
	}
	g, err := clusterGroups(ctx, cl, dists, hello)
	if err == nil {
		_, err = g.sample() // fail now, once, rather than on every row
	}
	if err != nil {
		logger.Warn("no CPU table", "error", err)
		return nil
	}
	logger.Info("CPU groups", "pids", g)
	return g.sample
}

// procCPU is the CPU time (user + system, all threads) process pid has
// used since it started, with that of its waited-for children if
// children.
func procCPU(pid int, children bool) (time.Duration, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	ticks, err := parseStatTicks(string(b), children)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return ticksToDuration(ticks), nil
}

// parseStatTicks returns utime + stime from a /proc/<pid>/stat line, plus
// cutime + cstime (the CPU of waited-for children) if children. They are
// fields 14 to 17, counted from after the last ')': field 2, the command
// name in parentheses, may itself hold spaces and ')' (a process can name
// itself anything), so splitting the whole line on spaces would misnumber
// the fields.
func parseStatTicks(line string, children bool) (uint64, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, errors.New("no ')' closing the command name")
	}
	// After ')' come field 3 (state) onwards, so field n is rest[n-3].
	rest := strings.Fields(line[i+1:])
	fields := []int{14, 15}
	if children {
		fields = append(fields, 16, 17)
	}
	var total uint64
	for _, f := range fields {
		if len(rest) <= f-3 {
			return 0, fmt.Errorf("%d fields after the command name, want at least %d", len(rest), f-2)
		}
		v, err := strconv.ParseUint(rest[f-3], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("field %d: %w", f, err)
		}
		total += v
	}
	return total, nil
}

func ticksToDuration(ticks uint64) time.Duration {
	return time.Duration(ticks) * (time.Second / userHZ)
}
