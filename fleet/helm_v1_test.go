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
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/reconcile"
	"github.com/tidegate/tidegate/source"
)

// operatorRelease is a Flux v1 helm-operator HelmRelease; chart is its
// spec.chart's fields, extra more of its spec.
func operatorRelease(ns, name, chart, extra string) string {
	return fmt.Sprintf("apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  chart:\n%s%s", name, ns, chart, extra)
}

func repositoryChart(url, version string) string {
	return fmt.Sprintf("    repository: %s\n    name: hello\n    version: %s\n", url, version)
}

func gitChart(url, ref, path string) string {
	return fmt.Sprintf("    git: %s\n    ref: %s\n    path: %s\n", url, ref, path)
}

// helloChartFiles are the files of testdata's hello chart, under dir.
func helloChartFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range []string{"Chart.yaml", "values.yaml", "templates/configmap.yaml", "templates/extra.yaml", "templates/hooks.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", "charts", "hello", f))
		if err != nil {
			t.Fatal(err)
		}
		out[dir+"/"+f] = string(b)
	}
	return out
}

// offlinePlan is the plan of o without a cluster, as tidegate render
// makes it; it is closed when the test ends.
func offlinePlan(t *testing.T, o fleet.Options) *fleet.Plan {
	t.Helper()
	f, err := fleet.New(nil, o)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := f.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plan.Close() })
	return plan
}

func skipReason(rep *reconcile.Report, object string) string {
	for _, e := range rep.Objects {
		if e.Object() == object {
			return e.Reason
		}
	}
	return ""
}

