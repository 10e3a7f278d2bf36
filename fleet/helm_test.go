package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	helmrepo "helm.sh/helm/v4/pkg/repo/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/charts/chartstest"
	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/images/registrytest"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/reconcile"
)

// chartRepo is a real Helm HTTP chart repository: the hello chart of
// testdata packaged with the SDK, an index.yaml made by the SDK's
// indexer, served over HTTP, every request recorded.
type chartRepo struct {
	t   *testing.T
	dir string
	srv *httptest.Server
	mu  sync.Mutex
	// auths are the Authorization headers received, "" for none;
	// paths the paths requested, in the same order.
	auths []string
	paths []string
}

func newChartRepo(t *testing.T, wrap func(http.Handler) http.Handler) *chartRepo {
	t.Helper()
	c := &chartRepo{t: t, dir: t.TempDir()}
	h := http.FileServer(http.Dir(c.dir))
	if wrap != nil {
		h = wrap(h)
	}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.auths = append(c.auths, r.Header.Get("Authorization"))
		c.paths = append(c.paths, r.URL.Path)
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// publish packages hello at version, without the templates named in
// drop, and rewrites the index.
func (c *chartRepo) publish(version string, drop ...string) {
	c.t.Helper()
	ch, err := loader.LoadDir(filepath.Join("testdata", "charts", "hello"))
	if err != nil {
		c.t.Fatal(err)
	}
	ch.Metadata.Version = version
	for _, d := range drop {
		for i, tpl := range ch.Templates {
			if tpl.Name == "templates/"+d {
				ch.Templates = append(ch.Templates[:i], ch.Templates[i+1:]...)
				break
			}
		}
	}
	if _, err := chartutil.Save(ch, c.dir); err != nil {
		c.t.Fatal(err)
	}
	idx, err := helmrepo.IndexDirectory(c.dir, "")
	if err != nil {
		c.t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(c.dir, "index.yaml"), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// fetched counts the requests for paths ending in suffix.
func (c *chartRepo) fetched(suffix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.paths {
		if strings.HasSuffix(p, suffix) {
			n++
		}
	}
	return n
}

// requests are the Authorization headers received so far.
func (c *chartRepo) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.auths...)
}

func helmRepository(ns, name, url, extra string) string {
	return fmt.Sprintf("apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  interval: 10m\n  url: %s\n%s", name, ns, url, extra)
}

// helmRelease is a HelmRelease of chart hello from HelmRepository
// charts; extra is more of its spec.
func helmRelease(ns, name, version, extra string) string {
	return fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: %s
  namespace: %s
spec:
  interval: 10m
  chart:
    spec:
      chart: hello
      version: %q
      sourceRef:
        kind: HelmRepository
        name: charts
%s`, name, ns, version, extra)
}

func configMapOf(t *testing.T, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := env.Client().CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ConfigMap %s/%s: %v", ns, name, err)
	}
	return cm
}

// kubeVersion is the test API server's version, what .Capabilities
// must say rather than the SDK's default.
func kubeVersion(t *testing.T) string {
	t.Helper()
	v, err := env.Client().Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	return v.GitVersion
}

func logUnits(t *testing.T, rep *reconcile.Report) {
	t.Helper()
	for _, u := range rep.Units {
		t.Logf("unit %s: %s %s", u.Name, u.Status, u.Reason)
	}
}

// TestFleetHelmRelease: a HelmRelease of a unit renders its chart from
// an HTTP chart repository into the unit: the highest version in the
// range, values over valuesFrom from a ConfigMap in Git, the release
// namespace on unnamespaced objects, install hooks applied and test
// hooks not; the HelmRelease itself is skipped. A second run writes
// nothing; a change of values configures (diff shows it first); a chart
// object edited in the cluster is drift; a chart version that drops a
// template prunes its object; suspend keeps the release, removal prunes
// it.
func TestFleetHelmRelease(t *testing.T) {
	ns := env.Namespace(t)
	srv := newChartRepo(t, nil)
	for _, v := range []string{"0.1.0", "0.2.0", "1.0.0"} {
		srv.publish(v)
	}
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
	r.write("apps/repository.yaml", helmRepository(ns, "charts", srv.srv.URL, ""))
	r.write("apps/values.yaml", fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello-values\n  namespace: %s\ndata:\n  values.yaml: |\n    color: blue\n    greeting: from-configmap\n", ns))
	release := func(greeting string) string {
		return helmRelease(ns, "hello", ">=0.1.0 <1.0.0", "  valuesFrom:\n  - kind: ConfigMap\n    name: hello-values\n  values:\n    greeting: "+greeting+"\n")
	}
	r.write("apps/release.yaml", release("hello"))
	o := options(r, ns)

	rep, err := run(t, o)
	if err != nil {
		logUnits(t, rep)
		t.Fatalf("first run: %v", err)
	}
	cm := configMapOf(t, ns, "hello-greeting")
	want := map[string]string{"greeting": "hello", "color": "blue", "chart": "0.2.0", "install": "true", "namespace": ns, "kube": kubeVersion(t)}
	if d := cmp.Diff(want, cm.Data); d != "" {
		t.Errorf("the chart's ConfigMap (-want +got):\n%s", d)
	}
	for _, name := range []string{"hello-extra", "hello-pre-install"} {
		configMapOf(t, ns, name)
	}
	if exists(t, ns, "hello-test") {
		t.Error("the chart's test hook was applied")
	}
	u := ns + "/apps"
	got := actions(rep)
	for k, want := range map[string]reconcile.Action{
		u + " ConfigMap/" + ns + "/hello-greeting":                       reconcile.Created,
		u + " ConfigMap/" + ns + "/hello-extra":                          reconcile.Created,
		u + " HelmRelease.helm.toolkit.fluxcd.io/" + ns + "/hello":       reconcile.Skipped,
		u + " HelmRepository.source.toolkit.fluxcd.io/" + ns + "/charts": reconcile.Skipped,
	} {
		if got[k] != want {
			t.Errorf("%s: %q, want %q (all: %v)", k, got[k], want, got)
		}
	}

	// The release's objects are in the inventory now: the next run
	// renders it as helm upgrade does, and the chart says so.
	rep, err = run(t, o)
	if err != nil {
		t.Fatalf("upgrade run: %v", err)
	}
	if a := actions(rep)[u+" ConfigMap/"+ns+"/hello-greeting"]; a != reconcile.Configured {
		t.Errorf("upgrade run: %q, want configured (all: %v)", a, actions(rep))
	}
	if i := configMapOf(t, ns, "hello-greeting").Data["install"]; i != "false" {
		t.Errorf(".Release.IsInstall on the second run: %q, want false", i)
	}
	rep, err = run(t, o)
	if err != nil {
		t.Fatalf("no-op run: %v", err)
	}
	if rep.Changed() {
		t.Fatalf("no-op run changed objects: %v", actions(rep))
	}

	r.write("apps/release.yaml", release("changed"))
	rep, err = diff(t, o)
	if err != nil {
		t.Fatalf("diff: %v", err)
	}
	if a := actions(rep)[u+" ConfigMap/"+ns+"/hello-greeting"]; a != reconcile.Configured {
		t.Errorf("diff of changed values: %q, want configured", a)
	}
	if g := configMapOf(t, ns, "hello-greeting").Data["greeting"]; g != "hello" {
		t.Errorf("diff wrote: greeting %q", g)
	}
	rep, err = run(t, o)
	if err != nil {
		t.Fatalf("values run: %v", err)
	}
	if a := actions(rep)[u+" ConfigMap/"+ns+"/hello-greeting"]; a != reconcile.Configured {
		t.Errorf("changed values: %q, want configured", a)
	}
	if g := configMapOf(t, ns, "hello-greeting").Data["greeting"]; g != "changed" {
		t.Errorf("greeting %q after the change", g)
	}

	// A chart object changed in the cluster is drift, reported and
	// left alone under --drift=report.
	live := configMapOf(t, ns, "hello-greeting")
	live.Data["greeting"] = "edited-by-hand"
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Update(context.Background(), live, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	report := o
	report.Run.Drift = reconcile.DriftReport
	rep, err = run(t, report)
	if err == nil || unit(rep, u).Status != reconcile.UnitDrifted {
		t.Fatalf("drifted chart object: unit %q, error %v", unit(rep, u).Status, err)
	}
	if g := configMapOf(t, ns, "hello-greeting").Data["greeting"]; g != "edited-by-hand" {
		t.Errorf("--drift=report wrote: greeting %q", g)
	}
	if _, err = run(t, o); err != nil {
		t.Fatalf("revert run: %v", err)
	}
	if g := configMapOf(t, ns, "hello-greeting").Data["greeting"]; g != "changed" {
		t.Errorf("--drift=revert left greeting %q", g)
	}

	srv.publish("0.3.0", "extra.yaml")
	rep, err = run(t, o)
	if err != nil {
		t.Fatalf("new chart version run: %v", err)
	}
	got = actions(rep)
	if got[u+" ConfigMap/"+ns+"/hello-extra"] != reconcile.Deleted || got[u+" ConfigMap/"+ns+"/hello-greeting"] != reconcile.Configured {
		t.Errorf("0.3.0 without extra.yaml: %v", got)
	}
	if exists(t, ns, "hello-extra") {
		t.Error("the object of the dropped template is still there")
	}
	if c := configMapOf(t, ns, "hello-greeting").Data["chart"]; c != "0.3.0" {
		t.Errorf("chart version %q, want 0.3.0", c)
	}

	// Suspended, the release is left as it is: its objects are not
	// pruned though its chart is no longer rendered.
	r.write("apps/release.yaml", release("suspended")+"  suspend: true\n")
	rep, err = run(t, o)
	if err != nil {
		t.Fatalf("suspended run: %v", err)
	}
	if rep.Changed() {
		t.Errorf("a suspended release changed objects: %v", actions(rep))
	}
	if g := configMapOf(t, ns, "hello-greeting").Data["greeting"]; g != "changed" {
		t.Errorf("greeting %q under suspend", g)
	}

	// Removed from Git, the release's objects are pruned, as Flux
	// uninstalls a deleted HelmRelease.
	r.remove("apps/release.yaml")
	rep, err = run(t, o)
	if err != nil {
		t.Fatalf("removal run: %v", err)
	}
	if a := actions(rep)[u+" ConfigMap/"+ns+"/hello-greeting"]; a != reconcile.Deleted || exists(t, ns, "hello-greeting") {
		t.Errorf("removed release: %q", a)
	}
	// Its hook is no member of the inventory: as Helm's uninstall, the
	// prune leaves it.
	if !exists(t, ns, "hello-pre-install") {
		t.Error("the release's pre-install hook was pruned")
	}
}

// TestFleetHelmReleaseInRootFromGit: a HelmRelease in the run's own
// paths (the root unit) renders a chart directory of the run's own
// repository (GitRepository flux-system), into the release namespace
// spec.targetNamespace names, with Flux's default release name.
func TestFleetHelmReleaseInRootFromGit(t *testing.T) {
	ns := env.Namespace(t)
	target := env.Namespace(t)
	r := newRepo(t)
	for p, c := range helloChartFiles(t, "charts/hello") {
		r.write(p, c)
	}
	r.write("clusters/test/units.yaml", kustomization(ns, "other", "./other", ""))
	r.write("other/cm.yaml", configMap(ns, "other-cm", "1"))
	r.write("clusters/test/release.yaml", fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2beta2
kind: HelmRelease
metadata:
  name: hello
  namespace: %s
spec:
  interval: 10m
  targetNamespace: %s
  chart:
    spec:
      chart: ./charts/hello
      sourceRef:
        kind: GitRepository
        name: flux-system
  valuesFrom:
  - kind: Secret
    name: color
    valuesKey: value
    targetPath: color
  - kind: ConfigMap
    name: not-anywhere
    optional: true
  values:
    greeting: from-git
`, ns, target))
	// A valuesFrom object that is not in Git is read from the cluster.
	_, err := env.Client().CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "color", Namespace: ns},
		StringData: map[string]string{"value": "green"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run(t, options(r, ns))
	if err != nil {
		logUnits(t, rep)
		t.Fatal(err)
	}
	name := target + "-hello"
	cm := configMapOf(t, target, name+"-greeting")
	if cm.Data["greeting"] != "from-git" || cm.Data["color"] != "green" || cm.Data["namespace"] != target || cm.Data["chart"] != "0.1.0" {
		t.Errorf("the chart's ConfigMap: %v", cm.Data)
	}
	if a := actions(rep)[". ConfigMap/"+target+"/"+name+"-greeting"]; a != reconcile.Created {
		t.Errorf("the root unit's chart object: %q (all: %v)", a, actions(rep))
	}
	if !exists(t, ns, "other-cm") {
		t.Error("the other unit did not run")
	}
}

