package flux

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func operatorRelease(meta, spec string) string {
	return "apiVersion: helm.fluxcd.io/v1\nkind: HelmRelease\nmetadata:\n  name: podinfo\n  namespace: apps\n" + meta + "spec:\n" + spec
}

const operatorRepoChart = "  chart: {repository: https://charts.example.invalid/, name: podinfo, version: 3.2.0}\n"

func TestParseHelmOperatorRelease(t *testing.T) {
	base := HelmRelease{Namespace: "apps", Name: "podinfo", File: "f.yaml", Chart: "podinfo", Version: "3.2.0", ReleaseName: "apps-podinfo",
		Repository: &HelmRepository{Namespace: "apps", URL: "https://charts.example.invalid/", Type: "default"}}
	git := func(ref GitRef) *GitRepository {
		return &GitRepository{Namespace: "apps", Name: "podinfo", File: "f.yaml", URL: "git@github.example.invalid:org/charts", Ref: ref}
	}
	for _, tc := range []struct {
		name, meta, spec string
		edit             func(*HelmRelease)
	}{
		{"repository chart, helm-operator's release name", "", operatorRepoChart, func(*HelmRelease) {}},
		{"targetNamespace is the release's namespace and in its name", "", operatorRepoChart + "  targetNamespace: web\n", func(h *HelmRelease) {
			h.TargetNamespace, h.ReleaseName = "web", "apps-web-podinfo"
		}},
		{"targetNamespace equal to its own", "", operatorRepoChart + "  targetNamespace: apps\n", func(h *HelmRelease) { h.TargetNamespace = "apps" }},
		{"releaseName", "", operatorRepoChart + "  releaseName: pi\n", func(h *HelmRelease) { h.ReleaseName = "pi" }},
		{"git chart, ref defaults to master", "", "  chart: {git: 'git@github.example.invalid:org/charts', path: charts/podinfo}\n", func(h *HelmRelease) {
			h.Repository, h.Version, h.Chart, h.Git = nil, "", "charts/podinfo", git(GitRef{Branch: "master"})
		}},
		{"git chart at a commit, with a secret", "", "  chart:\n    git: git@github.example.invalid:org/charts\n    ref: 0123abc\n    path: ./charts/podinfo\n    secretRef: {name: git-https, namespace: flux}\n    skipDepUpdate: true\n", func(h *HelmRelease) {
			g := git(GitRef{Commit: "0123abc"})
			g.SecretName, g.Namespace = "git-https", "flux"
			h.Repository, h.Version, h.Chart, h.Git = nil, "", "./charts/podinfo", g
		}},
		{"git chart at a full ref, and at a branch", "", "  chart: {git: 'git@github.example.invalid:org/charts', ref: refs/tags/v1, path: c}\n", func(h *HelmRelease) {
			h.Repository, h.Version, h.Chart, h.Git = nil, "", "c", git(GitRef{Name: "refs/tags/v1"})
		}},
		{"values, valuesFrom in order after valueFileSecrets, skipCRDs, ignored", "  annotations: {fluxcd.io/ignore: \"true\"}\n", operatorRepoChart + `  values: {replicas: 2}
  valueFileSecrets: [{name: old}]
  valuesFrom:
  - configMapKeyRef: {name: defaults}
  - secretKeyRef: {name: creds, namespace: vault, key: pw.yaml, optional: true}
  - chartFileRef: {path: ./overrides/prod.yaml, optional: true}
  skipCRDs: true
  wait: true
  timeout: 600
  resetValues: false
  forceUpgrade: true
  rollback: {enable: true, retry: true}
  helmVersion: v3
`, func(h *HelmRelease) {
			h.Values = map[string]any{"replicas": float64(2)}
			h.ValuesFrom = []ValuesFrom{
				{Kind: "Secret", Name: "old"},
				{Kind: "ConfigMap", Name: "defaults"},
				{Kind: "Secret", Name: "creds", Namespace: "vault", ValuesKey: "pw.yaml", Optional: true},
				{Kind: "ChartFile", Name: "overrides/prod.yaml", Optional: true},
			}
			h.InstallCRDs, h.Ignored = "Skip", true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := obj(t, operatorRelease(tc.meta, tc.spec))
			if !IsHelmOperatorRelease(u) || IsHelmRelease(u) {
				t.Fatal("not read as a Flux v1 HelmRelease only")
			}
			got, err := ParseHelmOperatorRelease(u, "f.yaml")
			if err != nil {
				t.Fatal(err)
			}
			want := base
			tc.edit(&want)
			if d := cmp.Diff(&want, got, cmpopts.IgnoreFields(HelmRelease{}, "Object")); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	for ref, want := range map[string]GitRef{"": {Branch: "master"}, "main": {Branch: "main"}, "v1.2.0": {Branch: "v1.2.0"}, "0123456789abcdef0123456789abcdef01234567": {Commit: "0123456789abcdef0123456789abcdef01234567"}, "refs/pull/4/head": {Name: "refs/pull/4/head"}} {
		if got := operatorGitRef(ref); got != want {
			t.Errorf("ref %q: %+v, want %+v", ref, got, want)
		}
	}
}

// TestHostileHelmOperatorRelease: what a Flux v1 release may not make
// tidegate do (read a URL, a file of this machine or outside the chart)
// is refused at parse time, before anything is fetched, with an error
// naming the object, the file and the field; a password in a URL is
// never printed.
func TestHostileHelmOperatorRelease(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		want       []string
	}{
		{"externalSourceRef", operatorRepoChart + "  valuesFrom:\n  - externalSourceRef: {url: 'http://127.0.0.1:1/values.yaml', optional: true}\n", []string{"spec.valuesFrom[0].externalSourceRef: is not supported", "never from a URL fetched at render time", "put these values in Git"}},
		{"two sources in one valuesFrom", operatorRepoChart + "  valuesFrom:\n  - {configMapKeyRef: {name: a}, secretKeyRef: {name: b}}\n", []string{"spec.valuesFrom[0]: sets 2 of"}},
		{"chartFileRef outside the chart", operatorRepoChart + "  valuesFrom:\n  - chartFileRef: {path: ../../etc/passwd}\n", []string{"spec.valuesFrom[0].chartFileRef.path: \"../../etc/passwd\" leaves the chart"}},
		{"chartFileRef absolute", operatorRepoChart + "  valuesFrom:\n  - chartFileRef: {path: /etc/passwd}\n", []string{"chartFileRef.path: \"/etc/passwd\" leaves the chart"}},
		{"chart.path outside the clone", "  chart: {git: 'https://git.example.invalid/charts.git', path: ../..}\n", []string{"spec.chart.path: \"../..\" leaves the repository"}},
		{"chart.path absolute", "  chart: {git: 'https://git.example.invalid/charts.git', path: /etc}\n", []string{"spec.chart.path: \"/etc\" leaves the repository"}},
		{"chart.git a local path", "  chart: {git: /srv/charts, path: c}\n", []string{"spec.chart.git: \"/srv/charts\" is not an http://", "never read from this machine"}},
		{"chart.git file URL with password", "  chart: {git: 'file://user:hunter2@host/srv/charts', path: c}\n", []string{"spec.chart.git: \"file://***@host/srv/charts\" is not"}},
		{"repository plugin scheme", "  chart: {repository: 's3://user:hunter2@bucket/charts', name: p, version: 1.0.0}\n", []string{"spec.chart.repository: \"s3://***@bucket/charts\" is not an http:// or https:// URL", "plugins"}},
		{"both sources", "  chart: {repository: 'https://c.example.invalid', name: p, version: 1.0.0, git: 'https://g.example.invalid/r', path: c}\n", []string{"spec.chart.git: is set with spec.chart.repository"}},
		{"no version", "  chart: {repository: 'https://c.example.invalid', name: p}\n", []string{"spec.chart.version: is missing"}},
		{"version a number", "  chart: {repository: 'https://c.example.invalid', name: p, version: 1.0}\n", []string{"spec.chart.version: is a number, want a string: quote it"}},
		{"no chart", "  values: {}\n", []string{"spec.chart: is missing"}},
		{"long release name", operatorRepoChart + "  targetNamespace: " + strings.Repeat("n", 50) + "\n", []string{"spec.releaseName: ", "longer than the 53 characters"}},
		{"helmVersion", operatorRepoChart + "  helmVersion: v4\n", []string{"spec.helmVersion: is v4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHelmOperatorRelease(obj(t, operatorRelease("", tc.spec)), "f.yaml")
			wantErr(t, err, append([]string{"HelmRelease/apps/podinfo (f.yaml): "}, tc.want...)...)
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the password is in the error: %v", err)
			}
		})
	}
	t.Run("a v2 HelmRelease", func(t *testing.T) {
		_, err := ParseHelmOperatorRelease(obj(t, helmRelease("v2", chartSpec)), "f.yaml")
		wantErr(t, err, "is not a Flux v1 HelmRelease (helm.fluxcd.io)")
	})
}
