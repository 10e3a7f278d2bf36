// Package gitea runs a real Gitea server for tests: the forge tests open,
// update and close pull requests through its /api/v1 and push branches to
// it over HTTP, so the Gitea code path never talks to a fake.
//
// The binary is built once from source by hack/gitea.sh (Gitea v1.26.0,
// SQLite) into ~/.cache/tidegate-testenv/gitea-v1.26.0/gitea; TIDEGATE_GITEA
// points elsewhere. Tests skip with the command to run when it is absent.
// Each Start gets its own work directory, SQLite database and port, an
// admin user and an API token.
package gitea

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"testing"
	"time"
)

// Version is the Gitea release hack/gitea.sh builds.
const Version = "v1.26.0"

// Server is a running Gitea.
type Server struct {
	// URL is the web and API root, "http://127.0.0.1:PORT".
	URL string
	// User and Password are the admin's credentials; Token is an API token
	// with repository, issue and user write scopes.
	User, Password, Token string

	bin, dir, config string
}

// Binary returns the Gitea binary's path, or "" when it is not built.
func Binary() string {
	if p := os.Getenv("TIDEGATE_GITEA"); p != "" {
		return p
	}
	cache := os.Getenv("TIDEGATE_TESTENV_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return ""
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "tidegate-testenv")
	}
	p := filepath.Join(cache, "gitea-"+Version, "gitea")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// staticRoot is the Gitea module's source directory: a binary built
// without the bindata tag reads its templates and locales from there. It
// is in the module cache after hack/gitea.sh; otherwise it is downloaded.
func staticRoot() (string, error) {
	if p := os.Getenv("TIDEGATE_GITEA_STATIC"); p != "" {
		return p, nil
	}
	out, err := exec.Command("go", "mod", "download", "-json", "code.gitea.io/gitea@"+Version).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download code.gitea.io/gitea@%s (its templates and locales): %w", Version, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download code.gitea.io/gitea@%s gave no directory: %s", Version, out)
	}
	return mod.Dir, nil
}

// Start runs a Gitea server until the test ends. It skips the test when the
// binary is absent.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := Binary()
	if bin == "" {
		tb.Skip("gitea binary not found: run hack/gitea.sh (builds Gitea " + Version + " once) or set TIDEGATE_GITEA")
	}
	// The port is free when chosen and taken when Gitea binds it if
	// another process (a test API server, another Gitea) got there
	// first: that start is tried again on another port.
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var s *Server
		var stop func()
		if s, stop, err = start(bin, tb.TempDir()); err == nil {
			tb.Cleanup(stop)
			return s
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	tb.Fatal(err)
	return nil
}

// errPortTaken is a start that lost its port to another process.
var errPortTaken = errors.New("gitea's port was taken by another process")

func start(bin, dir string) (*Server, func(), error) {
	static, err := staticRoot()
	if err != nil {
		return nil, nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	s := &Server{
		URL: fmt.Sprintf("http://127.0.0.1:%d", port), User: "tidegate", Password: "tidegate-test-pw-1",
		bin: bin, dir: dir, config: filepath.Join(dir, "app.ini"),
	}
	runUser := "root"
	if u, err := user.Current(); err == nil {
		runUser = u.Username
	}
	root := ""
	if os.Geteuid() == 0 {
		root = "I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true\n"
	}
	ini := fmt.Sprintf(`APP_NAME = tidegate-test
RUN_MODE = prod
RUN_USER = %[1]s
WORK_PATH = %[2]s
%[5]s
[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[3]d
DOMAIN = 127.0.0.1
ROOT_URL = http://127.0.0.1:%[3]d/
OFFLINE_MODE = true
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false
STATIC_ROOT_PATH = %[4]s
APP_DATA_PATH = %[2]s/data

[database]
DB_TYPE = sqlite3
PATH = %[2]s/gitea.db

[repository]
ROOT = %[2]s/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = tidegate-test-secret-key
PASSWORD_HASH_ALGO = pbkdf2_hi

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[queue]
TYPE = channel

[indexer]
ISSUE_INDEXER_TYPE = db

[mailer]
ENABLED = false

[picture]
DISABLE_GRAVATAR = true

[cron]
ENABLED = false

[log]
MODE = file
LEVEL = Warn
ROOT_PATH = %[2]s/log
`, runUser, dir, port, static, root)
	if err := os.WriteFile(s.config, []byte(ini), 0o600); err != nil {
		return nil, nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "gitea.out"))
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, "web", "--config", s.config, "--work-path", dir)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GITEA_WORK_DIR="+dir, "HOME="+dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("start gitea: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	}
	fail := func(err error) (*Server, func(), error) {
		stop()
		out, _ := os.ReadFile(filepath.Join(dir, "gitea.out"))
		return nil, nil, fmt.Errorf("%w\ngitea output:\n%s", err, tail(out, 3000))
	}
	if err := s.waitReady(exited, filepath.Join(dir, "gitea.out")); err != nil {
		return fail(err)
	}
	if out, err := s.admin("user", "create", "--admin", "--username", s.User, "--password", s.Password,
		"--email", "tidegate@example.com", "--must-change-password=false"); err != nil {
		return fail(fmt.Errorf("gitea admin user create: %w: %s", err, out))
	}
	var tok struct {
		SHA1 string `json:"sha1"`
	}
	body := map[string]any{"name": "tidegate-test", "scopes": []string{"write:repository", "write:issue", "write:user", "write:organization"}}
	if err := s.do(http.MethodPost, "/api/v1/users/"+s.User+"/tokens", body, &tok, true); err != nil {
		return fail(fmt.Errorf("create token: %w", err))
	}
	s.Token = tok.SHA1
	return s, stop, nil
}

