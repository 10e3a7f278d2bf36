package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// pushgateway is a running Pushgateway process.
type pushgateway struct {
	url        string // http://127.0.0.1:port
	user, pass string
	logs       *lockedBuffer
}

// startPushgateway runs the Pushgateway on a free loopback port, keeping
// metrics in memory only. With a user, it requires basic authentication.
// It never uses the Debian package's service (port 9091): a system
// Pushgateway may or may not be running and holds other metrics. The test
// is skipped when the binary is missing, unless CI=true.
func startPushgateway(t *testing.T, user, pass string) *pushgateway {
	t.Helper()
	bin := ""
	// Debian's prometheus-pushgateway package, then an upstream install.
	for _, b := range []string{"/usr/bin/prometheus-pushgateway", "pushgateway"} {
		if p, err := exec.LookPath(b); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		msg := "prometheus-pushgateway is not installed (apt-get install prometheus-pushgateway; hack/ci-deps.sh installs it)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	args := []string{"--persistence.file=", "--log.level=warn"}
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(t.TempDir(), "web.yml")
		if err := os.WriteFile(cfg, fmt.Appendf(nil, "basic_auth_users:\n  %s: %s\n", user, hash), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--web.config.file="+cfg)
	}
	// The port is free when picked but may be taken before the Pushgateway
	// binds it; try again with another one.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		pg := &pushgateway{url: "http://" + addr, user: user, pass: pass, logs: &lockedBuffer{}}
		cmd := exec.Command(bin, append([]string{"--web.listen-address=" + addr}, args...)...)
		cmd.Stdout, cmd.Stderr = pg.logs, pg.logs
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-done
		}
		if lastErr = pg.waitReady(done); lastErr == nil {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("pushgateway output:\n%s", pg.logs.String())
				}
			})
			return pg
		}
		stop()
	}
	t.Fatalf("the Pushgateway did not start: %v", lastErr)
	return nil
}

