package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tidegate/tidegate/internal/sopstest"
	"github.com/tidegate/tidegate/notify"
)

// Canaries: each is encrypted in the test repository and must never be
// seen in any output channel, raw or in base64.
const (
	canarySecret    = "canary-secret-Hq3Zt9"    // a Secret's value, copied by kustomize replacements into a ConfigMap
	canaryConfig    = "canary-configmap-Wm4Kp2" // a SOPS-encrypted ConfigMap
	canaryTyped     = "canary-typed-Rb7Nc5"     // its type:str edited to type:int
	canaryMAC       = "canary-mac-Jx2Vf8"       // decrypts, but the MAC does not match
	canaryLastMod   = "canary-lastmod-Pd6Yg1"   // lastmodified removed
	canaryKustomize = "canary-kustomize-Lt5Qe3" // dumped by a kustomize error
	canaryNext      = "canary-next-Ua8Ws4"      // the ConfigMap's next value; the live one is the old
)

var canaries = []string{canarySecret, canaryConfig, canaryTyped, canaryMAC, canaryLastMod, canaryKustomize, canaryNext}

// channels records everything one or more runs sent anywhere.
type channels struct {
	mu    sync.Mutex
	named map[string]*bytes.Buffer
}

func (c *channels) add(name, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.named == nil {
		c.named = map[string]*bytes.Buffer{}
	}
	if c.named[name] == nil {
		c.named[name] = &bytes.Buffer{}
	}
	c.named[name].WriteString(text + "\n")
}

// leaks lists every canary form found in any channel.
func (c *channels) leaks(cs ...string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name, b := range c.named {
		for _, can := range cs {
			for _, form := range []string{can, base64.StdEncoding.EncodeToString([]byte(can))} {
				if strings.Contains(b.String(), form) {
					out = append(out, fmt.Sprintf("%s carries %s", name, form))
				}
			}
		}
	}
	return out
}

func (c *channels) text(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.named[name]; b != nil {
		return b.String()
	}
	return ""
}