// TestFleetHelmReleaseOCI: charts pushed to a registry as helm push
// lays them out, read through a HelmRepository of type oci and through
// spec.chartRef to an OCIRepository.
func TestFleetHelmReleaseOCI(t *testing.T) {
	ns := env.Namespace(t)
	reg := registrytest.New(t)
	c := newChartRepo(t, nil)
	for _, v := range []string{"0.1.0", "0.2.0"} {
		c.publish(v)
		archive, err := os.ReadFile(filepath.Join(c.dir, "hello-"+v+".tgz"))
		if err != nil {
			t.Fatal(err)
		}
		chartstest.PushOCI(t, reg.Host(), nil, "charts/hello", v, archive)
	}
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
	r.write("apps/sources.yaml", helmRepository(ns, "charts", "oci://"+reg.Host()+"/charts", "  type: oci\n")+fmt.Sprintf(`---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: hello-chart
  namespace: %s
spec:
  interval: 10m
  url: oci://%s/charts/hello
  ref:
    tag: 0.1.0
`, ns, reg.Host()))
	r.write("apps/releases.yaml", helmRelease(ns, "by-repo", "*", "")+fmt.Sprintf(`---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: by-ref
  namespace: %s
spec:
  interval: 10m
  chartRef:
    kind: OCIRepository
    name: hello-chart
`, ns))
	rep, err := run(t, options(r, ns))
	if err != nil {
		logUnits(t, rep)
		t.Fatal(err)
	}
	if v := configMapOf(t, ns, "by-repo-greeting").Data["chart"]; v != "0.2.0" {
		t.Errorf("HelmRepository of type oci: chart %s, want the highest, 0.2.0", v)
	}
	if v := configMapOf(t, ns, "by-ref-greeting").Data["chart"]; v != "0.1.0" {
		t.Errorf("chartRef: chart %s, want the tag 0.1.0", v)
	}
}

