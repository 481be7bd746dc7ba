package store

import (
	"context"
	"io"
	"log/slog"

	"github.com/hashicorp/go-hclog"
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
	s.l.Log(ctx, lvl, msg, append(args, "component", name)...)
}
