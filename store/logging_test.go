package store

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// TestRaftLogsAreReadable checks that raft's formatted log values come out
// of slog as text, not as the raw hclog.Format slice.
func TestRaftLogsAreReadable(t *testing.T) {
	var buf bytes.Buffer
	l := newRaftLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	l.Info("initial configuration", "index", 0, "servers", hclog.Fmt("%+v", []raft.Server{}))
	l.Info("updating configuration", "servers", hclog.Fmt("%+v", []raft.Server{
		{Suffrage: raft.Voter, ID: "node0", Address: "127.0.0.1:12000"},
		{Suffrage: raft.Nonvoter, ID: "node1", Address: "127.0.0.1:12001"},
	}))
	l.Info("progress", "percent-complete", hclog.Fmt("%0.2f%%", 12.5), "term", hclog.Hex(255))
	out := buf.String()
	for _, want := range []string{
		`servers=none`,
		`servers="node0 at 127.0.0.1:12000 (voter), node1 at 127.0.0.1:12001 (nonvoter)"`,
		`percent-complete=12.50%`,
		`term=0xff`,
		`component=raft`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "%+v") {
		t.Errorf("log shows an unexpanded format:\n%s", out)
	}
}