// TestFleetHelmReleaseRenderWithoutCluster: tidegate render (no
// cluster) renders the chart into its unit with the SDK's default
// capabilities, its origin the HelmRelease's file; a required valuesFrom
// object that is in neither Git nor a cluster fails the unit, naming it.
func TestFleetHelmReleaseRenderWithoutCluster(t *testing.T) {
	srv := newChartRepo(t, nil)
	srv.publish("0.1.0")
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization("apps", "good", "./good", "")+"---\n"+kustomization("apps", "bad", "./bad", ""))
	r.write("good/release.yaml", helmRepository("apps", "charts", srv.srv.URL, "")+"---\n"+helmRelease("apps", "hello", "", ""))
	r.write("bad/release.yaml", helmRepository("apps", "charts", srv.srv.URL, "")+"---\n"+helmRelease("apps", "other", "", "  valuesFrom:\n  - kind: ConfigMap\n    name: nowhere\n"))
	plan := offlinePlan(t, options(r, "apps"))
	var good, bad *fleet.Unit
	for _, u := range plan.Units {
		switch u.Name {
		case "apps/good":
			good = u
		case "apps/bad":
			bad = u
		}
	}
	if good == nil || good.Err != nil || bad == nil {
		t.Fatalf("units: good %+v, bad %+v", good, bad)
	}
	var found bool
	for _, obj := range good.Rendered.Objects {
		if obj.GetKind() == "ConfigMap" && obj.GetName() == "hello-greeting" {
			found = true
			if obj.GetNamespace() != "apps" {
				t.Errorf("namespace %q, want the release's", obj.GetNamespace())
			}
			if origin := good.Rendered.Origins[object.FromUnstructured(obj)]; origin.File != "good/release.yaml" || origin.Path != "good" {
				t.Errorf("origin %+v", origin)
			}
			if kube, _, _ := unstructured.NestedString(obj.Object, "data", "kube"); kube == "" || kube == kubeVersion(t) {
				t.Errorf(".Capabilities.KubeVersion %q: want the SDK's default without a cluster", kube)
			}
		}
	}
	if !found {
		t.Errorf("the chart's ConfigMap is not in the unit's render")
	}
	if bad.Err == nil || !strings.Contains(bad.Err.Error(), "HelmRelease apps/other (bad/release.yaml)") || !strings.Contains(bad.Err.Error(), "ConfigMap/apps/nowhere") {
		t.Errorf("the unit with a missing valuesFrom: %v", bad.Err)
	}
}