// TestFleetHelmOperatorRelease: a Flux v1 repository (no Kustomization)
// whose HelmRelease names a chart repository by URL: the root unit
// renders the chart at the exact version, with helm-operator's release
// name (namespace-name) and valuesFrom a ConfigMap in Git under
// spec.values; the HelmRelease is skipped as configuration. A second run
// writes nothing, a change of values configures, a version without a
// template prunes its object, fluxcd.io/ignore leaves the release as it
// is; with --flux=off the HelmRelease is a plain object and no chart is
// rendered.
func TestFleetHelmOperatorRelease(t *testing.T) {
	ns := env.Namespace(t)
	srv := newChartRepo(t, nil)
	srv.publish("0.1.0")
	r := newRepo(t)
	r.write("clusters/test/values.yaml", fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello-values\n  namespace: %s\ndata:\n  values.yaml: |\n    color: blue\n    greeting: from-configmap\n", ns))
	release := func(version, greeting, meta string) string {
		hr := operatorRelease(ns, "hello", repositoryChart(srv.srv.URL, version), "  valuesFrom:\n  - configMapKeyRef:\n      name: hello-values\n  values:\n    greeting: "+greeting+"\n")
		return strings.Replace(hr, "metadata:\n", "metadata:\n"+meta, 1)
	}
	r.write("clusters/test/release.yaml", release("0.1.0", "hello", ""))
	o := options(r, ns)
	name := ns + "-hello"
	hrID := "HelmRelease.helm.fluxcd.io/" + ns + "/hello"

	rep, err := run(t, o)
	if err != nil {
		logUnits(t, rep)
		t.Fatalf("first run: %v", err)
	}
	want := map[string]string{"greeting": "hello", "color": "blue", "chart": "0.1.0", "install": "true", "namespace": ns, "kube": kubeVersion(t)}
	if d := cmp.Diff(want, configMapOf(t, ns, name+"-greeting").Data); d != "" {
		t.Errorf("the chart's ConfigMap (-want +got):\n%s", d)
	}
	got := actions(rep)
	if got[". "+hrID] != reconcile.Skipped || got[". ConfigMap/"+ns+"/"+name+"-extra"] != reconcile.Created {
		t.Errorf("actions: %v", got)
	}
	if why := skipReason(rep, hrID); !strings.Contains(why, "Flux v1 helm-operator") {
		t.Errorf("skip reason %q", why)
	}

	// The second run is an upgrade (the release's objects are in the
	// inventory): the chart's .Release.IsInstall turns false.
	if rep, err = run(t, o); err != nil {
		t.Fatalf("upgrade run: %v", err)
	}
	if a := actions(rep)[". ConfigMap/"+ns+"/"+name+"-greeting"]; a != reconcile.Configured || configMapOf(t, ns, name+"-greeting").Data["install"] != "false" {
		t.Errorf("upgrade run: %q, want configured with install false (all: %v)", a, actions(rep))
	}
	if rep, err = run(t, o); err != nil || rep.Changed() {
		t.Fatalf("no-op run: %v, changed %v", err, actions(rep))
	}

	r.write("clusters/test/release.yaml", release("0.1.0", "changed", ""))
	if rep, err = run(t, o); err != nil {
		t.Fatalf("values run: %v", err)
	}
	if a := actions(rep)[". ConfigMap/"+ns+"/"+name+"-greeting"]; a != reconcile.Configured || configMapOf(t, ns, name+"-greeting").Data["greeting"] != "changed" {
		t.Errorf("changed values: %q", a)
	}

	srv.publish("0.2.0", "extra.yaml")
	r.write("clusters/test/release.yaml", release("0.2.0", "changed", ""))
	if rep, err = run(t, o); err != nil {
		t.Fatalf("new version run: %v", err)
	}
	if a := actions(rep)[". ConfigMap/"+ns+"/"+name+"-extra"]; a != reconcile.Deleted || exists(t, ns, name+"-extra") {
		t.Errorf("the dropped template's object: %q", a)
	}
	if c := configMapOf(t, ns, name+"-greeting").Data["chart"]; c != "0.2.0" {
		t.Errorf("chart %q, want the exact version 0.2.0", c)
	}

	// fluxd left an ignored object as it was: so does tidegate, and it
	// does not prune what the release's chart would render.
	r.write("clusters/test/release.yaml", release("0.2.0", "ignored", "  annotations:\n    fluxcd.io/ignore: \"true\"\n"))
	if rep, err = run(t, o); err != nil {
		t.Fatalf("ignored run: %v", err)
	}
	if rep.Changed() || configMapOf(t, ns, name+"-greeting").Data["greeting"] != "changed" {
		t.Errorf("an ignored release changed objects: %v", actions(rep))
	}
	if why := skipReason(rep, hrID); !strings.Contains(why, "fluxcd.io/ignore") {
		t.Errorf("skip reason of the ignored release %q", why)
	}

	off := o
	off.Mode = fleet.Off
	plan := offlinePlan(t, off)
	var kinds []string
	for _, obj := range plan.Units[0].Rendered.Objects {
		kinds = append(kinds, obj.GetKind()+"/"+obj.GetName())
	}
	if plan.Flux || !strings.Contains(strings.Join(kinds, ","), "HelmRelease/hello") || strings.Contains(strings.Join(kinds, ","), "-greeting") {
		t.Errorf("--flux=off: Flux run %v, objects %v", plan.Flux, kinds)
	}
}

// TestFleetHelmOperatorReleaseFromGit: a chart in a Git repository
// served by git http-backend (spec.chart.git, path, and a ref that is a
// tag, not a branch; a ref that is neither fails, naming it), its values
// from a values file of the chart (chartFileRef, an optional missing
// one skipped), a Secret of another namespace in the cluster
// (secretKeyRef with namespace and key) and spec.values, in
// helm-operator's order; the release into spec.targetNamespace (under
// spec.releaseName: the test namespaces make the default too long).
func TestFleetHelmOperatorReleaseFromGit(t *testing.T) {
	ns := env.Namespace(t)
	vault := env.Namespace(t)
	target := env.Namespace(t)
	files := helloChartFiles(t, "charts/hello")
	files["charts/hello/values-prod.yaml"] = "color: from-chart-file\ngreeting: from-chart-file\n"
	url := gitServerLinks(t, files, nil, "v0.1.0")
	_, err := env.Client().CoreV1().Secrets(vault).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "hello-secret", Namespace: vault},
		StringData: map[string]string{"override.yaml": "greeting: from-secret\n"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := newRepo(t)
	release := func(ref string) string {
		return operatorRelease(ns, "hello", gitChart(url, ref, "charts/hello"), fmt.Sprintf(`  targetNamespace: %s
  releaseName: hello-v1
  valuesFrom:
  - chartFileRef:
      path: values-prod.yaml
  - chartFileRef:
      path: values-missing.yaml
      optional: true
  - secretKeyRef:
      name: hello-secret
      namespace: %s
      key: override.yaml
  values:
    extra: inline
`, target, vault))
	}
	r.write("clusters/test/release.yaml", release("v0.1.0"))
	o := options(r, ns, func(o *fleet.Options) { o.Sources = fleet.NetSources{} })
	rep, err := run(t, o)
	if err != nil {
		logUnits(t, rep)
		t.Fatal(err)
	}
	name := "hello-v1"
	cm := configMapOf(t, target, name+"-greeting")
	if cm.Data["greeting"] != "from-secret" || cm.Data["color"] != "from-chart-file" || cm.Data["namespace"] != target || cm.Data["chart"] != "0.1.0" {
		t.Errorf("the chart's ConfigMap: %v", cm.Data)
	}
	if a := actions(rep)[". ConfigMap/"+target+"/"+name+"-greeting"]; a != reconcile.Created {
		t.Errorf("the root unit's chart object: %q (all: %v)", a, actions(rep))
	}
	// Run two upgrades the release (IsInstall turns false), run three
	// writes nothing.
	if _, err = run(t, o); err != nil {
		t.Fatalf("upgrade run: %v", err)
	}
	if rep, err = run(t, o); err != nil || rep.Changed() {
		t.Errorf("no-op run: %v, changed %v", err, actions(rep))
	}

	r.write("clusters/test/release.yaml", release("no-such-ref"))
	rep, err = run(t, o)
	if reason := unit(rep, ".").Reason; err == nil || !strings.Contains(reason, `has no branch and no tag "no-such-ref": check spec.chart.ref`) {
		t.Errorf("a ref the repository does not have: %v, reason %q", err, reason)
	}
	if !exists(t, target, name+"-greeting") {
		t.Error("the failed unit pruned the release's objects")
	}
}

// TestFleetHelmOperatorReleaseGitCredentials: a private chart.git is
// cloned with spec.chart.secretRef's username and password, or, without
// one, with the run's own credentials when it is on the run's own Git
// host.
func TestFleetHelmOperatorReleaseGitCredentials(t *testing.T) {
	for _, tc := range []struct {
		name, secretRef string
		runRemote       func(url string) string
	}{
		{"chart.secretRef", "    secretRef:\n      name: git-https\n", func(string) string { return "https://git.example.com/fleet.git" }},
		{"the run's own host", "", func(url string) string { return strings.TrimSuffix(url, "/apps.git") + "/fleet.git" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := env.Namespace(t)
			url, seen := authGitServer(t, "s3cret-token", helloChartFiles(t, "charts/hello"))
			_, err := env.Client().CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: "git-https", Namespace: ns},
				StringData: map[string]string{"username": "git", "password": "s3cret-token"},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r := newRepo(t)
			r.write("clusters/test/release.yaml", operatorRelease(ns, "hello", gitChart(url, "main", "charts/hello")+tc.secretRef, ""))
			o := options(r, ns, func(o *fleet.Options) {
				o.Sources = fleet.NetSources{RunAuth: source.Auth{Token: "s3cret-token"}, RunRemote: tc.runRemote(url)}
			})
			rep, err := run(t, o)
			if err != nil {
				logUnits(t, rep)
				t.Fatal(err)
			}
			if !exists(t, ns, ns+"-hello-greeting") {
				t.Error("the private chart's object was not applied")
			}
			if h := seen(); len(h) == 0 || h[len(h)-1] == "" {
				t.Errorf("the clone sent no credentials: %q", h)
			}
		})
	}
}