// hostileRepo writes a repository whose SOPS files hold the canaries,
// for an age key it returns (its AGE-SECRET-KEY text).
func hostileRepo(t *testing.T, ns string) (dir, key string) {
	t.Helper()
	id := sopstest.NewAgeKey(t)
	r := id.Recipient().String()
	enc := func(plain string) string { return string(sopstest.EncryptYAML(t, r, []byte(plain))) }
	secret := func(name, value string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\nstringData:\n  password: " + value + "\n"
	}
	sopsCM := func(value string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sops-cm\n  namespace: " + ns + "\ndata:\n  token: " + value + "\n  pin: \"7\"\n"
	}
	typed := enc(secret("typed", canaryTyped))
	typed = strings.Replace(typed, ",type:str]", ",type:int]", 1)
	mac := strings.Replace(enc(secret("mac", canaryMAC)), "name: mac", "name: mac-edited", 1)
	lastmod := regexp.MustCompile(`(?m)^\s+lastmodified:.*\n`).ReplaceAllString(enc(secret("lastmod", canaryLastMod)), "")
	mk, err := sopsage.MasterKeyFromRecipient(r)
	if err != nil {
		t.Fatal(err)
	}
	dump := string(sopstest.Encrypt(t, mk, formats.Yaml, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels:\n    team: "+canaryKustomize+"\ndata:\n  k: v\n"), ""))

	dir = t.TempDir()
	files := map[string]string{
		"good/kustomization.yaml": "resources: [secret.yaml, sops-cm.yaml, clear.yaml, deploy.yaml]\n" +
			"replacements:\n- source: {kind: Secret, name: db, fieldPath: stringData.password}\n  targets:\n  - select: {kind: ConfigMap, name: clear}\n    fieldPaths: [data.copied]\n",
		"good/secret.yaml":                 enc(secret("db", canarySecret)),
		"good/sops-cm.yaml":                enc(sopsCM(canaryConfig)),
		"good/clear.yaml":                  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: clear\n  namespace: " + ns + "\ndata:\n  copied: placeholder\n",
		"good/deploy.yaml":                 "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: " + ns + "\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: registry.invalid/web:1.0.0\n",
		"next/kustomization.yaml":          "resources: [sops-cm.yaml]\n",
		"next/sops-cm.yaml":                enc(sopsCM(canaryNext)),
		"bad-typed/secret.yaml":            typed,
		"bad-mac/secret.yaml":              mac,
		"bad-lastmod/secret.yaml":          lastmod,
		"bad-kustomize/kustomization.yaml": "resources: [cm.yaml]\n",
		"bad-kustomize/cm.yaml":            dump,
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, id.String()
}

// hostileRun is one command run with every channel captured.
type hostileRun struct {
	t       *testing.T
	ch      *channels
	key     string
	hookURL string
	prom    string
}

func newHostileRun(t *testing.T, key string) *hostileRun {
	t.Helper()
	ch := &channels{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		ch.add("webhook", string(body))
	}))
	t.Cleanup(srv.Close)
	return &hostileRun{t: t, ch: ch, key: key, hookURL: srv.URL + "/hook", prom: filepath.Join(t.TempDir(), "tidegate.prom")}
}

// run runs cmd as main would, output being text or json, and records
// every channel under the given label. It returns the scrubbed error.
func (h *hostileRun) run(label, output string, cmd interface {
	Run(context.Context, *Globals) error
}, show bool) error {
	h.t.Helper()
	target, err := notify.ParseTarget("json=" + h.hookURL)
	if err != nil {
		h.t.Fatal(err)
	}
	kc := filepath.Join(h.t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, env.Kubeconfig, 0o600); err != nil {
		h.t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	g := &Globals{
		Kubeconfig: kc, Output: output, LogLevel: "debug", Stdout: &stdout, Stderr: &stderr,
		Getenv:      func(k string) string { return map[string]string{"SOPS_AGE_KEY": h.key}[k] },
		ReportFlags: ReportFlags{Notify: []notify.Target{target}, NotifyOn: "always", MetricsFile: h.prom},
		SecretFlags: SecretFlags{ShowSecrets: show},
		Start:       time.Now(),
	}
	g.Sinks = append([]Sink{SinkFunc(func(_ context.Context, s Summary) error {
		h.ch.add("summary", fmt.Sprintf("%+v", s))
		if s.Err != nil {
			h.ch.add("summary", s.Err.Error())
		}
		return nil
	})}, g.ReportSinks()...)
	err = cmd.Run(context.Background(), g)
	g.Finish(label, err)
	err = g.ScrubError(err)
	if err != nil {
		h.ch.add("error", label+": "+err.Error())
		// main prints the error on stderr
		fmt.Fprintln(&stderr, "tidegate:", err)
	}
	h.ch.add("stdout", stdout.String())
	h.ch.add("stderr", stderr.String())
	if m, err := os.ReadFile(h.prom); err == nil {
		h.ch.add("metrics", string(m))
	}
	return err
}

func srcFlags(dir string, paths ...string) SourceFlags {
	return SourceFlags{Source: dir, Path: paths}
}

// TestHostileSecretCanaries drives every command that renders over a
// repository of SOPS files holding canaries, good and tampered, and
// greps every channel (stdout, stderr and logs at debug, JSON, the
// summary handed to GitHub Actions, webhook payloads, the metrics file)
// for each canary, raw and base64.
func TestHostileSecretCanaries(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	dir, key := hostileRepo(t, ns)
	h := newHostileRun(t, key)
	inv := InventoryFlags{InventoryNamespace: ns, InventoryName: "hostile", InventoryKind: "ConfigMap"}
	plan := PlanFlags{Prune: true, MaxPruneShare: 0.5, Concurrency: 4}
	reconcile := func(paths ...string) *ReconcileCmd {
		return &ReconcileCmd{SourceFlags: srcFlags(dir, paths...), InventoryFlags: inv, PlanFlags: plan, Drift: "revert", Timeout: time.Minute, Lease: true, LeaseTTL: time.Minute}
	}
	check := func(paths ...string) *CheckCmd {
		return &CheckCmd{SourceFlags: srcFlags(dir, paths...), InventoryFlags: inv, PlanFlags: plan, Lease: true, SkipImages: true}
	}
	bad := []string{"bad-typed", "bad-mac", "bad-lastmod", "bad-kustomize"}

	for _, out := range []string{"text", "json"} {
		if err := h.run("render", out, &RenderCmd{SourceFlags: srcFlags(dir, "good")}, false); err != nil {
			t.Fatalf("render good (%s): %v", out, err)
		}
		if err := h.run("workloads list", out, &WorkloadsListCmd{SourceFlags: srcFlags(dir, "good")}, false); err != nil {
			t.Fatalf("workloads list (%s): %v", out, err)
		}
		if err := h.run("check", out, check("good"), false); err != nil {
			t.Fatalf("check good (%s): %v", out, err)
		}
		if err := h.run("diff", out, &DiffCmd{SourceFlags: srcFlags(dir, "good"), InventoryFlags: inv, PlanFlags: plan}, false); Code(err) != ExitChanges {
			t.Fatalf("diff on an empty namespace (%s): exit %d: %v", out, Code(err), err)
		}
		dry := reconcile("good")
		dry.DryRun, dry.Wait = true, false
		if err := h.run("reconcile", out, dry, false); err != nil {
			t.Fatalf("reconcile --dry-run (%s): %v", out, err)
		}
		for _, p := range bad {
			if err := h.run("render", out, &RenderCmd{SourceFlags: srcFlags(dir, p)}, false); err == nil {
				t.Errorf("render %s succeeded", p)
			} else if p != "bad-kustomize" && !strings.Contains(err.Error(), "re-encrypt the file with sops") {
				t.Errorf("render %s: %v, want the re-encrypt hint", p, err)
			}
			if err := h.run("check", out, check(p), false); err == nil {
				t.Errorf("check %s succeeded", p)
			}
			if err := h.run("diff", out, &DiffCmd{SourceFlags: srcFlags(dir, p), InventoryFlags: inv, PlanFlags: plan}, false); Code(err) != ExitFailure {
				t.Errorf("diff %s: exit %d: %v", p, Code(err), err)
			}
			c := reconcile(p)
			c.Wait = false
			if err := h.run("reconcile", out, c, false); err == nil {
				t.Errorf("reconcile %s succeeded", p)
			}
		}
	}
	// Apply, then change the SOPS ConfigMap's value and drift it by hand:
	// the diffs' live side holds the old value, which this run never
	// decrypted, and is masked by provenance.
	c := reconcile("good")
	c.Wait = false
	if err := h.run("reconcile", "text", c, false); err != nil {
		t.Fatalf("reconcile good: %v", err)
	}
	sec, err := env.Client().CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{})
	if err != nil || string(sec.Data["password"]) != canarySecret {
		t.Fatalf("the canary Secret was not applied decrypted (%v): the test would prove nothing", err)
	}
	if cm, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, "clear", metav1.GetOptions{}); err != nil || cm.Data["copied"] != canarySecret {
		t.Fatalf("kustomize replacements did not copy the canary into the ConfigMap (%v)", err)
	}
	for _, out := range []string{"text", "json"} {
		next := &DiffCmd{SourceFlags: srcFlags(dir, "next"), InventoryFlags: inv, PlanFlags: PlanFlags{Prune: false, Concurrency: 4}}
		if err := h.run("diff", out, next, false); Code(err) != ExitChanges {
			t.Fatalf("diff next (%s): exit %d: %v", out, Code(err), err)
		}
	}
	if !strings.Contains(h.ch.text("stdout"), "(changed)") {
		t.Errorf("the diff does not say the SOPS ConfigMap's value changed:\n%s", h.ch.text("stdout"))
	}
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Patch(ctx, "sops-cm", types.MergePatchType, []byte(`{"data":{"token":"`+canaryConfig+`-hand"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	report := reconcile("good")
	report.Drift, report.Wait = "report", false
	if err := h.run("reconcile", "text", report, false); Code(err) != ExitChanges {
		t.Fatalf("--drift=report: exit %d: %v", Code(err), err)
	}
	if err := h.run("images update", "text", &ImagesUpdateCmd{SourceFlags: srcFlags(dir, "good"), DryRun: true}, false); err != nil && Code(err) != ExitChanges {
		t.Logf("images update: %v", err) // it reads no SOPS file; only its channels matter here
	}

	// The runs really carried the canaries' files: the outputs name them.
	for _, want := range []string{"sops-cm", "bad-typed/secret.yaml", "stringData.password", "bad-mac/secret.yaml", "bad-lastmod/secret.yaml", "lastmodified", "missing metadata.name", "drifted"} {
		if !strings.Contains(h.ch.text("stdout")+h.ch.text("stderr"), want) {
			t.Errorf("no output mentions %q", want)
		}
	}
	// A value too short to scrub from text is masked by provenance.
	if o := h.ch.text("stdout"); strings.Contains(o, `pin: "7"`) || strings.Contains(o, `"pin": "7"`) || strings.Contains(o, "pin: \"Nw==\"") {
		t.Errorf("the short SOPS value shows on stdout")
	}
	if !strings.Contains(h.ch.text("webhook"), "tidegate reconcile") || !strings.Contains(h.ch.text("metrics"), "tidegate_run_success") {
		t.Error("the webhook or the metrics file was not written: their check proves nothing")
	}
	for _, l := range h.ch.leaks(canaries...) {
		t.Error(l)
	}
	// …and the outputs are still readable: only the values are masked.
	for _, want := range []string{"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n", "kind: ConfigMap\nmetadata:\n  name: sops-cm\n", "pin: '*** (redacted)'", "copied: '*** (redacted)'", "kind: Deployment\nmetadata:\n  name: web\n", "+  token: '*** (redacted) (changed)'"} {
		if !strings.Contains(h.ch.text("stdout"), want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if t.Failed() {
		for name, b := range h.ch.named {
			if strings.Contains(name, "stdout") || strings.Contains(name, "stderr") {
				t.Logf("--- %s ---\n%s", name, b)
			}
		}
	}
}

// TestHostileSecretShowSecrets: --show-secrets prints decrypted values
// on stdout and nowhere else.
func TestHostileSecretShowSecrets(t *testing.T) {
	dir, key := hostileRepo(t, "show")
	h := newHostileRun(t, key)
	if err := h.run("render", "text", &RenderCmd{SourceFlags: srcFlags(dir, "good")}, true); err != nil {
		t.Fatal(err)
	}
	if err := h.run("render", "text", &RenderCmd{SourceFlags: srcFlags(dir, "bad-kustomize")}, true); err == nil {
		t.Fatal("render bad-kustomize succeeded")
	}
	out := h.ch.text("stdout")
	for _, c := range []string{canarySecret, canaryConfig} {
		if !strings.Contains(out, c) {
			t.Errorf("--show-secrets: stdout lacks %s:\n%s", c, out)
		}
	}
	delete(h.ch.named, "stdout")
	for _, l := range h.ch.leaks(canaries...) {
		t.Error(l)
	}
	if !strings.Contains(h.ch.text("stderr"), "missing metadata.name") {
		t.Errorf("stderr lacks the kustomize error:\n%s", h.ch.text("stderr"))
	}
}