func (s *Server) waitReady(exited <-chan error, logPath string) error {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("gitea exited while starting: %v", err)
		default:
		}
		// Gitea logs a failed bind and may stay up without serving; what
		// answers on the port then is someone else.
		if out, _ := os.ReadFile(logPath); bytes.Contains(out, []byte("address already in use")) {
			return fmt.Errorf("%w (%s)", errPortTaken, s.URL)
		}
		resp, err := http.Get(s.URL + "/api/v1/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("gitea did not answer on %s within 3 minutes", s.URL)
}

func (s *Server) admin(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, append([]string{"admin"}, append(args, "--config", s.config, "--work-path", s.dir)...)...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "GITEA_WORK_DIR="+s.dir, "HOME="+s.dir)
	return cmd.CombinedOutput()
}

// CreateRepo creates an empty public repository owned by the admin and
// returns its clone URL (without credentials).
func (s *Server) CreateRepo(tb testing.TB, name string) string {
	tb.Helper()
	var repo struct {
		CloneURL string `json:"clone_url"`
	}
	if err := s.Do(http.MethodPost, "/api/v1/user/repos", map[string]any{"name": name, "default_branch": "main"}, &repo); err != nil {
		tb.Fatalf("create repository %s: %v", name, err)
	}
	return repo.CloneURL
}

// WaitPushed waits until Gitea has processed a push of branch to repo.
// Gitea handles pushes in a background queue: until the first one is
// processed the repository is "empty" and its pull request API answers
// 404, which a test that pushes and immediately asks would see.
func (s *Server) WaitPushed(tb testing.TB, repo, branch string) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var r struct {
			Empty bool `json:"empty"`
		}
		errRepo := s.Do(http.MethodGet, "/api/v1/repos/"+s.User+"/"+repo, nil, &r)
		errBranch := s.Do(http.MethodGet, "/api/v1/repos/"+s.User+"/"+repo+"/branches/"+url.PathEscape(branch), nil, nil)
		if errRepo == nil && errBranch == nil && !r.Empty {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("gitea did not process the push of %s to %s in 30s: %v %v", branch, repo, errRepo, errBranch)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// AuthURL returns the clone URL with the admin's token as credentials,
// for git push in test setup.
func (s *Server) AuthURL(cloneURL string) string {
	u, err := url.Parse(cloneURL)
	if err != nil {
		return cloneURL
	}
	u.User = url.UserPassword(s.User, s.Token)
	return u.String()
}

// Do sends an API request authenticated with the token; out, when not
// nil, receives the JSON response.
func (s *Server) Do(method, path string, body, out any) error {
	return s.do(method, path, body, out, false)
}

func (s *Server) do(method, path string, body, out any, basic bool) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if basic {
		req.SetBasicAuth(s.User, s.Password)
	} else {
		req.Header.Set("Authorization", "token "+s.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// NewToken creates another API token of the admin with the given scopes
// ("read:repository", "write:issue", ...), for permission tests.
func (s *Server) NewToken(tb testing.TB, name string, scopes ...string) string {
	tb.Helper()
	var tok struct {
		SHA1 string `json:"sha1"`
	}
	// Gitea creates tokens only with password authentication.
	if err := s.do(http.MethodPost, "/api/v1/users/"+s.User+"/tokens", map[string]any{"name": name, "scopes": scopes}, &tok, true); err != nil {
		tb.Fatalf("create token %s: %v", name, err)
	}
	return tok.SHA1
}

// CreateUser creates a user with write access to the admin's repository
// repo (empty: none), for reviewer and assignee tests.
func (s *Server) CreateUser(tb testing.TB, name, repo string) {
	tb.Helper()
	body := map[string]any{"username": name, "email": name + "@example.com", "password": name + "-password-1", "must_change_password": false}
	if err := s.do(http.MethodPost, "/api/v1/admin/users", body, nil, true); err != nil {
		tb.Fatalf("create user %s: %v", name, err)
	}
	if repo != "" {
		if err := s.Do(http.MethodPut, "/api/v1/repos/"+s.User+"/"+repo+"/collaborators/"+name, map[string]any{"permission": "write"}, nil); err != nil {
			tb.Fatalf("add collaborator %s: %v", name, err)
		}
	}
}
