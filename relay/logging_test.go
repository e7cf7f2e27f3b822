package relay

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestBrokerLogHandlerDemotesEmptyMessages(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(brokerLogHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})})
	log.Warn("", "error", "EOF")
	log.Warn("error processing packet", "client", "c1")
	if out := buf.String(); strings.Contains(out, "EOF") || !strings.Contains(out, "error processing packet") {
		t.Errorf("at info level got %q", out)
	}
	buf.Reset()
	log = slog.New(brokerLogHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})})
	log.Warn("", "error", "EOF")
	if out := buf.String(); !strings.Contains(out, `level=DEBUG msg="connection ended" error=EOF`) {
		t.Errorf("at debug level got %q", out)
	}
}
