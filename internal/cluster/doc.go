// Package cluster is the one launcher of real hraftd and distributor
// processes, for every test and tool that needs them (the process-level
// tests under test/, chaos, bench).
//
// It builds the binaries from this module (once per process), starts Raft
// groups of nodes and distributors on free 127.0.0.1 ports (never the
// seed's fixed ones, so it runs beside `make run` and beside itself),
// and kills, stops, pauses, resumes and restarts them. Each process writes
// its stdout and stderr to one log file, appended to across restarts.
// Every child runs in its own process group, so a Ctrl-C reaches only the
// launching program, which then stops the children; on Linux the kernel
// also kills every child when its parent dies (a test binary killed by
// its -timeout, a tool killed with -9), so nothing outlives the run.
//
// A secure cluster (Config.Secure, or HRAFTD_TEST_SECURE=1 for every
// cluster of a run) is all HTTPS with mutual TLS for Raft and -auth: Start
// makes a CA of its own, a certificate per process and a users file
// (Cluster.Security), and the launcher's client presents the admin
// certificate, so every wait and helper works the same on either kind;
// URLs say https://. Without it nothing differs from a plain cluster.
//
// Waits poll a condition with a deadline and fail at once, with the end of
// the process's log, when a process they depend on exits.
//
// Test wraps a Cluster for tests: it tears everything down in t.Cleanup,
// shows the logs' last lines when the test failed, and turns errors into
// t.Fatalf. A test package that uses it calls Main from its TestMain, so
// that the binaries built for the package are removed afterwards.
package cluster