// TestFleetHelmReleaseUnreachableRepository: a chart that cannot be
// fetched fails its unit, naming the HelmRelease; the other units run.
func TestFleetHelmReleaseUnreachableRepository(t *testing.T) {
	ns := env.Namespace(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "broken", "./broken", "")+"---\n"+kustomization(ns, "fine", "./fine", ""))
	r.write("broken/release.yaml", helmRepository(ns, "charts", gone.URL, "")+"---\n"+helmRelease(ns, "hello", "*", ""))
	r.write("broken/cm.yaml", configMap(ns, "broken-cm", "1"))
	r.write("fine/cm.yaml", configMap(ns, "fine-cm", "1"))

	rep, err := run(t, options(r, ns))
	if err == nil {
		t.Fatal("the run succeeded with a chart it could not fetch")
	}
	want := map[string]reconcile.UnitStatus{".": reconcile.UnitReconciled, ns + "/broken": reconcile.UnitFailed, ns + "/fine": reconcile.UnitReconciled}
	if d := cmp.Diff(want, statuses(rep)); d != "" {
		t.Fatalf("units (-want +got):\n%s", d)
	}
	if reason := unit(rep, ns+"/broken").Reason; !strings.Contains(reason, "HelmRelease "+ns+"/hello (broken/release.yaml)") || !strings.Contains(reason, "HelmRepository/"+ns+"/charts") {
		t.Errorf("reason does not name the HelmRelease and its source: %q", reason)
	}
	if exists(t, ns, "broken-cm") {
		t.Error("the failed unit applied its other objects")
	}
	if !exists(t, ns, "fine-cm") {
		t.Error("the other unit did not run")
	}
}

