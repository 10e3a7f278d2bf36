// Package sourcetest serves Git repositories to tests the way Git hosts
// do, with the real git http-backend (smart HTTP).
package sourcetest

import (
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
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
