package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/tidegate/tidegate/images/registrytest"
)

// helmImagesFiles is a repository of HelmReleases only: a Flux v2 one
// with setter markers in its values, and helm-operator ones automated
// with Flux v1 annotations (a filtered chart-image, a mapped alias, a
// locked and a manual release).
func helmImagesFiles(host string) map[string]string {
	return map[string]string{
		"flux/policy.yaml": fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: web, namespace: flux-system}
spec: {image: %s/team/web}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: web, namespace: flux-system}
spec:
  imageRepositoryRef: {name: web}
  policy: {semver: {range: "1.x"}}
`, host),
		"apps/v2.yaml": fmt.Sprintf(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: web2
  namespace: apps
spec:
  chart:
    spec: {chart: web, sourceRef: {kind: HelmRepository, name: charts}}
  values:
    image:
      repository: %s/team/web # {"$imagepolicy": "flux-system:web:name"}
      tag: 1.0.0 # {"$imagepolicy": "flux-system:web:tag"}
`, host),
		"apps/v1.yaml": fmt.Sprintf(`apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: web
  namespace: apps
  annotations:
    fluxcd.io/automated: "true"
    filter.fluxcd.io/chart-image: semver:~1.0
    repository.fluxcd.io/worker: jobs.repo
    tag.fluxcd.io/worker: jobs.tag
    filter.fluxcd.io/worker: glob:1.2.*
spec:
  chart: {repository: https://charts.example/, name: web, version: 1.0.0}
  values:
    image:
      repository: %[1]s/team/web
      tag: "1.0.0" # the chart's own default is 0.9
    jobs:
      repo: %[1]s/team/web
      tag: '1.0.0'
---
apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: frozen
  namespace: apps
  annotations:
    fluxcd.io/automated: "true"
    fluxcd.io/locked: "true"
spec:
  chart: {repository: https://charts.example/, name: web, version: 1.0.0}
  values:
    image: %[1]s/team/web:1.0.0 # frozen
---
apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: manual
  namespace: apps
spec:
  chart: {repository: https://charts.example/, name: web, version: 1.0.0}
  values:
    sidecar:
      image: %[1]s/team/web:1.0.0
`, host),
	}
}

