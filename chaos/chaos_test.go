package chaos

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/kvraft/hraftd/internal/cluster"
)

func TestMain(m *testing.M) { cluster.Main(m) }

var (
	flagDuration = flag.Duration("chaos.duration", 40*time.Second, "how long TestChaosShort injects faults")
	flagVia      = flag.String("chaos.via", ViaDistributor, "where TestChaosShort's clients send requests: distributor or nodes")
	flagLevel    = flag.String("chaos.level", "linearizable", "the read level TestChaosShort's clients use")
)

// at builds a record from millisecond offsets, for the model tests.
func at(client int, in Input, out Output, oc Outcome, start, end int) Record {
	base := time.Unix(0, 0)
	return Record{Client: client, Input: in, Output: out, Outcome: oc,
		Start: base.Add(time.Duration(start) * time.Millisecond), End: base.Add(time.Duration(end) * time.Millisecond)}
}

func put(k, v string) Input { return Input{Op: OpPut, Key: k, Value: v} }
func del(k string) Input    { return Input{Op: OpDelete, Key: k} }
func get(k string) Input    { return Input{Op: OpGet, Key: k} }
func val(v string) Output   { return Output{Value: v, Found: true} }

var absent = Output{}

// TestModel pins the KV model and the modelling of unknown outcomes on
// small histories whose verdict is known, including ones that must fail:
// a checker that cannot fail proves nothing. (Long: a table, one line per
// history.)
func TestModel(t *testing.T) {
	tests := []struct {
		name string
		recs []Record
		want porcupine.CheckResult
	}{
		{"sequential put then get", []Record{
			at(0, put("a", "1"), Output{}, OK, 0, 10),
			at(1, get("a"), val("1"), OK, 20, 30),
		}, porcupine.Ok},
		{"missing key reads absent", []Record{
			at(0, get("a"), absent, OK, 0, 10),
		}, porcupine.Ok},
		{"stale read after an acknowledged put", []Record{
			at(0, put("a", "1"), Output{}, OK, 0, 10),
			at(0, put("a", "2"), Output{}, OK, 20, 30),
			at(1, get("a"), val("1"), OK, 40, 50),
		}, porcupine.Illegal},
		{"read of absent after an acknowledged put", []Record{
			at(0, put("a", "1"), Output{}, OK, 0, 10),
			at(1, get("a"), absent, OK, 20, 30),
		}, porcupine.Illegal},
		{"read of a value never written", []Record{
			at(0, get("a"), val("ghost"), OK, 0, 10),
		}, porcupine.Illegal},
		{"delete then absent", []Record{
			at(0, put("a", "1"), Output{}, OK, 0, 10),
			at(0, del("a"), Output{}, OK, 20, 30),
			at(1, get("a"), absent, OK, 40, 50),
		}, porcupine.Ok},
		{"concurrent put may or may not be seen", []Record{
			at(0, put("a", "1"), Output{}, OK, 0, 100),
			at(1, get("a"), absent, OK, 10, 20),
			at(2, get("a"), val("1"), OK, 30, 40),
		}, porcupine.Ok},
		{"reads may not go back in time", []Record{
			at(0, put("a", "1"), Output{}, OK, 0, 100),
			at(1, get("a"), val("1"), OK, 10, 20),
			at(2, get("a"), absent, OK, 30, 40),
		}, porcupine.Illegal},
		{"unknown put seen long after it gave up", []Record{
			at(0, put("a", "1"), Output{}, Unknown, 0, 10),
			at(1, get("a"), absent, OK, 20, 30),
			at(1, get("a"), val("1"), OK, 1000, 1010),
		}, porcupine.Ok},
		{"unknown put never seen", []Record{
			at(0, put("a", "1"), Output{}, Unknown, 0, 10),
			at(1, get("a"), absent, OK, 20, 30),
			at(1, get("a"), absent, OK, 40, 50),
		}, porcupine.Ok},
		{"unknown put cannot act before it started", []Record{
			at(1, get("a"), val("1"), OK, 0, 10),
			at(0, put("a", "1"), Output{}, Unknown, 20, 30),
		}, porcupine.Illegal},
		{"unknown delete may explain an absent read", []Record{
			at(0, put("a", "1"), Output{}, OK, 0, 10),
			at(0, del("a"), Output{}, Unknown, 20, 30),
			at(1, get("a"), absent, OK, 500, 510),
		}, porcupine.Ok},
		{"failed read says nothing", []Record{
			at(0, put("a", "1"), Output{}, OK, 0, 10),
			at(1, get("a"), Output{}, Failed, 20, 30),
		}, porcupine.Ok},
		{"a write that was never sent cannot be seen", []Record{
			at(0, put("a", "1"), Output{}, Failed, 0, 10),
			at(1, get("a"), val("1"), OK, 20, 30),
		}, porcupine.Illegal},
		{"keys are independent", []Record{
			at(0, put("a", "1"), Output{}, OK, 0, 10),
			at(1, put("b", "2"), Output{}, OK, 0, 10),
			at(2, get("a"), val("1"), OK, 20, 30),
			at(2, get("b"), val("2"), OK, 20, 30),
		}, porcupine.Ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Check(Operations(tt.recs, time.Unix(0, 0)), 10*time.Second)
			if res.Result != tt.want {
				t.Errorf("check = %s, want %s", res.Result, tt.want)
			}
		})
	}
}

// TestVisualize checks that a violation can be written out as HTML.
func TestVisualize(t *testing.T) {
	recs := []Record{
		at(0, put("a", "1"), Output{}, OK, 0, 10),
		at(1, get("a"), absent, OK, 20, 30),
	}
	res := Check(Operations(recs, time.Unix(0, 0)), 10*time.Second)
	if res.Result != porcupine.Illegal {
		t.Fatalf("check = %s, want Illegal", res.Result)
	}
	if err := Visualize(res, t.TempDir()+"/history.html"); err != nil {
		t.Fatal(err)
	}
}

// TestChaosShort is the short chaos run of `make test`: the real binaries,
// 2 shards × 3 nodes and a distributor, 8 clients, every fault kind, then
// the linearizability check, write-once keys, replica convergence and a
// whole-shard crash.
func TestChaosShort(t *testing.T) { chaosShort(t, false) }

// TestChaosShortSecure is the same run with TLS on every link (HTTPS
// APIs, mutual-TLS Raft) and -auth: failover, forwarding and the
// distributor's leader tracking must hold as well over TLS.
func TestChaosShortSecure(t *testing.T) { chaosShort(t, true) }

func chaosShort(t *testing.T, secure bool) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := DefaultConfig()
	cfg.Secure = secure
	cfg.Duration = *flagDuration
	cfg.Via = *flagVia
	cfg.ReadLevel = *flagLevel
	cfg.HoldMin, cfg.HoldMax = 1500*time.Millisecond, 3*time.Second
	cfg.Quiet = 500 * time.Millisecond
	cfg.CheckTimeout = time.Minute
	cfg.Dir = t.TempDir()
	cfg.Logf = t.Logf
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep.Summary())
	if !rep.OK() {
		t.Errorf("chaos run failed; artifacts in %s", rep.ArtifactsDir)
	}
	for _, k := range rep.Config.Faults {
		if rep.Faults[k] == 0 {
			t.Errorf("fault %s was never injected", k)
		}
	}
}