// TestFleetHelmReleaseRootFails: a release of the run's own paths that
// cannot render fails the root unit, whose objects are not applied, and
// skips the units it creates, as any failed unit does.
func TestFleetHelmReleaseRootFails(t *testing.T) {
	ns := env.Namespace(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "other", "./other", ""))
	r.write("clusters/test/cm.yaml", configMap(ns, "root-cm", "1"))
	r.write("clusters/test/release.yaml", helmRepository(ns, "charts", gone.URL, "")+"---\n"+helmRelease(ns, "hello", "*", ""))
	r.write("other/cm.yaml", configMap(ns, "other-cm", "1"))
	rep, err := run(t, options(r, ns))
	if err == nil {
		t.Fatal("the run succeeded")
	}
	want := map[string]reconcile.UnitStatus{".": reconcile.UnitFailed, ns + "/other": reconcile.UnitSkipped}
	if d := cmp.Diff(want, statuses(rep)); d != "" {
		t.Fatalf("units (-want +got):\n%s", d)
	}
	if reason := unit(rep, ".").Reason; !strings.Contains(reason, "HelmRelease "+ns+"/hello (clusters/test/release.yaml)") {
		t.Errorf("root reason %q", reason)
	}
	if exists(t, ns, "root-cm") || exists(t, ns, "other-cm") {
		t.Error("the failed root, or a unit it creates, applied")
	}
}