// TestImagesHelmReleases drives images list and update and workloads
// list on HelmReleases, against the in-process registry's real tags.
func TestImagesHelmReleases(t *testing.T) {
	reg := registrytest.New(t)
	for i, tag := range []string{"0.9.0", "1.0.0", "1.0.3", "1.2.0", "1.2.5", "2.0.0"} {
		registrytest.Push(t, reg.Host(), reg.Auth(), "team/web", time.Unix(int64(i)*3600, 0), tag)
	}
	host := reg.Host()
	files := helmImagesFiles(host)
	dir := writeTree(t, files)
	line := func(file, s string) string { return fmt.Sprintf("%s:%d", file, lineOf(t, files[file], s)) }
	flags := func() (SourceFlags, RegistryFlags) {
		return SourceFlags{Source: dir, Path: []string{"."}}, RegistryFlags{DockerConfig: t.TempDir(), InsecureRegistry: []string{host}}
	}
	ctx := context.Background()

	t.Run("images list", func(t *testing.T) {
		g, out, _ := testGlobals("text")
		s, r := flags()
		if err := (&ImagesListCmd{SourceFlags: s, RegistryFlags: r, Limit: 2}).Run(ctx, g); err != nil {
			t.Fatal(err)
		}
		t.Logf("tidegate images list:\n%s", out)
		var heads []string
		for _, row := range tableRows(out.String()) {
			if !strings.HasPrefix(row, "|") && !strings.HasPrefix(row, "'") {
				heads = append(heads, row)
			}
		}
		want := []string{
			"OBJECT CONTAINER LOCATION POLICY IMAGE STATUS",
			"HelmRelease.helm.fluxcd.io/apps/web chart-image " + line("apps/v1.yaml", `tag: "1.0.0" #`) + " semver:~1.0 " + host + "/team/web update -> 1.0.3",
			"HelmRelease.helm.fluxcd.io/apps/web worker " + line("apps/v1.yaml", "tag: '1.0.0'") + " glob:1.2.* " + host + "/team/web update -> 1.2.5",
			"HelmRelease.helm.fluxcd.io/apps/frozen chart-image " + line("apps/v1.yaml", "# frozen") + " glob:* " + host + "/team/web locked: the workload is locked or ignored (fluxcd.io/locked, fluxcd.io/ignore)",
			"HelmRelease.helm.toolkit.fluxcd.io/apps/web2 image " + line("apps/v2.yaml", "repository:") + " flux-system:web:name " + host + "/team/web up-to-date",
			"HelmRelease.helm.toolkit.fluxcd.io/apps/web2 image " + line("apps/v2.yaml", "tag:") + " flux-system:web:tag " + host + "/team/web update -> 1.2.5",
		}
		if diff := cmp.Diff(want, heads); diff != "" {
			t.Errorf("entries (-want +got):\n%s", diff)
		}
		for _, w := range []string{"|   1.0.3 (selected)", "'-> 1.0.0", "|   1.2.5 (selected)"} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("output lacks %q", w)
			}
		}
	})

	t.Run("workloads list", func(t *testing.T) {
		g, out, _ := testGlobals("json")
		if err := (&WorkloadsListCmd{SourceFlags: SourceFlags{Source: dir, Path: []string{"apps"}}}).Run(ctx, g); err != nil {
			t.Fatal(err)
		}
		var got []workloadRow
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		v1 := "apps/v1.yaml"
		at := func(s string) int { return lineOf(t, files[v1], s) }
		w := func(name string, cs ...containerRow) workloadRow {
			return workloadRow{Workload: "apps:helmrelease/" + name, Namespace: "apps", Kind: "HelmRelease", Name: name, Containers: cs}
		}
		want := []workloadRow{
			w("frozen", containerRow{Name: "chart-image", Image: host + "/team/web:1.0.0", Policy: containerPolicy{Automated: true, Locked: true, Filter: "glob:*", File: v1, Line: at("fluxcd.io/locked")}}),
			w("manual", containerRow{Name: "sidecar", Image: host + "/team/web:1.0.0"}),
			w("web",
				containerRow{Name: "chart-image", Image: host + "/team/web:1.0.0", Policy: containerPolicy{Automated: true, Filter: "semver:~1.0", File: v1, Line: at(`tag: "1.0.0" #`)}},
				containerRow{Name: "worker", Image: host + "/team/web:1.0.0", Policy: containerPolicy{Automated: true, Filter: "glob:1.2.*", File: v1, Line: at("tag: '1.0.0'")}}),
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(workloadRow{})); diff != "" {
			t.Errorf("workloads (-want +got):\n%s", diff)
		}
	})

	t.Run("images update", func(t *testing.T) {
		g, out, _ := testGlobals("text")
		s, r := flags()
		if err := (&ImagesUpdateCmd{SourceFlags: s, RegistryFlags: r, DryRun: true}).Run(ctx, g); Code(err) != ExitChanges {
			t.Fatalf("dry run: exit %d (%v), want %d", Code(err), err, ExitChanges)
		}
		if !strings.Contains(out.String(), "-      tag: \"1.0.0\" # the chart's own default is 0.9\n+      tag: \"1.0.3\" # the chart's own default is 0.9\n") {
			t.Errorf("dry-run diff:\n%s", out)
		}
		if now := readTreeStrings(t, dir); !cmp.Equal(now, files) {
			t.Fatalf("the dry run wrote:\n%s", cmp.Diff(files, now))
		}

		g, out, _ = testGlobals("text")
		if err := (&ImagesUpdateCmd{SourceFlags: s, RegistryFlags: r}).Run(ctx, g); err != nil {
			t.Fatal(err)
		}
		wantV1 := strings.Replace(files["apps/v1.yaml"], `tag: "1.0.0" # the`, `tag: "1.0.3" # the`, 1)
		wantV1 = strings.Replace(wantV1, "tag: '1.0.0'", "tag: '1.2.5'", 1)
		wantV2 := strings.Replace(files["apps/v2.yaml"], "tag: 1.0.0 #", "tag: 1.2.5 #", 1)
		now := readTreeStrings(t, dir)
		if diff := cmp.Diff(map[string]string{"apps/v1.yaml": wantV1, "apps/v2.yaml": wantV2, "flux/policy.yaml": files["flux/policy.yaml"]}, now); diff != "" {
			t.Errorf("tree after update (-want +got):\n%s", diff)
		}
		if !strings.Contains(out.String(), "3 image references updated in 2 files") {
			t.Errorf("output:\n%s", out)
		}
	})
}

