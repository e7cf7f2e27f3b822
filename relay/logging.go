package relay

import (
	"context"
	"log/slog"
)

// brokerLogHandler adapts mochi-mqtt's log lines to the relay's conventions.
// Mochi's TCP listener reports every connection that ends with an error —
// a client vanishing without DISCONNECT, or one the relay refused and has
// already logged — as a warning with an empty message. Those become debug
// lines with a message that says what happened.
type brokerLogHandler struct{ slog.Handler }

func (h brokerLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	// A warning may be demoted, so let it through to Handle and decide there.
	return h.Handler.Enabled(ctx, l) || h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h brokerLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "" {
		r.Message, r.Level = "connection ended", slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h brokerLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return brokerLogHandler{h.Handler.WithAttrs(as)}
}

func (h brokerLogHandler) WithGroup(name string) slog.Handler {
	return brokerLogHandler{h.Handler.WithGroup(name)}
}
