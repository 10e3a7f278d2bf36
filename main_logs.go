package main

import (
	"bytes"
	"log"
	"log/slog"
	"regexp"
	"sync"

	sopslogging "github.com/getsops/sops/v3/logging"
)

// routeLibraryLogs sends what libraries log on their own through the
// run's logger: sops logs through logrus and kustomize through the
// standard log package, both straight to os.Stderr, which would bypass
// the scrubbing of decrypted values and break "every stderr line is
// JSON" under -o json. Like klog, they are process-wide, so this is done
// once per run from main, and undone when the run ends.
func routeLibraryLogs(logger *slog.Logger) (restore func()) {
	// ansi matches the colour codes sops' formatter adds on a terminal.
	w := &lineLogger{log: logger, ansi: regexp.MustCompile(`\x1b\[[0-9;]*m`)}
	prevOut, prevFlags := log.Writer(), log.Flags()
	log.SetOutput(w)
	log.SetFlags(0)
	for _, l := range sopslogging.Loggers {
		l.SetOutput(w)
	}
	return func() {
		log.SetOutput(prevOut)
		log.SetFlags(prevFlags)
		for _, l := range sopslogging.Loggers {
			l.SetOutput(prevOut)
		}
	}
}

// lineLogger turns each line a library writes into one warning: these
// libraries log only what they think a user should see.
type lineLogger struct {
	mu   sync.Mutex
	log  *slog.Logger
	ansi *regexp.Regexp
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, line := range bytes.Split(p, []byte("\n")) {
		if line = bytes.TrimSpace(w.ansi.ReplaceAll(line, nil)); len(line) > 0 {
			w.log.Warn(string(line), "from", "library")
		}
	}
	return len(p), nil
}
