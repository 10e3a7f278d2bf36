// Package sourcetest serves Git repositories to tests the way Git hosts
// do, with the real git http-backend (smart HTTP).
package sourcetest

import (
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// HTTPBackend returns git http-backend as a handler for the repositories
// below root: the URL path /org/repo.git serves root/org/repo.git. Pushes
// are accepted where the repository sets http.receivepack=true. The
// handler does no authentication; wrap it for that. tb is skipped when
// git is not installed.
func HTTPBackend(tb testing.TB, root string) http.Handler {
	tb.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		tb.Skip("git is not installed")
	}
	return &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=tidegate"},
	}
}

// Stall is a Git HTTP server that stops sending in the middle of a pack.
type Stall struct {
	backend http.Handler
	after   int
	once    sync.Once
	stalled chan struct{}
}

// StallingBackend is HTTPBackend, except that every git-upload-pack
// answer (the pack of a clone or fetch) stops after its first after bytes
// and then sends nothing until the client hangs up, like a Git server
// that hangs mid-transfer. The ref advertisement is served in full.
func StallingBackend(tb testing.TB, root string, after int) *Stall {
	return &Stall{backend: HTTPBackend(tb, root), after: after, stalled: make(chan struct{})}
}

// Stalled is closed once a pack transfer has stalled.
func (s *Stall) Stalled() <-chan struct{} { return s.stalled }

func (s *Stall) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
		s.backend.ServeHTTP(w, r)
		return
	}
	cw := &cutWriter{ResponseWriter: w, left: s.after}
	s.backend.ServeHTTP(cw, r)
	if cw.left > 0 {
		return // the whole pack was smaller than after
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.once.Do(func() { close(s.stalled) })
	<-r.Context().Done()
}

// cutWriter passes the first left bytes on and swallows the rest.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.left <= 0 {
		return len(p), nil
	}
	n := min(len(p), c.left)
	c.left -= n
	if _, err := c.ResponseWriter.Write(p[:n]); err != nil {
		return 0, err
	}
	return len(p), nil
}