func readTreeStrings(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHostileImagesHelmRelease: a helm-operator HelmRelease whose tag
// path leads outside spec.values. images update refuses it naming the
// file, line and object, with and without --dry-run; nothing is
// written, printed as a bump, or asked of the registry. workloads list
// still lists the release, without images, and says why in the log.
func TestHostileImagesHelmRelease(t *testing.T) {
	reg := registrytest.New(t)
	registrytest.Push(t, reg.Host(), reg.Auth(), "team/web", time.Unix(0, 0), "1.0.0", "1.0.1")
	host := reg.Host()
	files := map[string]string{"apps/bad.yaml": fmt.Sprintf(`apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: bad
  namespace: apps
  annotations:
    fluxcd.io/automated: "true"
    repository.fluxcd.io/app: image.repository
    tag.fluxcd.io/app: ..metadata.annotations.secret
spec:
  chart: {repository: https://charts.example/, name: web, version: 1.0.0}
  values:
    image:
      repository: %s/team/web
      tag: 1.0.0
`, host)}
	dir := writeTree(t, files)
	asked := len(reg.Requests())
	ctx := context.Background()
	for _, dryRun := range []bool{true, false} {
		g, out, _ := testGlobals("text")
		err := (&ImagesUpdateCmd{SourceFlags: SourceFlags{Source: dir, Path: []string{"."}},
			RegistryFlags: RegistryFlags{DockerConfig: t.TempDir(), InsecureRegistry: []string{host}}, DryRun: dryRun}).Run(ctx, g)
		if Code(err) != ExitFailure {
			t.Fatalf("dry run %v: exit %d (%v), want %d", dryRun, Code(err), err, ExitFailure)
		}
		for _, want := range []string{"apps/bad.yaml:9: HelmRelease.helm.fluxcd.io/apps/bad: annotation tag.fluxcd.io/app", "leads outside spec.values", "nothing in the release is changed"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("dry run %v: error lacks %q: %v", dryRun, want, err)
			}
		}
		if strings.Contains(out.String(), "1.0.1") {
			t.Errorf("dry run %v: printed a bump for the refused release:\n%s", dryRun, out)
		}
	}
	if now := readTreeStrings(t, dir); !cmp.Equal(now, files) {
		t.Errorf("the refused release was written:\n%s", cmp.Diff(files, now))
	}
	if got := reg.Requests()[asked:]; len(got) != 0 {
		t.Errorf("the registry was asked about a refused release: %+v", got)
	}

	g, out, errb := testGlobals("text")
	if err := (&WorkloadsListCmd{SourceFlags: SourceFlags{Source: dir, Path: []string{"apps"}}}).Run(ctx, g); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"WORKLOAD CONTAINER IMAGE POLICY LOCATION", "apps:helmrelease/bad - - - -"}, tableRows(out.String())); diff != "" {
		t.Errorf("workloads list (-want +got):\n%s", diff)
	}
	if !strings.Contains(errb.String(), "leads outside spec.values") {
		t.Errorf("the log does not say why the release has no images:\n%s", errb)
	}
}

// TestWorkloadsListLiveHelmRelease reads a helm-operator HelmRelease
// from a real API server (its CRD installed for the test) and shows the
// image its values hold there next to the one in Git.
func TestWorkloadsListLiveHelmRelease(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	crds := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "helmreleases.helm.fluxcd.io"},
		"spec": map[string]any{
			"group": "helm.fluxcd.io", "scope": "Namespaced",
			"names": map[string]any{"plural": "helmreleases", "singular": "helmrelease", "kind": "HelmRelease", "listKind": "HelmReleaseList"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	if _, err := crds.Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = crds.Delete(context.Background(), "helmreleases.helm.fluxcd.io", metav1.DeleteOptions{}) })
	hrs := dyn.Resource(schema.GroupVersionResource{Group: "helm.fluxcd.io", Version: "v1", Resource: "helmreleases"}).Namespace(ns)
	live := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "helm.fluxcd.io/v1", "kind": "HelmRelease", "metadata": map[string]any{"name": "web"},
		"spec": map[string]any{"values": map[string]any{"image": map[string]any{"repository": "registry.example/web", "tag": "0.9.0"}}},
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err = hrs.Create(ctx, live, metav1.CreateOptions{}); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // until the CRD is established
	}
	if err != nil {
		t.Fatal(err)
	}

	dir := writeTree(t, map[string]string{"apps/web.yaml": `apiVersion: helm.fluxcd.io/v1
kind: HelmRelease
metadata:
  name: web
  namespace: ` + ns + `
  annotations:
    fluxcd.io/automated: "true"
    filter.fluxcd.io/chart-image: semver:~1.0
spec:
  values:
    image:
      repository: registry.example/web
      tag: 1.0.0
    worker:
      image: registry.example/worker:2.0
`})
	g, out := clusterGlobals(t, "text")
	cmd := &WorkloadsListCmd{SourceFlags: SourceFlags{Source: dir, Path: []string{"apps"}}, Live: true}
	if err := cmd.Run(ctx, g); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"WORKLOAD CONTAINER IMAGE LIVE POLICY LOCATION",
		ns + ":helmrelease/web chart-image registry.example/web:1.0.0 registry.example/web:0.9.0 automated semver:~1.0 apps/web.yaml:13",
		ns + ":helmrelease/web worker registry.example/worker:2.0 - automated glob:* apps/web.yaml:15",
	}
	if diff := cmp.Diff(want, tableRows(out.String())); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}