func (pg *pushgateway) waitReady(done <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, pg.url+"/-/ready", nil)
		if pg.user != "" {
			req.SetBasicAuth(pg.user, pg.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		select {
		case <-done:
			return fmt.Errorf("exited: %s", pg.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready on %s: %v\n%s", pg.url, err, pg.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrape reads the Pushgateway's /metrics, as Prometheus would.
func (pg *pushgateway) scrape(t *testing.T) exposition {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, pg.url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if pg.user != "" {
		req.SetBasicAuth(pg.user, pg.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s %v\n%s", resp.Status, err, body)
	}
	return parseExposition(t, string(body))
}

// groupOf are the labels the Pushgateway adds to the series of r pushed
// with the default job and grouping (command and inventory are r's own).
func groupOf(Run) map[string]string {
	return map[string]string{"job": "tidegate", "instance": ""}
}

func TestPushReplacesGroup(t *testing.T) {
	pg := startPushgateway(t, "", "")
	ctx := context.Background()
	t0 := time.Unix(1_750_000_000, 500_000_000)

	first := sampleRun(t0)
	if err := Push(ctx, pg.url, "", nil, first, "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	e := pg.scrape(t)
	checkRun(t, e, first, "v1.0.0", groupOf(first), 1_750_000_013)
	if _, ok := e.value("push_time_seconds", map[string]string{"job": "tidegate", "instance": "", "command": "reconcile", "inventory": "default/tidegate"}); !ok {
		t.Errorf("no push_time_seconds for the group job=tidegate, command=reconcile, inventory=default/tidegate: %v", e.series("push_time_seconds"))
	}

	// A second successful run replaces the group: the pruned-orphan action
	// and the old revision's info series are gone.
	second := sampleRun(t0.Add(time.Hour))
	second.Objects = map[string]int{"unchanged": 46}
	second.Drifted, second.PendingBumps = 0, 0
	second.Revision = "fedcba"
	if err := Push(ctx, pg.url, "", nil, second, "v1.1.0"); err != nil {
		t.Fatal(err)
	}
	e = pg.scrape(t)
	secondEnd := 1_750_003_613.0
	checkRun(t, e, second, "v1.1.0", groupOf(second), secondEnd)

	// A failed run replaces everything but the last success.
	failed := sampleRun(t0.Add(2 * time.Hour))
	failed.Success = false
	failed.Objects = map[string]int{"failed": 2, "applied-before-failure": 1}
	failed.Revision = "badbad"
	if err := Push(ctx, pg.url, "", nil, failed, "v1.1.0"); err != nil {
		t.Fatal(err)
	}
	e = pg.scrape(t)
	checkRun(t, e, failed, "v1.1.0", groupOf(failed), secondEnd)

	// Another command is another group; it leaves reconcile's alone.
	images := Run{Command: "images update", Inventory: "default/tidegate", Success: true, Start: t0, Duration: time.Second, PendingBumps: 3, Revision: "abc"}
	if err := Push(ctx, pg.url, "", nil, images, "v1.1.0"); err != nil {
		t.Fatal(err)
	}
	e = pg.scrape(t)
	if v, ok := e.value("tidegate_image_bumps_pending", map[string]string{"job": "tidegate", "instance": "", "command": "images update", "inventory": "default/tidegate"}); !ok || v != 3 {
		t.Errorf("images update group: bumps = %v, %v; series %v", v, ok, e.series("tidegate_image_bumps_pending"))
	}
	if v, ok := e.value("tidegate_run_success", map[string]string{"job": "tidegate", "instance": "", "command": "reconcile", "inventory": "default/tidegate"}); !ok || v != 0 {
		t.Errorf("reconcile group changed by another command's push: success = %v, %v", v, ok)
	}
}

// TestPushGroupingEncoding pushes a grouping whose values the URL path
// cannot carry as they are: "/", spaces, "..", the empty string.
func TestPushGroupingEncoding(t *testing.T) {
	pg := startPushgateway(t, "", "")
	r := sampleRun(time.Unix(1_750_000_000, 0))
	r.Inventory = "team-a/tidegate"
	r.Command = "images update"
	grouping := map[string]string{
		"inventory": r.Inventory,
		"command":   r.Command,
		"cluster":   "prod/eu-west-1",
		"dots":      "..",
		"plain":     "abc-1.2_3",
		"unicode":   "ü?#%&=+",
		"empty":     "",
	}
	job := "ci/tidegate nightly"
	if err := Push(context.Background(), pg.url, job, grouping, r, "v1"); err != nil {
		t.Fatal(err)
	}
	e := pg.scrape(t)
	// The Pushgateway shows an empty value as label="" (Prometheus then
	// drops the label), like the instance="" it adds.
	checkRun(t, e, r, "v1", map[string]string{
		"job": job, "instance": "", "empty": "", "cluster": "prod/eu-west-1", "dots": "..", "plain": "abc-1.2_3", "unicode": "ü?#%&=+",
	}, 1_750_000_012.5)

	// The second push with the same grouping replaces, not adds.
	r.PendingBumps = 9
	if err := Push(context.Background(), pg.url, job, grouping, r, "v1"); err != nil {
		t.Fatal(err)
	}
	if got := pg.scrape(t).series("tidegate_image_bumps_pending"); len(got) != 1 || got[0].value != 9 {
		t.Errorf("after the second push: %+v", got)
	}
}

func TestPushBasicAuth(t *testing.T) {
	pg := startPushgateway(t, "tidegate", "s3cret-pass")
	r := sampleRun(time.Unix(1_750_000_000, 0))
	err := Push(context.Background(), strings.Replace(pg.url, "://", "://tidegate:wrong-pass@", 1), "", nil, r, "v1")
	if err == nil {
		t.Fatal("push with a wrong password succeeded")
	}
	if !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "check the user and password") {
		t.Errorf("error does not say to check the credentials: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-pass") {
		t.Errorf("error shows the password: %v", err)
	}

	if err := Push(context.Background(), strings.Replace(pg.url, "://", "://tidegate:s3cret-pass@", 1)+"/", "", nil, r, "v1"); err != nil {
		t.Fatal(err)
	}
	checkRun(t, pg.scrape(t), r, "v1", groupOf(r), 1_750_000_012.5)
}

func TestPushErrors(t *testing.T) {
	ctx := context.Background()
	r := sampleRun(time.Unix(1_750_000_000, 0))

	// Nothing listens here.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	blocked := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-blocked:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(blocked)

	var gotMethod, gotType, gotPath string
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotMethod, gotType, gotPath = r.Method, r.Header.Get("Content-Type"), r.URL.EscapedPath()
		http.Error(w, "pushed metrics are invalid or inconsistent with existing metrics", http.StatusBadRequest)
	}))
	defer fake.Close()

	for _, tc := range []struct {
		name     string
		url      string
		grouping map[string]string
		opts     []Option
		want     []string
	}{
		{name: "unreachable", url: "http://user:hunter2@" + closed + "/prefix?token=t0ps3cret",
			want: []string{"http://" + closed + "/prefix/metrics/job/tidegate/", "connection refused", "check that the URL is right"}},
		{name: "bad URL", url: "http://user:hunter2@host:port:x/", want: []string{"not a valid URL"}},
		{name: "not http", url: "ftp://user:hunter2@host/", want: []string{"ftp://host/", "not an http(s) URL"}},
		{name: "no scheme", url: "pushgateway:9091", want: []string{"not an http(s) URL"}},
		{name: "group path", url: "http://host:9091/metrics/job/x", want: []string{"give only its base URL"}},
		{name: "conflicting inventory", url: fake.URL, grouping: map[string]string{"inventory": "other/inv"}, want: []string{`inventory="other/inv" differs from the run's inventory "default/tidegate"`}},
		{name: "job in grouping", url: fake.URL, grouping: map[string]string{"job": "x"}, want: []string{"Push's job argument"}},
		{name: "bad label", url: fake.URL, grouping: map[string]string{"a-b": "x"}, want: []string{`"a-b" is not a valid Prometheus label name`}},
		{name: "reserved label", url: fake.URL, grouping: map[string]string{"__x": "x"}, want: []string{"not a valid Prometheus label name"}},
		{name: "timeout", url: "http://user:hunter2@" + strings.TrimPrefix(slow.URL, "http://"), opts: []Option{WithTimeout(100 * time.Millisecond)},
			want: []string{"did not answer within 100ms", "raise the timeout"}},
		{name: "rejected", url: fake.URL, want: []string{"400 Bad Request", "inconsistent with existing metrics", "check that nothing else pushes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Push(ctx, tc.url, "", tc.grouping, r, "v1", tc.opts...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, secret := range []string{"hunter2", "t0ps3cret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows a secret: %v", err)
				}
			}
		})
	}
	if gotMethod != http.MethodPut || gotType != "text/plain; version=0.0.4" || gotPath != "/metrics/job/tidegate/command/reconcile/inventory@base64/ZGVmYXVsdC90aWRlZ2F0ZQ" {
		t.Errorf("request %s %s (Content-Type %q)", gotMethod, gotPath, gotType)
	}

	// The timeout is a DeadlineExceeded; a canceled context is a Canceled.
	err = Push(ctx, slow.URL, "", nil, r, "v1", WithTimeout(50*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout error %v is not context.DeadlineExceeded", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := Push(cctx, slow.URL, "", nil, r, "v1"); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled push: %v", err)
	}

	// WithHTTPClient's client is the one used.
	used := false
	client := &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		used = true
		if u, p, ok := req.BasicAuth(); !ok || u != "me" || p != "pw" {
			t.Errorf("basic auth %q %q %v", u, p, ok)
		}
		if req.URL.User != nil {
			t.Errorf("user info left in the request URL %s", req.URL.Redacted())
		}
		if req.Method != http.MethodPost {
			t.Errorf("a failed run is pushed with %s, want POST", req.Method)
		}
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
	})}
	failed := r
	failed.Success = false
	if err := Push(ctx, "https://me:pw@gateway.example", "", nil, failed, "v1", WithHTTPClient(client)); err != nil || !used {
		t.Errorf("push through the given client: %v (used %v)", err, used)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestPathSegment(t *testing.T) {
	for value, want := range map[string]string{
		"reconcile":        "l/reconcile",
		"a.b-c_D9":         "l/a.b-c_D9",
		"":                 "l@base64/=",
		".":                "l@base64/Lg",
		"..":               "l@base64/Li4",
		"default/tidegate": "l@base64/ZGVmYXVsdC90aWRlZ2F0ZQ",
		"images update":    "l@base64/aW1hZ2VzIHVwZGF0ZQ",
		"??>":              "l@base64/Pz8-", // URL alphabet, not + and /
	} {
		if got := pathSegment("l", value); got != want {
			t.Errorf("pathSegment(%q) = %q, want %q", value, got, want)
		}
	}
}
