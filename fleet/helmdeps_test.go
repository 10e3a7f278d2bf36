package fleet_test

import (
	"fmt"
	"testing"

	"github.com/tidegate/tidegate/fleet"
)

// TestFleetHelmReleaseGitChartDependencies: a HelmRelease's chart is a
// directory of a GitRepository (git http-backend) whose Chart.yaml
// declares a dependency on an HTTP chart repository and one on a
// file:// directory of the same repository, neither vendored: both are
// fetched, as source-controller's dependency build would, and their
// objects are applied with the parent's values.
func TestFleetHelmReleaseGitChartDependencies(t *testing.T) {
	ns := env.Namespace(t)
	srv := newChartRepo(t, nil)
	srv.publish("0.1.0")
	srv.publish("0.1.4")
	srv.publish("0.2.0")
	url := gitServer(t, map[string]string{
		"charts/umbrella/Chart.yaml": "apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n" +
			"  - name: hello\n    version: ^0.1.0\n    repository: " + srv.srv.URL + "\n" +
			"  - name: lib\n    version: 0.2.x\n    repository: file://../lib\n",
		"charts/umbrella/values.yaml":       "hello:\n  greeting: via-umbrella\n",
		"charts/umbrella/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-umbrella\ndata:\n  chart: {{ .Chart.Name | quote }}\n",
		"charts/lib/Chart.yaml":             "apiVersion: v2\nname: lib\nversion: 0.2.3\n",
		"charts/lib/templates/cm.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-lib\ndata:\n  version: {{ .Chart.Version | quote }}\n",
	})
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
  name: umb
  namespace: %[1]s
spec:
  interval: 10m
  chart:
    spec:
      chart: ./charts/umbrella
      sourceRef:
        kind: GitRepository
        name: chart-repo
`, ns, url))
	o := options(r, ns, func(o *fleet.Options) { o.Sources = fleet.NetSources{} })
	rep, err := run(t, o)
	if err != nil {
		logUnits(t, rep)
		t.Fatal(err)
	}
	if d := configMapOf(t, ns, "umb-greeting").Data; d["greeting"] != "via-umbrella" || d["chart"] != "0.1.4" {
		t.Errorf("the HTTP repository's dependency: %v, want the parent's value and 0.1.4 (the highest ^0.1.0)", d)
	}
	if d := configMapOf(t, ns, "umb-lib").Data; d["version"] != "0.2.3" {
		t.Errorf("the file:// dependency: %v", d)
	}
	if d := configMapOf(t, ns, "umb-umbrella").Data; d["chart"] != "umbrella" {
		t.Errorf("the parent: %v", d)
	}
}