// TestHostileHelmRelease: refusals that name the HelmRelease and write
// nothing of its unit, and credentials that never reach the output.
func TestHostileHelmRelease(t *testing.T) {
	const canary = "canary-pw-7f3a"
	t.Run("credentials from secretRef refused by the server are not printed", func(t *testing.T) {
		ns := env.Namespace(t)
		srv := newChartRepo(t, func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if u, p, ok := r.BasicAuth(); !ok || u != "reader" || p != "right" {
					http.Error(w, "authentication required", http.StatusUnauthorized)
					return
				}
				h.ServeHTTP(w, r)
			})
		})
		srv.publish("0.1.0")
		_, err := env.Client().CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "chart-creds", Namespace: ns},
			StringData: map[string]string{"username": "reader", "password": canary},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := newRepo(t)
		r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
		r.write("apps/release.yaml", helmRepository(ns, "charts", srv.srv.URL, "  secretRef:\n    name: chart-creds\n")+"---\n"+helmRelease(ns, "hello", "*", ""))
		rep, err := run(t, options(r, ns))
		if err == nil {
			t.Fatal("the run succeeded with refused credentials")
		}
		if s := unit(rep, ns+"/apps").Status; s != reconcile.UnitFailed {
			t.Fatalf("unit %s", s)
		}
		b, _ := json.Marshal(rep)
		if strings.Contains(string(b), canary) || strings.Contains(err.Error(), canary) {
			t.Errorf("the password is in the report or the error: %v", err)
		}
		if !strings.Contains(unit(rep, ns+"/apps").Reason, "HelmRelease "+ns+"/hello") {
			t.Errorf("reason %q does not name the HelmRelease", unit(rep, ns+"/apps").Reason)
		}
		if got := srv.requests(); len(got) == 0 || got[0] == "" {
			t.Errorf("the secretRef's credentials were not sent: %q", got)
		}
		if exists(t, ns, "hello-greeting") {
			t.Error("the chart's object was applied")
		}
	})
	t.Run("a password in the repository URL is not printed", func(t *testing.T) {
		ns := env.Namespace(t)
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		url := strings.Replace(gone.URL, "http://", "http://user:"+canary+"@", 1)
		r := newRepo(t)
		r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
		r.write("apps/release.yaml", helmRepository(ns, "charts", url, "")+"---\n"+helmRelease(ns, "hello", "*", ""))
		r.write("apps/cm.yaml", configMap(ns, "apps-cm", "1"))
		rep, err := run(t, options(r, ns))
		if err == nil {
			t.Fatal("the run succeeded")
		}
		b, _ := json.Marshal(rep)
		if strings.Contains(string(b), canary) || strings.Contains(err.Error(), canary) {
			t.Errorf("the password is in the report or the error: %s", b)
		}
		if exists(t, ns, "apps-cm") {
			t.Error("the failed unit applied its objects")
		}
	})
	t.Run("a chart object that the unit also holds", func(t *testing.T) {
		ns := env.Namespace(t)
		srv := newChartRepo(t, nil)
		srv.publish("0.1.0")
		r := newRepo(t)
		r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
		r.write("apps/release.yaml", helmRepository(ns, "charts", srv.srv.URL, "")+"---\n"+helmRelease(ns, "hello", "*", ""))
		r.write("apps/cm.yaml", configMap(ns, "hello-extra", "mine"))
		rep, err := run(t, options(r, ns))
		if err == nil {
			t.Fatal("the run succeeded with an object twice")
		}
		reason := unit(rep, ns+"/apps").Reason
		for _, w := range []string{"HelmRelease " + ns + "/hello (apps/release.yaml)", "ConfigMap/" + ns + "/hello-extra", "apps/cm.yaml"} {
			if !strings.Contains(reason, w) {
				t.Errorf("reason %q does not say %q", reason, w)
			}
		}
		if exists(t, ns, "hello-extra") || exists(t, ns, "hello-greeting") {
			t.Error("the unit applied objects")
		}
	})
	t.Run("a chart directory outside the repository", func(t *testing.T) {
		ns := env.Namespace(t)
		r := newRepo(t)
		r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
		r.write("apps/cm.yaml", configMap(ns, "apps-cm", "1"))
		hr := strings.NewReplacer("chart: hello", "chart: ../../../etc", "kind: HelmRepository", "kind: GitRepository", "name: charts", "name: flux-system").Replace(helmRelease(ns, "hello", "*", ""))
		r.write("apps/release.yaml", hr)
		rep, err := run(t, options(r, ns))
		if err == nil {
			t.Fatal("the run succeeded")
		}
		reason := unit(rep, ns+"/apps").Reason
		if !strings.Contains(reason, "HelmRelease "+ns+"/hello (apps/release.yaml)") || !strings.Contains(reason, "must stay inside the repository") {
			t.Errorf("reason %q", reason)
		}
		if exists(t, ns, "apps-cm") {
			t.Error("the failed unit applied its objects")
		}
	})
	t.Run("values from a Secret are masked in diffs", func(t *testing.T) {
		ns := env.Namespace(t)
		secretValuesMasked(t, ns, canary, "hello-greeting", func(r *repo, chartURL string) {
			r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
			r.write("apps/release.yaml", helmRepository(ns, "charts", chartURL, "")+"---\n"+helmRelease(ns, "hello", "*", "  valuesFrom:\n  - kind: Secret\n    name: hello-secret\n"))
		})
	})
	t.Run("a release for another account than its unit's", func(t *testing.T) {
		ns := env.Namespace(t)
		srv := newChartRepo(t, nil)
		srv.publish("0.1.0")
		r := newRepo(t)
		r.write("clusters/test/units.yaml", kustomization(ns, "apps", "./apps", ""))
		r.write("apps/release.yaml", helmRepository(ns, "charts", srv.srv.URL, "")+"---\n"+helmRelease(ns, "hello", "*", "  serviceAccountName: tenant\n"))
		rep, err := run(t, options(r, ns))
		if err == nil {
			t.Fatal("the run succeeded")
		}
		if reason := unit(rep, ns+"/apps").Reason; !strings.Contains(reason, "spec.serviceAccountName tenant differs from the account its unit applies as") {
			t.Errorf("reason %q", reason)
		}
		if got := srv.requests(); len(got) != 0 {
			t.Errorf("the chart was fetched for a refused release: %d requests", len(got))
		}
		if exists(t, ns, "hello-greeting") {
			t.Error("the chart's object was applied with the run's own access")
		}
	})
	t.Run("a tenant's release writing outside its namespace", func(t *testing.T) {
		ns := env.Namespace(t)
		tns := env.Namespace(t)
		other := env.Namespace(t)
		tenant(t, tns, "tenant")
		srv := newChartRepo(t, nil)
		srv.publish("0.1.0")
		r := newRepo(t)
		r.write("clusters/test/units.yaml", kustomization(tns, "team", "./team", "  serviceAccountName: tenant\n"))
		r.write("team/release.yaml", helmRepository(tns, "charts", srv.srv.URL, "")+"---\n"+helmRelease(tns, "hello", "*", "  serviceAccountName: tenant\n  targetNamespace: "+other+"\n"))
		rep, err := run(t, options(r, ns))
		if err == nil {
			t.Fatal("a tenant's release wrote outside its namespace")
		}
		u := unit(rep, tns+"/team")
		if u.Status != reconcile.UnitFailed || !strings.Contains(u.Reason, "system:serviceaccount:"+tns+":tenant") {
			t.Errorf("unit %s: %q", u.Status, u.Reason)
		}
		if exists(t, other, other+"-hello-greeting") {
			t.Error("the tenant's chart object exists in the other namespace")
		}
	})
}

