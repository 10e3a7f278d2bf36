package main

import (
	"bytes"
	"encoding/json"
	"log"
	"log/slog"
	"strings"
	"testing"

	sopslogging "github.com/getsops/sops/v3/logging"
)

// TestLibraryLogsGoThroughTheRunLogger: a line sops or the standard log
// package writes comes out of the run's logger (JSON here), not raw on
// os.Stderr, and the routing is undone when the run ends.
func TestLibraryLogsGoThroughTheRunLogger(t *testing.T) {
	if len(sopslogging.Loggers) == 0 {
		t.Fatal("sops registered no loggers; the routing has nothing to route")
	}
	orig := log.Writer()
	t.Cleanup(func() { log.SetOutput(orig) })
	var buf bytes.Buffer
	restore := routeLibraryLogs(slog.New(slog.NewJSONHandler(&buf, nil)))
	log.Print("from the log package")
	for name, l := range sopslogging.Loggers {
		l.Warnf("from sops logger %s", name)
		break
	}
	restore()
	if log.Writer() != orig {
		t.Error("the log package still writes to the run's logger after the run")
	}

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{"from the log package", "from sops logger"} {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatalf("line %d is not JSON: %q", i+1, lines[i])
		}
		if msg, _ := rec["msg"].(string); !strings.Contains(msg, want) || strings.Contains(msg, "\x1b") {
			t.Errorf("line %d msg = %q, want it to hold %q without colour codes", i+1, msg, want)
		}
		if rec["level"] != "WARN" {
			t.Errorf("line %d level = %v, want WARN", i+1, rec["level"])
		}
	}
}
