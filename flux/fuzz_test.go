package flux

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// FuzzParseKustomization feeds arbitrary YAML to every reader of the
// package: none may panic, a unit they accept keeps its promises (a path
// inside the source, namespaces filled in), and every refusal starts with
// the object.
func FuzzParseKustomization(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte(ks("v1beta1", "  path: ../x\n  dependsOn: [{name: apps}]\n")))
	f.Add([]byte(gitRepo("v1", "  ref: {tag: v1}\n")))
	f.Add([]byte(ociRepo("v1", "  layerSelector: {operation: copy}\n")))
	f.Add([]byte(helmRelease("v2", chartSpec+"  valuesFrom: [{kind: Secret, name: s, targetPath: a.b}]\n  install: {crds: Skip}\n")))
	f.Add([]byte(helmRelease("v2beta1", "  chartRef: {kind: OCIRepository, name: c}\n")))
	f.Add([]byte(operatorRelease("", operatorRepoChart+"  valuesFrom: [{chartFileRef: {path: v.yaml}}, {secretKeyRef: {name: s, namespace: n}}]\n")))
	f.Add([]byte(operatorRelease("", "  chart: {git: 'git@h.invalid:o/r', ref: main, path: charts/c}\n")))
	f.Add([]byte("apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata: {name: r, namespace: n}\nspec: {type: oci, url: oci://r.invalid/c}\n"))
	f.Add([]byte("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: \"\\x1b\", namespace: [1]}\nspec: {interval: 1.5h, path: /, sourceRef: {kind: Bucket, name: b}}\n"))
	f.Add([]byte("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: a, namespace: b}\nspec:\n"))
	files, _ := filepath.Glob("testdata/fleet/clusters/production/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			for _, doc := range strings.Split(string(b), "\n---\n") {
				f.Add([]byte(doc))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := map[string]any{}
		if err := yaml.Unmarshal(data, &m); err != nil {
			return
		}
		u := &unstructured.Unstructured{Object: m}
		IsConfig(u)
		IsKustomization(u)
		if g, err := ParseGitRepository(u, "f.yaml"); err != nil && !strings.HasPrefix(err.Error(), "GitRepository/") || err == nil && g == nil {
			t.Errorf("GitRepository: %v, %v", g, err)
		}
		if o, err := ParseOCIRepository(u, "f.yaml"); err != nil && !strings.HasPrefix(err.Error(), "OCIRepository/") || err == nil && o == nil {
			t.Errorf("OCIRepository: %v, %v", o, err)
		}
		if h, err := ParseHelmRelease(u, "f.yaml"); err != nil && !strings.HasPrefix(err.Error(), "HelmRelease/") || err == nil && (h == nil || h.ReleaseName == "" || h.ReleaseNamespace() == "" || h.ChartRef == nil && (h.Chart == "" || h.SourceRef.Namespace == "")) {
			t.Errorf("HelmRelease: %+v, %v", h, err)
		}
		if h, err := ParseHelmOperatorRelease(u, "f.yaml"); err != nil && !strings.HasPrefix(err.Error(), "HelmRelease/") || err == nil && !operatorKept(h) {
			t.Errorf("Flux v1 HelmRelease: %+v, %v", h, err)
		}
		if r, err := ParseHelmRepository(u, "f.yaml"); err != nil && !strings.HasPrefix(err.Error(), "HelmRepository/") || err == nil && (r == nil || r.URL == "") {
			t.Errorf("HelmRepository: %+v, %v", r, err)
		}
		k, err := ParseKustomization(u, "f.yaml")
		if err == nil && k == nil {
			t.Fatal("no unit and no error")
		}
		if err != nil {
			if k != nil {
				t.Errorf("a unit and an error")
			}
			if !strings.HasPrefix(err.Error(), "Kustomization/") {
				t.Errorf("error does not start with the object: %v", err)
			}
			return
		}
		if k.Path == "" || k.Path == ".." || strings.HasPrefix(k.Path, "../") || strings.HasPrefix(k.Path, "/") {
			t.Errorf("accepted path %q", k.Path)
		}
		if k.Namespace == "" || k.SourceRef.Namespace == "" || k.SourceRef.Name == "" {
			t.Errorf("accepted a unit with empty names: %+v", k)
		}
		for _, d := range k.DependsOn {
			if d.Namespace == "" || d.Name == "" || d.Kind != KustomizationKind {
				t.Errorf("accepted dependency %+v", d)
			}
		}
		Unsupported(k.SourceRef.Kind)
		if !SelfRef(k, k.SourceRef, k.Path) {
			t.Errorf("SelfRef is false for the unit's own source and path: %+v", k)
		}
		levels, err := Order([]*Kustomization{k})
		if err == nil {
			Dependents(levels, k.Ref())
		}
	})
}

// operatorKept is what an accepted Flux v1 HelmRelease promises: a
// release name Helm takes, one chart source, and paths inside the
// clone and the chart, no value read from a URL.
func operatorKept(h *HelmRelease) bool {
	if h == nil || h.ReleaseName == "" || len(h.ReleaseName) > 53 || (h.Repository == nil) == (h.Git == nil) || h.Chart == "" {
		return false
	}
	if h.Git != nil && !inside(h.Chart) {
		return false
	}
	for _, v := range h.ValuesFrom {
		if v.Kind != "ConfigMap" && v.Kind != "Secret" && v.Kind != "ChartFile" || v.Name == "" || v.Kind == "ChartFile" && !inside(v.Name) {
			return false
		}
	}
	return true
}
