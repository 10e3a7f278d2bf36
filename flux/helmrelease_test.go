package flux

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func helmRelease(version, spec string) string {
	return `apiVersion: helm.toolkit.fluxcd.io/` + version + `
kind: HelmRelease
metadata: {name: podinfo, namespace: apps}
spec:
  interval: 10m
` + spec
}

const chartSpec = `  chart:
    spec:
      chart: podinfo
      version: ">=6.0.0"
      sourceRef: {kind: HelmRepository, name: podinfo}
`

func TestParseHelmRelease(t *testing.T) {
	base := HelmRelease{Namespace: "apps", Name: "podinfo", File: "f.yaml", Chart: "podinfo", Version: ">=6.0.0",
		SourceRef: Ref{Kind: "HelmRepository", Namespace: "apps", Name: "podinfo"}, ReleaseName: "podinfo"}
	for _, tc := range []struct {
		name, version, spec string
		edit                func(*HelmRelease)
	}{
		{"defaults", "v2", chartSpec, func(*HelmRelease) {}},
		{"v2beta2", "v2beta2", chartSpec, func(*HelmRelease) {}},
		{"v2beta1", "v2beta1", chartSpec, func(*HelmRelease) {}},
		{"targetNamespace names the release", "v2", chartSpec + "  targetNamespace: web\n", func(h *HelmRelease) {
			h.TargetNamespace, h.ReleaseName = "web", "web-podinfo"
		}},
		{"releaseName", "v2", chartSpec + "  targetNamespace: web\n  releaseName: pi\n", func(h *HelmRelease) {
			h.TargetNamespace, h.ReleaseName = "web", "pi"
		}},
		{"values, valuesFrom, crds, suspend", "v2", chartSpec + `  values: {replicas: 2}
  valuesFrom:
  - {kind: ConfigMap, name: vals}
  - {kind: Secret, name: creds, valuesKey: pw, targetPath: auth.password, optional: true}
  install: {crds: CreateReplace}
  upgrade: {crds: Skip}
  suspend: true
`, func(h *HelmRelease) {
			h.Values = map[string]any{"replicas": float64(2)}
			h.ValuesFrom = []ValuesFrom{{Kind: "ConfigMap", Name: "vals"}, {Kind: "Secret", Name: "creds", ValuesKey: "pw", TargetPath: "auth.password", Optional: true}}
			h.InstallCRDs, h.UpgradeCRDs, h.Suspend = "CreateReplace", "Skip", true
		}},
		{"git source in another namespace", "v2", `  chart:
    spec:
      chart: ./charts/app
      sourceRef: {kind: GitRepository, name: repo, namespace: flux-system}
`, func(h *HelmRelease) {
			h.Chart, h.Version, h.SourceRef = "./charts/app", "", Ref{Kind: "GitRepository", Namespace: "flux-system", Name: "repo"}
		}},
		{"to refuse: serviceAccountName, kubeConfig, valuesFiles", "v2", strings.Replace(chartSpec, "      chart: podinfo\n", "      chart: podinfo\n      valuesFiles: [values-prod.yaml]\n", 1) + "  serviceAccountName: deployer\n  kubeConfig: {secretRef: {name: spoke}}\n", func(h *HelmRelease) {
			h.ServiceAccountName, h.KubeConfig, h.ValuesFiles = "deployer", true, []string{"values-prod.yaml"}
		}},
		{"postRenderers, strategy, ignoreMissingValuesFiles", "v2", strings.Replace(chartSpec, "      chart: podinfo\n", "      chart: podinfo\n      ignoreMissingValuesFiles: true\n", 1) + `  postRenderStrategy: nohooks
  postRenderers:
  - kustomize:
      patches:
      - {patch: "- {op: add, path: /x, value: 1}", target: {kind: Deployment}}
      images:
      - {name: nginx, newTag: "1.27"}
  - kustomize:
      patchesStrategicMerge:
      - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
`, func(h *HelmRelease) {
			h.IgnoreMissingValuesFiles, h.PostRenderers, h.PostRenderStrategy = true, true, "nohooks"
			h.PostRenderKustomize = []map[string]any{
				{"patches": []any{map[string]any{"patch": "- {op: add, path: /x, value: 1}", "target": map[string]any{"kind": "Deployment"}}}, "images": []any{map[string]any{"name": "nginx", "newTag": "1.27"}}},
				{"patchesStrategicMerge": []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"}}}},
			}
		}},
		{"chartRef", "v2", "  chartRef: {kind: OCIRepository, name: podinfo}\n", func(h *HelmRelease) {
			h.Chart, h.Version, h.SourceRef = "", "", Ref{}
			h.ChartRef = &Ref{Kind: "OCIRepository", Namespace: "apps", Name: "podinfo"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := obj(t, helmRelease(tc.version, tc.spec))
			if !IsHelmRelease(u) {
				t.Fatal("IsHelmRelease is false")
			}
			got, err := ParseHelmRelease(u, "f.yaml")
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
}

func TestParseHelmRepository(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		want       HelmRepository
	}{
		{"default type", "  url: https://charts.example.invalid\n", HelmRepository{URL: "https://charts.example.invalid", Type: "default"}},
		{"oci with secret", "  type: oci\n  url: oci://ghcr.example.invalid/charts\n  secretRef: {name: creds}\n  passCredentials: true\n", HelmRepository{URL: "oci://ghcr.example.invalid/charts", Type: "oci", SecretName: "creds", PassCredentials: true}},
		{"v1beta2, no interval, cert secret", "  url: http://charts.example.invalid\n  certSecretRef: {name: tls}\n", HelmRepository{URL: "http://charts.example.invalid", Type: "default", CertSecretName: "tls"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := obj(t, "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: charts, namespace: flux-system}\nspec:\n"+tc.spec)
			got, err := ParseHelmRepository(u, "r.yaml")
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Namespace, tc.want.Name, tc.want.File = "flux-system", "charts", "r.yaml"
			if d := cmp.Diff(&tc.want, got, cmpopts.IgnoreFields(HelmRepository{}, "Object")); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// TestHostileHelmRelease: wrong types and values are refused with an
// error naming the object, the file and the field; a password in a
// repository URL is never printed.
func TestHostileHelmRelease(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"chart is a list", helmRelease("v2", "  chart: [podinfo]\n"), []string{"HelmRelease/apps/podinfo (f.yaml): spec.chart: is a list, want a mapping"}},
		{"version is a number", helmRelease("v2", "  chart:\n    spec: {chart: podinfo, version: 1.0, sourceRef: {kind: HelmRepository, name: r}}\n"), []string{"spec.chart.spec.version: is a number, want a string: quote it"}},
		{"values is a string", helmRelease("v2", chartSpec+"  values: 'replicas: 2'\n"), []string{"spec.values: is a string, want a mapping"}},
		{"valuesFrom kind", helmRelease("v2", chartSpec+"  valuesFrom: [{kind: Pod, name: x}]\n"), []string{"spec.valuesFrom[0].kind: is Pod: valuesFrom reads a ConfigMap or a Secret"}},
		{"valuesFrom optional quoted", helmRelease("v2", chartSpec+"  valuesFrom: [{kind: Secret, name: x, optional: 'true'}]\n"), []string{"spec.valuesFrom[0].optional: is a string, want true or false"}},
		{"bucket source", helmRelease("v2", "  chart:\n    spec: {chart: p, sourceRef: {kind: Bucket, name: b}}\n"), []string{"spec.chart.spec.sourceRef.kind: is Bucket"}},
		{"no chart", helmRelease("v2", "  values: {}\n"), []string{"spec.chart: is missing"}},
		{"both chart and chartRef", helmRelease("v2", chartSpec+"  chartRef: {kind: OCIRepository, name: x}\n"), []string{"spec.chartRef: is set with spec.chart"}},
		{"crd policy", helmRelease("v2", chartSpec+"  install: {crds: Always}\n"), []string{"spec.install.crds: is Always: use Skip, Create or CreateReplace"}},
		{"post-renderer of another kind", helmRelease("v2", chartSpec+"  postRenderers: [{exec: {command: sh}}]\n"), []string{"spec.postRenderers[0].exec: is not a post-renderer"}},
		{"post-renderer kustomize field", helmRelease("v2", chartSpec+"  postRenderers: [{kustomize: {resources: [x.yaml]}}]\n"), []string{"spec.postRenderers[0].kustomize.resources: is not a field"}},
		{"post-renderer patches not a list", helmRelease("v2", chartSpec+"  postRenderers: [{kustomize: {patches: {patch: x}}}]\n"), []string{"spec.postRenderers[0].kustomize.patches: is a mapping, want a list"}},
		{"post-render strategy", helmRelease("v2", chartSpec+"  postRenderStrategy: sometimes\n"), []string{"spec.postRenderStrategy: is sometimes: use combined, separate or nohooks"}},
		{"v1 helm-operator version", strings.Replace(helmRelease("v2", chartSpec), "helm.toolkit.fluxcd.io/v2", "helm.toolkit.fluxcd.io/v1", 1), []string{`apiVersion: "helm.toolkit.fluxcd.io/v1" is not a version tidegate reads`}},
		{"long release name", helmRelease("v2", chartSpec+"  targetNamespace: "+strings.Repeat("n", 50)+"\n"), []string{"spec.releaseName: ", "longer than the 53 characters"}},
		{"hostile name quoted", strings.Replace(helmRelease("v2", chartSpec+"  suspend: yes please\n"), "name: podinfo,", `name: "evil\nname",`, 1), []string{`HelmRelease/apps/"evil\nname"`, "spec.suspend: is a string, want true or false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHelmRelease(obj(t, tc.doc), "f.yaml")
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"url with password, wrong scheme", "  url: ftp://user:hunter2@charts.example.invalid/x\n", "spec.url: \"ftp://***@charts.example.invalid/x\" is not an http:// or https:// URL"},
		{"oci type, https url with password", "  type: oci\n  url: https://user:hunter2@charts.example.invalid\n", "is not an oci:// URL"},
		{"type", "  type: git\n  url: https://charts.example.invalid\n", "spec.type: is git"},
		{"passCredentials string", "  url: https://charts.example.invalid\n  passCredentials: 'yes'\n", "spec.passCredentials: is a string, want true or false"},
		{"url number", "  url: 42\n", "spec.url: is a number, want a string"},
	} {
		t.Run("HelmRepository "+tc.name, func(t *testing.T) {
			_, err := ParseHelmRepository(obj(t, "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: charts, namespace: flux-system}\nspec:\n"+tc.spec), "r.yaml")
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "HelmRepository/flux-system/charts (r.yaml): ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the password is in the error: %v", err)
			}
		})
	}
}
