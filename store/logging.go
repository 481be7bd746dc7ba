package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// newRaftLogger returns an hclog.Logger whose records go to l, so raft's
// own logs come out through the node's slog handler with the node's fields,
// in the node's format, instead of in hclog's separate format on stderr.
func newRaftLogger(l *slog.Logger) hclog.Logger {
	// The intercept logger writes its own output nowhere and hands every
	// record, already split into message and key/value pairs, to the sink.
	base := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name:   "raft",
		Output: io.Discard,
		Level:  hclogLevel(l),
	})
	base.RegisterSink(slogSink{l: l})
	return base
}

// hclogLevel picks the hclog level matching what l lets through, so raft
// does not build debug records that would be thrown away.
func hclogLevel(l *slog.Logger) hclog.Level {
	ctx := context.Background()
	switch {
	case l.Enabled(ctx, slog.LevelDebug):
		return hclog.Debug
	case l.Enabled(ctx, slog.LevelInfo):
		return hclog.Info
	case l.Enabled(ctx, slog.LevelWarn):
		return hclog.Warn
	default:
		return hclog.Error
	}
}

type slogSink struct{ l *slog.Logger }

// Accept receives every record the intercept logger sees, whatever its
// level, so it filters here.
func (s slogSink) Accept(name string, level hclog.Level, msg string, args ...any) {
	var lvl slog.Level
	switch level {
	case hclog.Trace, hclog.Debug:
		lvl = slog.LevelDebug
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		lvl = slog.LevelInfo
	case hclog.Warn:
		lvl = slog.LevelWarn
	default:
		lvl = slog.LevelError
	}
	ctx := context.Background()
	if !s.l.Enabled(ctx, lvl) {
		return
	}
	s.l.Log(ctx, lvl, msg, append(slogArgs(args), "component", name)...)
}

// slogArgs returns args with hclog's formatting wrappers (hclog.Fmt and
// friends) rendered as strings: hclog's own printer expands them, slog
// would print their raw contents, e.g. servers="[%+v [...]]".
func slogArgs(args []any) []any {
	out := make([]any, len(args), len(args)+2)
	for i, a := range args {
		switch v := a.(type) {
		case hclog.Format:
			out[i] = formatArg(v)
		case hclog.Hex:
			out[i] = fmt.Sprintf("0x%x", int(v))
		case hclog.Octal:
			out[i] = fmt.Sprintf("0%o", int(v))
		case hclog.Binary:
			out[i] = fmt.Sprintf("0b%b", int(v))
		default:
			out[i] = a
		}
	}
	return out
}

// formatArg renders an hclog.Fmt value. Raft logs its configuration as
// hclog.Fmt("%+v", servers); that one is written as a readable list of
// members instead of Go's struct syntax.
func formatArg(f hclog.Format) string {
	if len(f) == 0 {
		return ""
	}
	if servers, ok := f[len(f)-1].([]raft.Server); ok && len(f) == 2 {
		return serversString(servers)
	}
	format, ok := f[0].(string)
	if !ok {
		return fmt.Sprint(f...)
	}
	return fmt.Sprintf(format, f[1:]...)
}

// serversString writes a configuration's members as
// "node0 at 127.0.0.1:12000 (voter), ...", or "none".
func serversString(servers []raft.Server) string {
	if len(servers) == 0 {
		return "none"
	}
	parts := make([]string, len(servers))
	for i, srv := range servers {
		parts[i] = fmt.Sprintf("%s at %s (%s)", srv.ID, srv.Address, strings.ToLower(srv.Suffrage.String()))
	}
	return strings.Join(parts, ", ")
}
