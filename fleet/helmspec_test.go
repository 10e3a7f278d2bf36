package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tidegate/tidegate/charts/chartstest"
	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/images/registrytest"
	"github.com/tidegate/tidegate/internal/plaintext"
	"github.com/tidegate/tidegate/internal/sopstest"
	"github.com/tidegate/tidegate/reconcile"
	"github.com/tidegate/tidegate/render"
)

// helloFiles are the hello chart's files, for a chart in Git.
func helloFiles(t *testing.T, under string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range []string{"Chart.yaml", "values.yaml", "values-prod.yaml", "templates/configmap.yaml", "templates/extra.yaml", "templates/hooks.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", "charts", "hello", f))
		if err != nil {
			t.Fatal(err)
		}
		out[under+"/"+f] = string(b)
	}
	return out
}

// TestFleetHelmReleasePostRenderers: spec.postRenderers' kustomize
// patches (a JSON 6902 patch with a target selector, a strategic merge
// patch) change the chart's objects and hooks before they are applied;
// the unit's own objects of the same kind are not touched.
func TestFleetHelmReleasePostRenderers(t *testing.T) {
	ns := env.Namespace(t)
	srv := newChartRepo(t, nil)
	srv.publish("0.1.0")
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
	r.write("apps/cm.yaml", configMap(ns, "outside", "mine"))
	r.write("apps/release.yaml", helmRepository(ns, "charts", srv.srv.URL, "")+"---\n"+helmRelease(ns, "hello", "*", `  postRenderers:
  - kustomize:
      patches:
      - target:
          kind: ConfigMap
        patch: |
          - op: add
            path: /metadata/labels
            value:
              patched: "yes"
      - patch: |
          apiVersion: v1
          kind: ConfigMap
          metadata:
            name: hello-greeting
          data:
            color: from-patch
`))
	rep, err := run(t, options(r, ns))
	if err != nil {
		logUnits(t, rep)
		t.Fatal(err)
	}
	for _, n := range []string{"hello-greeting", "hello-extra", "hello-pre-install"} {
		if l := configMapOf(t, ns, n).Labels["patched"]; l != "yes" {
			t.Errorf("%s: label patched %q, want yes", n, l)
		}
	}
	if c := configMapOf(t, ns, "hello-greeting").Data["color"]; c != "from-patch" {
		t.Errorf("strategic merge patch: color %q", c)
	}
	if l := configMapOf(t, ns, "outside").Labels["patched"]; l != "" {
		t.Errorf("the unit's own ConfigMap was patched by the release's post-renderer")
	}
	// The second run is the upgrade (install flips); the third writes
	// nothing: the patches give the same objects every time.
	for i := 2; i <= 3; i++ {
		if rep, err = run(t, options(r, ns)); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if rep.Changed() {
		t.Errorf("third run changed %v", actions(rep))
	}
	if l := configMapOf(t, ns, "hello-greeting").Labels["patched"]; l != "yes" {
		t.Errorf("after the upgrade: label patched %q", l)
	}
}

// TestFleetHelmReleaseValuesFiles: spec.chart.spec.valuesFiles replace
// the chart's values.yaml, merged in order, under valuesFrom and values;
// a missing file fails the release unless ignoreMissingValuesFiles.
func TestFleetHelmReleaseValuesFiles(t *testing.T) {
	ns := env.Namespace(t)
	srv := newChartRepo(t, nil)
	srv.publish("0.1.0")
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
	release := func(files string, extra string) {
		r.write("apps/release.yaml", helmRepository(ns, "charts", srv.srv.URL, "")+"---\n"+strings.Replace(helmRelease(ns, "hello", "*", extra), "        name: charts\n", "        name: charts\n      valuesFiles: "+files+"\n", 1))
	}
	release(`["values.yaml", "values-prod.yaml"]`, "  values:\n    color: inline\n")
	o := options(r, ns)
	if rep, err := run(t, o); err != nil {
		logUnits(t, rep)
		t.Fatal(err)
	}
	if d := configMapOf(t, ns, "hello-greeting").Data; d["greeting"] != "from-prod-file" || d["color"] != "inline" {
		t.Errorf("values files then inline values: %v", d)
	}

	release(`["values-prod.yaml", "values-missing.yaml"]`, "")
	rep, err := run(t, o)
	if err == nil {
		t.Fatal("a missing values file was accepted")
	}
	if reason := unit(rep, ns+"/apps").Reason; !strings.Contains(reason, "HelmRelease "+ns+"/hello (apps/release.yaml)") || !strings.Contains(reason, "spec.chart.spec.valuesFiles[1] values-missing.yaml") || !strings.Contains(reason, "ignoreMissingValuesFiles") {
		t.Errorf("reason %q", reason)
	}
	if d := configMapOf(t, ns, "hello-greeting").Data; d["color"] != "inline" {
		t.Errorf("the failed release changed its object: %v", d)
	}

	r.write("apps/release.yaml", strings.Replace(mustRead(t, filepath.Join(r.dir, "apps/release.yaml")), "      valuesFiles:", "      ignoreMissingValuesFiles: true\n      valuesFiles:", 1))
	if rep, err := run(t, o); err != nil {
		logUnits(t, rep)
		t.Fatal(err)
	}
	if d := configMapOf(t, ns, "hello-greeting").Data; d["greeting"] != "from-prod-file" || d["color"] != "prod-color" {
		t.Errorf("without the missing file: %v", d)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFleetHelmReleaseGitHTTP: a HelmRelease whose chart is a directory
// of a GitRepository served by git http-backend, its valuesFiles paths
// in that repository, as Flux reads them.
func TestFleetHelmReleaseGitHTTP(t *testing.T) {
	ns := env.Namespace(t)
	files := helloFiles(t, "charts/hello")
	files["env/prod.yaml"] = "greeting: from-the-repository\n"
	url := gitServer(t, files)
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
	r.write("apps/release.yaml", fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: chart-repo
  namespace: %[1]s
spec:
  interval: 5m
  url: %[2]s
  ref:
    branch: main
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: from-git
  namespace: %[1]s
spec:
  interval: 10m
  chart:
    spec:
      chart: ./charts/hello
      sourceRef:
        kind: GitRepository
        name: chart-repo
      valuesFiles:
      - charts/hello/values.yaml
      - env/prod.yaml
`, ns, url))
	o := options(r, ns, func(o *fleet.Options) { o.Sources = fleet.NetSources{} })
	rep, err := run(t, o)
	if err != nil {
		logUnits(t, rep)
		t.Fatal(err)
	}
	if d := configMapOf(t, ns, "from-git-greeting").Data; d["greeting"] != "from-the-repository" || d["chart"] != "0.1.0" {
		t.Errorf("chart from Git over HTTP: %v", d)
	}
	if a := actions(rep)[ns+"/apps ConfigMap/"+ns+"/from-git-extra"]; a != reconcile.Created {
		t.Errorf("from-git-extra: %q (all %v)", a, actions(rep))
	}
}

// TestFleetHelmReleaseSOPSValues: valuesFrom a Secret that is
// SOPS-encrypted in Git: the value reaches the applied object, and
// neither the report, its text, a diff of a change nor the log holds it.
func TestFleetHelmReleaseSOPSValues(t *testing.T) {
	const canary = "sops-canary-4d1e"
	ns := env.Namespace(t)
	srv := newChartRepo(t, nil)
	srv.publish("0.1.0")
	key := sopstest.NewAgeKey(t)
	secret := func(v string) string {
		return string(sopstest.EncryptYAML(t, key.Recipient().String(), []byte(fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: hello-values\n  namespace: %s\nstringData:\n  values.yaml: |\n    greeting: %s\n", ns, v))))
	}
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", "  decryption:\n    provider: sops\n"))
	r.write("apps/secret.yaml", secret(canary+"-one"))
	r.write("apps/release.yaml", helmRepository(ns, "charts", srv.srv.URL, "")+"---\n"+helmRelease(ns, "hello", "*", "  valuesFrom:\n  - kind: Secret\n    name: hello-values\n"))
	var logs bytes.Buffer
	o := options(r, ns, func(o *fleet.Options) {
		o.Run.Render = render.Options{Keys: render.Keys{Age: []string{key.String()}}, Plaintext: plaintext.New()}
		o.Run.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	rep, err := run(t, o)
	if err != nil {
		logUnits(t, rep)
		t.Fatal(err)
	}
	if g := configMapOf(t, ns, "hello-greeting").Data["greeting"]; g != canary+"-one" {
		t.Fatalf("greeting %q, want the SOPS Secret's", g)
	}
	if strings.Contains(mustRead(t, filepath.Join(r.dir, "apps/secret.yaml")), canary) {
		t.Fatal("the test's Secret is not encrypted")
	}
	r.write("apps/secret.yaml", secret(canary+"-two"))
	drep, err := diff(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if a := actions(drep)[ns+"/apps ConfigMap/"+ns+"/hello-greeting"]; a != reconcile.Configured {
		t.Errorf("diff of the changed Secret: %q", a)
	}
	var text strings.Builder
	for _, r := range []*reconcile.Report{rep, drep} {
		if err := r.WriteText(&text, true); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(r)
		text.Write(b)
	}
	if strings.Contains(text.String()+logs.String(), canary) {
		t.Errorf("a value of the SOPS Secret is in the output:\n%s", text.String())
	}
	if g := configMapOf(t, ns, "hello-greeting").Data["greeting"]; g != canary+"-one" {
		t.Errorf("diff wrote: greeting %q", g)
	}
}

// TestFleetHelmReleaseOCIDistribution: a HelmRepository of type oci on
// Debian's docker-registry with htpasswd auth, its credentials from the
// HelmRepository's secretRef.
func TestFleetHelmReleaseOCIDistribution(t *testing.T) {
	d := registrytest.StartDistribution(t, "charts", "dist-fleet-pw")
	ns := env.Namespace(t)
	c := newChartRepo(t, nil)
	for _, v := range []string{"0.1.0", "0.2.0"} {
		c.publish(v)
		archive, err := os.ReadFile(filepath.Join(c.dir, "hello-"+v+".tgz"))
		if err != nil {
			t.Fatal(err)
		}
		chartstest.PushOCI(t, d.Host, &authn.Basic{Username: d.User, Password: d.Pass}, "team/hello", v, archive)
	}
	if _, err := env.Client().CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "registry-creds", Namespace: ns},
		StringData: map[string]string{"username": d.User, "password": d.Pass},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
	r.write("apps/release.yaml", helmRepository(ns, "charts", "oci://"+d.Host+"/team", "  type: oci\n  secretRef:\n    name: registry-creds\n")+"---\n"+helmRelease(ns, "hello", "~0.1", ""))
	rep, err := run(t, options(r, ns))
	if err != nil {
		logUnits(t, rep)
		t.Fatal(err)
	}
	if v := configMapOf(t, ns, "hello-greeting").Data["chart"]; v != "0.1.0" {
		t.Errorf("chart %s, want 0.1.0 (~0.1)", v)
	}
	b, _ := json.Marshal(rep)
	if strings.Contains(string(b), d.Pass) {
		t.Error("the registry password is in the report")
	}
}

// TestFleetHelmReleaseCacheDir: with a cache directory the second run
// reads the chart archive from it (the index is still read, for the
// version and the digest), and a corrupted entry is fetched again.
func TestFleetHelmReleaseCacheDir(t *testing.T) {
	ns := env.Namespace(t)
	srv := newChartRepo(t, nil)
	srv.publish("0.1.0")
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
	r.write("apps/release.yaml", helmRepository(ns, "charts", srv.srv.URL, "")+"---\n"+helmRelease(ns, "hello", "*", ""))
	cache := filepath.Join(t.TempDir(), "charts")
	o := options(r, ns, func(o *fleet.Options) { o.ChartCacheDir = cache })
	for i := 1; i <= 2; i++ {
		if rep, err := run(t, o); err != nil {
			logUnits(t, rep)
			t.Fatalf("run %d: %v", i, err)
		}
		if n := srv.fetched(".tgz"); n != 1 {
			t.Errorf("run %d: %d archive requests, want 1", i, n)
		}
		if n := srv.fetched("/index.yaml"); n != i {
			t.Errorf("run %d: %d index requests, want %d", i, n, i)
		}
	}
	entries, _ := filepath.Glob(filepath.Join(cache, "sha256-*.tgz"))
	if len(entries) != 1 {
		t.Fatalf("cache entries %v", entries)
	}
	if err := os.WriteFile(entries[0], []byte("not a chart"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rep, err := run(t, o); err != nil {
		logUnits(t, rep)
		t.Fatalf("run with a corrupted cache entry: %v", err)
	}
	if n := srv.fetched(".tgz"); n != 2 {
		t.Errorf("a corrupted cache entry: %d archive requests, want 2", n)
	}
	if b, _ := os.ReadFile(entries[0]); string(b) == "not a chart" {
		t.Error("the corrupted entry was not replaced")
	}
}

// TestHostileHelmReleaseSpec: post-renderers, values files and the chart
// cache as an attacker would use them: refused naming the HelmRelease,
// its file and the entry, with nothing applied (or fetched), or kept to
// the release.
func TestHostileHelmReleaseSpec(t *testing.T) {
	t.Run("a post-renderer patch of an object outside the release", func(t *testing.T) {
		ns := env.Namespace(t)
		srv := newChartRepo(t, nil)
		srv.publish("0.1.0")
		r := newRepo(t)
		r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
		r.write("apps/cm.yaml", configMap(ns, "outside", "mine"))
		r.write("apps/release.yaml", helmRepository(ns, "charts", srv.srv.URL, "")+"---\n"+helmRelease(ns, "hello", "*", fmt.Sprintf(`  postRenderers:
  - kustomize:
      patches:
      - patch: |
          apiVersion: v1
          kind: ConfigMap
          metadata:
            name: outside
            namespace: %s
          data:
            value: stolen
`, ns)))
		rep, err := run(t, options(r, ns))
		if err == nil {
			t.Fatal("a patch of the unit's own object was accepted")
		}
		reason := unit(rep, ns+"/apps").Reason
		for _, w := range []string{"HelmRelease " + ns + "/hello (apps/release.yaml)", "spec.postRenderers[0].kustomize: patches[0]"} {
			if !strings.Contains(reason, w) {
				t.Errorf("reason %q does not say %q", reason, w)
			}
		}
		if exists(t, ns, "outside") || exists(t, ns, "hello-greeting") {
			t.Error("the failed unit applied objects")
		}
	})
	t.Run("a post-renderer target selector outside the release", func(t *testing.T) {
		ns := env.Namespace(t)
		other := env.Namespace(t)
		srv := newChartRepo(t, nil)
		srv.publish("0.1.0")
		r := newRepo(t)
		r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
		r.write("apps/cm.yaml", configMap(ns, "outside", "mine")+"---\n"+configMap(other, "elsewhere", "theirs"))
		r.write("apps/release.yaml", helmRepository(ns, "charts", srv.srv.URL, "")+"---\n"+helmRelease(ns, "hello", "*", fmt.Sprintf(`  postRenderers:
  - kustomize:
      patches:
      - target:
          kind: ConfigMap
          name: (outside|elsewhere)
        patch: |
          - op: replace
            path: /data/value
            value: stolen
      - target:
          namespace: %s
        patch: |
          - op: add
            path: /data/value
            value: stolen
`, other)))
		if rep, err := run(t, options(r, ns)); err != nil {
			logUnits(t, rep)
			t.Fatal(err)
		}
		if v := configMapOf(t, ns, "outside").Data["value"]; v != "mine" {
			t.Errorf("the unit's own object: %q", v)
		}
		if v := configMapOf(t, other, "elsewhere").Data["value"]; v != "theirs" {
			t.Errorf("an object in another namespace: %q", v)
		}
		if _, ok := configMapOf(t, ns, "hello-greeting").Data["value"]; ok {
			t.Error("a selector that matches no release object patched one")
		}
	})
	t.Run("a values file outside the chart", func(t *testing.T) {
		for _, p := range []string{"../x", "../../../../etc/passwd", "/etc/passwd", "templates/../../x"} {
			ns := env.Namespace(t)
			srv := newChartRepo(t, nil)
			srv.publish("0.1.0")
			r := newRepo(t)
			r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
			r.write("apps/cm.yaml", configMap(ns, "apps-cm", "1"))
			r.write("apps/release.yaml", helmRepository(ns, "charts", srv.srv.URL, "")+"---\n"+strings.Replace(helmRelease(ns, "hello", "*", ""), "        name: charts\n", "        name: charts\n      ignoreMissingValuesFiles: true\n      valuesFiles: ["+fmt.Sprintf("%q", p)+"]\n", 1))
			rep, err := run(t, options(r, ns))
			if err == nil {
				t.Fatalf("%s: accepted", p)
			}
			reason := unit(rep, ns+"/apps").Reason
			if !strings.Contains(reason, "HelmRelease "+ns+"/hello (apps/release.yaml)") || !strings.Contains(reason, "valuesFiles[0]") || !strings.Contains(reason, "leaves the chart") {
				t.Errorf("%s: reason %q", p, reason)
			}
			if got := srv.requests(); len(got) != 0 {
				t.Errorf("%s: the chart was fetched for a refused release: %d requests", p, len(got))
			}
			if exists(t, ns, "apps-cm") {
				t.Errorf("%s: the failed unit applied its objects", p)
			}
		}
	})
	t.Run("a values file of a Git chart outside the repository", func(t *testing.T) {
		ns := env.Namespace(t)
		r := newRepo(t)
		for f, c := range helloFiles(t, "charts/hello") {
			r.write(f, c)
		}
		secret := filepath.Join(t.TempDir(), "secret.yaml")
		if err := os.WriteFile(secret, []byte("greeting: from-outside\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// A link inside the repository to a file outside it.
		if err := os.Symlink(secret, filepath.Join(r.dir, "charts", "link.yaml")); err != nil {
			t.Fatal(err)
		}
		r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
		hr := strings.NewReplacer("chart: hello", "chart: ./charts/hello", "kind: HelmRepository", "kind: GitRepository", "name: charts", "name: flux-system\n      valuesFiles: [charts/link.yaml]").Replace(helmRelease(ns, "hello", "*", ""))
		r.write("apps/release.yaml", hr)
		rep, err := run(t, options(r, ns))
		if err == nil {
			t.Fatal("a values file linked outside the repository was read")
		}
		if reason := unit(rep, ns+"/apps").Reason; !strings.Contains(reason, "valuesFiles[0] charts/link.yaml") {
			t.Errorf("reason %q", reason)
		}
		if exists(t, ns, "hello-greeting") {
			t.Error("the chart's object was applied")
		}
	})
	t.Run("a cache entry with the wrong digest", func(t *testing.T) {
		ns := env.Namespace(t)
		srv := newChartRepo(t, nil)
		srv.publish("0.1.0")
		r := newRepo(t)
		r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
		r.write("apps/release.yaml", helmRepository(ns, "charts", srv.srv.URL, "")+"---\n"+helmRelease(ns, "hello", "*", ""))
		cache := t.TempDir()
		// A valid hello 0.1.0 whose values an attacker chose, filed under
		// the digest the index names for the real one.
		idx := mustRead(t, filepath.Join(srv.dir, "index.yaml"))
		at := strings.Index(idx, "digest: ")
		if at < 0 {
			t.Fatalf("no digest in the index:\n%s", idx)
		}
		digest := strings.Fields(idx[at+len("digest: "):])[0]
		ch, err := loader.LoadDir(filepath.Join("testdata", "charts", "hello"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range ch.Raw {
			if f.Name == "values.yaml" {
				f.Data = []byte("greeting: from-the-poisoned-cache\n")
			}
		}
		ch.Values["greeting"] = "from-the-poisoned-cache"
		evilDir := t.TempDir()
		evil, err := chartutil.Save(ch, evilDir)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(evil, filepath.Join(cache, "sha256-"+digest+".tgz")); err != nil {
			t.Fatal(err)
		}
		o := options(r, ns, func(o *fleet.Options) { o.ChartCacheDir = cache })
		if rep, err := run(t, o); err != nil {
			logUnits(t, rep)
			t.Fatal(err)
		}
		if g := configMapOf(t, ns, "hello-greeting").Data["greeting"]; g != "hi" {
			t.Errorf("greeting %q: the poisoned cache entry was used", g)
		}
		if n := srv.fetched(".tgz"); n != 1 {
			t.Errorf("%d archive requests: the entry with the wrong content was not fetched again", n)
		}
	})
}

// TestFleetHelmReleaseUpgrade: the first run installs (IsInstall), the
// next renders as helm upgrade because the release's objects are in the
// unit's inventory: an install-only template's object is pruned, as
// helm upgrade removes it, and the chart's CRD stays (spec.upgrade.crds
// unset keeps the install's policy). An explicit upgrade Skip, which
// would prune the CRD, is refused naming it.
func TestFleetHelmReleaseUpgrade(t *testing.T) {
	ns := env.Namespace(t)
	group := ns + ".tidegate.test"
	r := newRepo(t)
	r.write("charts/widgets/Chart.yaml", "apiVersion: v2\nname: widgets\nversion: 1.0.0\n")
	r.write("charts/widgets/crds/widgets.yaml", fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.%[1]s
spec:
  group: %[1]s
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`, group))
	r.write("charts/widgets/templates/mode.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-mode
data:
  mode: {{ if .Release.IsUpgrade }}upgrade{{ else }}install{{ end }}
{{- if .Release.IsInstall }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-first-install
data:
  note: rendered by helm install only
{{- end }}
`)
	r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
	release := func(extra string) {
		r.write("apps/release.yaml", strings.NewReplacer("chart: hello", "chart: ./charts/widgets", "kind: HelmRepository", "kind: GitRepository", "name: charts", "name: flux-system").Replace(helmRelease(ns, "w", "*", extra)))
	}
	release("")
	o := options(r, ns)
	crdName := "widgets." + group
	crdExists := func() bool {
		t.Helper()
		_, err := admin(t).Resource(crdGVR).Get(context.Background(), crdName, metav1.GetOptions{})
		return err == nil
	}
	t.Cleanup(func() { _ = admin(t).Resource(crdGVR).Delete(context.Background(), crdName, metav1.DeleteOptions{}) })

	rep, err := run(t, o)
	if err != nil {
		logUnits(t, rep)
		t.Fatal(err)
	}
	if m := configMapOf(t, ns, "w-mode").Data["mode"]; m != "install" || !exists(t, ns, "w-first-install") || !crdExists() {
		t.Fatalf("install: mode %q, first-install %v, CRD %v", m, exists(t, ns, "w-first-install"), crdExists())
	}

	rep, err = run(t, o)
	if err != nil {
		logUnits(t, rep)
		t.Fatal(err)
	}
	u := ns + "/apps"
	got := actions(rep)
	if got[u+" ConfigMap/"+ns+"/w-mode"] != reconcile.Configured || got[u+" ConfigMap/"+ns+"/w-first-install"] != reconcile.Deleted {
		t.Errorf("upgrade run: %v", got)
	}
	if m := configMapOf(t, ns, "w-mode").Data["mode"]; m != "upgrade" {
		t.Errorf("upgrade run: mode %q", m)
	}
	if exists(t, ns, "w-first-install") {
		t.Error("the install-only object is still there after the upgrade")
	}
	if !crdExists() {
		t.Fatal("the upgrade pruned the chart's CRD")
	}
	if rep, err = run(t, o); err != nil || rep.Changed() {
		t.Errorf("third run: %v, changed %v", err, actions(rep))
	}

	release("  upgrade:\n    crds: Skip\n")
	rep, err = run(t, o)
	if err == nil {
		t.Fatal("upgrade.crds Skip with the CRD in the inventory was accepted")
	}
	if reason := unit(rep, u).Reason; !strings.Contains(reason, "HelmRelease "+ns+"/w (apps/release.yaml)") || !strings.Contains(reason, "spec.upgrade.crds is Skip") || !strings.Contains(reason, crdName) {
		t.Errorf("reason %q", reason)
	}
	if !crdExists() || !exists(t, ns, "w-mode") {
		t.Error("the refused release pruned its objects")
	}
}