// secretValuesMasked runs a release whose values come from the Secret
// hello-secret (key values.yaml, a greeting holding canary) of ns, which
// write puts into the repository, chart hello from a chart repository at
// chartURL; then changes the Secret and checks that the diff of the
// chart's ConfigMap cm never shows its values and writes nothing.
func secretValuesMasked(t *testing.T, ns, canary, cm string, write func(r *repo, chartURL string)) {
	t.Helper()
	srv := newChartRepo(t, nil)
	srv.publish("0.1.0")
	secrets := env.Client().CoreV1().Secrets(ns)
	sec, err := secrets.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "hello-secret", Namespace: ns},
		StringData: map[string]string{"values.yaml": "greeting: " + canary + "-one\n"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := newRepo(t)
	write(r, srv.srv.URL)
	o := options(r, ns)
	if rep, err := run(t, o); err != nil {
		logUnits(t, rep)
		t.Fatal(err)
	}
	if g := configMapOf(t, ns, cm).Data["greeting"]; g != canary+"-one" {
		t.Fatalf("greeting %q, want the Secret's", g)
	}
	sec.StringData = map[string]string{"values.yaml": "greeting: " + canary + "-two\n"}
	if _, err := secrets.Update(context.Background(), sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err := diff(t, o)
	if err != nil {
		t.Fatal(err)
	}
	var d string
	for _, e := range rep.Objects {
		if e.Object() == "ConfigMap/"+ns+"/"+cm {
			d = e.Diff
		}
	}
	if d == "" {
		t.Fatalf("no diff for the changed ConfigMap: %v", actions(rep))
	}
	var text strings.Builder
	if err := rep.WriteText(&text, true); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(rep)
	if strings.Contains(string(b)+text.String(), canary) {
		t.Errorf("a value from the Secret is in the diff:\n%s", text.String())
	}
	if g := configMapOf(t, ns, cm).Data["greeting"]; g != canary+"-one" {
		t.Errorf("diff wrote: greeting %q", g)
	}
}