// TestHostileHelmOperatorRelease: a Flux v1 release cannot make a run
// fetch a URL, send the run's credentials to another Git server, read
// outside its clone, or print values from a Secret; each refusal fails
// the unit, naming the HelmRelease, and applies nothing of it.
func TestHostileHelmOperatorRelease(t *testing.T) {
	const canary = "canary-v1-9c1e"
	t.Run("externalSourceRef refused and never fetched", func(t *testing.T) {
		ns := env.Namespace(t)
		var hits atomic.Int32
		rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			fmt.Fprintln(w, "greeting: from-the-internet")
		}))
		t.Cleanup(rec.Close)
		srv := newChartRepo(t, nil)
		srv.publish("0.1.0")
		r := newRepo(t)
		r.write("clusters/test/cm.yaml", configMap(ns, "root-cm", "1"))
		r.write("clusters/test/release.yaml", operatorRelease(ns, "hello", repositoryChart(srv.srv.URL, "0.1.0"), "  valuesFrom:\n  - externalSourceRef:\n      url: "+rec.URL+"/values.yaml\n      optional: true\n"))
		rep, err := run(t, options(r, ns))
		if err == nil {
			t.Fatal("the run succeeded")
		}
		reason := unit(rep, ".").Reason
		for _, w := range []string{"HelmRelease/" + ns + "/hello (clusters/test/release.yaml)", "externalSourceRef: is not supported", "put these values in Git"} {
			if !strings.Contains(reason, w) {
				t.Errorf("reason %q does not say %q", reason, w)
			}
		}
		if n := hits.Load(); n != 0 {
			t.Errorf("the external source was fetched %d times", n)
		}
		if got := srv.requests(); len(got) != 0 {
			t.Errorf("the chart was fetched for a refused release: %d requests", len(got))
		}
		if exists(t, ns, "root-cm") || exists(t, ns, ns+"-hello-greeting") {
			t.Error("the failed unit applied objects")
		}
	})
	t.Run("chart.git on another host gets no run credentials", func(t *testing.T) {
		ns := env.Namespace(t)
		url, seen := authGitServer(t, "s3cret-token", helloChartFiles(t, "charts/hello"))
		r := newRepo(t)
		r.write("clusters/test/release.yaml", operatorRelease(ns, "hello", gitChart(url, "main", "charts/hello"), ""))
		o := options(r, ns, func(o *fleet.Options) {
			o.Sources = fleet.NetSources{RunAuth: source.Auth{Token: "s3cret-token"}, RunRemote: "https://git.example.com/fleet.git"}
		})
		rep, err := run(t, o)
		if err == nil {
			t.Fatal("an anonymous clone of a private repository succeeded")
		}
		if reason := unit(rep, ".").Reason; !strings.Contains(reason, "HelmRelease "+ns+"/hello") || !strings.Contains(reason, "spec.chart.git") {
			t.Errorf("reason %q", reason)
		}
		if len(seen()) == 0 {
			t.Fatal("the server saw no request: the test proves nothing")
		}
		for _, h := range seen() {
			if h != "" {
				t.Fatalf("the other host was sent credentials: %q", h)
			}
		}
		b, _ := json.Marshal(rep)
		if strings.Contains(string(b)+err.Error(), "s3cret-token") {
			t.Error("the report holds the token")
		}
	})
	t.Run("a password in chart.git or chart.repository is not printed", func(t *testing.T) {
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		withPassword := strings.Replace(gone.URL, "http://", "http://user:"+canary+"@", 1)
		for name, chart := range map[string]string{
			"git":        gitChart(withPassword+"/charts.git", "main", "charts/hello"),
			"repository": repositoryChart(withPassword, "0.1.0"),
		} {
			t.Run(name, func(t *testing.T) {
				ns := env.Namespace(t)
				r := newRepo(t)
				r.write("clusters/test/release.yaml", operatorRelease(ns, "hello", chart, ""))
				rep, err := run(t, options(r, ns, func(o *fleet.Options) { o.Sources = fleet.NetSources{} }))
				if err == nil {
					t.Fatal("the run succeeded")
				}
				b, _ := json.Marshal(rep)
				if reason := unit(rep, ".").Reason; !strings.Contains(reason, "spec.chart."+name) || strings.Contains(string(b)+err.Error(), canary) {
					t.Errorf("reason %q, or the password is in the report", reason)
				}
			})
		}
	})
	t.Run("chart.path out of the clone", func(t *testing.T) {
		outside := t.TempDir()
		for p, c := range helloChartFiles(t, ".") {
			dst := filepath.Join(outside, p)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, []byte(strings.ReplaceAll(c, "greeting", canary)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		url := gitServerLinks(t, map[string]string{"README": "charts"}, map[string]string{"charts/evil": outside})
		for _, tc := range []struct{ name, path, want string }{
			{"dot-dot", "../..", `spec.chart.path: "../.." leaves the repository`},
			{"absolute", outside, "leaves the repository"},
			{"a symbolic link out of it", "charts/evil", "spec.chart.path charts/evil"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ns := env.Namespace(t)
				r := newRepo(t)
				r.write("clusters/test/cm.yaml", configMap(ns, "root-cm", "1"))
				r.write("clusters/test/release.yaml", operatorRelease(ns, "hello", gitChart(url, "main", tc.path), ""))
				rep, err := run(t, options(r, ns, func(o *fleet.Options) { o.Sources = fleet.NetSources{} }))
				if err == nil {
					t.Fatal("the run succeeded")
				}
				if reason := unit(rep, ".").Reason; !strings.Contains(reason, tc.want) || !strings.Contains(reason, ns+"/hello") {
					t.Errorf("reason %q does not say %q", reason, tc.want)
				}
				b, _ := json.Marshal(rep)
				if strings.Contains(string(b), canary) {
					t.Error("the report holds the outside chart's content")
				}
				if exists(t, ns, "root-cm") || exists(t, ns, ns+"-hello-greeting") {
					t.Error("the failed unit applied objects")
				}
			})
		}
	})
	t.Run("values from a Secret are never printed", func(t *testing.T) {
		ns := env.Namespace(t)
		secretValuesMasked(t, ns, canary, ns+"-hello-greeting", func(r *repo, chartURL string) {
			r.write("clusters/test/release.yaml", operatorRelease(ns, "hello", repositoryChart(chartURL, "0.1.0"), "  valuesFrom:\n  - secretKeyRef:\n      name: hello-secret\n"))
		})
	})
}
