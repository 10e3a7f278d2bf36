package fleet_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/images/registrytest"
	"github.com/tidegate/tidegate/internal/plaintext"
	"github.com/tidegate/tidegate/internal/sopstest"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/reconcile"
	"github.com/tidegate/tidegate/render"
	"github.com/tidegate/tidegate/source/sourcetest"
)

// copyTree copies the testdata repository into a directory the test may
// edit.
func copyTree(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// gitServer serves a repository holding files on branch main over git
// http-backend and returns its URL.
func gitServer(t *testing.T, files map[string]string) string {
	t.Helper()
	return gitServerLinks(t, files, nil)
}

// gitServerLinks is gitServer with symbolic links too (path → target),
// and tags pushed on the commit.
func gitServerLinks(t *testing.T, files, links map[string]string, tags ...string) string {
	t.Helper()
	root := t.TempDir()
	work := t.TempDir()
	git(t, root, "init", "-q", "--bare", "extras.git")
	git(t, work, "init", "-q", "-b", "main")
	for p, c := range files {
		if err := os.MkdirAll(filepath.Join(work, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, target := range links {
		if err := os.MkdirAll(filepath.Join(work, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(work, p)); err != nil {
			t.Fatal(err)
		}
	}
	git(t, work, "add", ".")
	git(t, work, "commit", "-q", "-m", "extras")
	git(t, work, "push", "-q", filepath.Join(root, "extras.git"), "main")
	for _, tag := range tags {
		git(t, work, "tag", tag)
		git(t, work, "push", "-q", filepath.Join(root, "extras.git"), tag)
	}
	srv := httptest.NewServer(sourcetest.HTTPBackend(t, root))
	t.Cleanup(srv.Close)
	return srv.URL + "/extras.git"
}

// pushArtifact pushes files as `flux push artifact` does: one gzipped
// tar layer of Flux's content type under Flux's config type.
func pushArtifact(t *testing.T, reg *registrytest.Registry, repo, tag string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for p, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, "application/vnd.cncf.flux.config.v1+json")
	img, err := mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(buf.Bytes(), "application/vnd.cncf.flux.content.v1.tar+gzip")})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.Host()+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
}

func configMapData(t *testing.T, ns, name string) (map[string]string, map[string]string) {
	t.Helper()
	cm, err := env.Client().CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ConfigMap %s/%s: %v", ns, name, err)
	}
	return cm.Data, cm.Labels
}

// TestFleetFluxRepository runs testdata/flux-fleet, a Flux fleet
// repository (bootstrap directory, infrastructure and apps units with
// dependsOn, patches, targetNamespace, postBuild with substituteFrom, a
// SOPS Secret, a tenant unit with its own ServiceAccount), plus a unit
// from a second GitRepository served by git http-backend and one from an
// OCIRepository artifact in a registry: reconciled, run again (nothing
// written), changed and pruned unit by unit.
func TestFleetFluxRepository(t *testing.T) {
	dir := copyTree(t, "../testdata/flux-fleet")
	key := sopstest.NewAgeKey(t)
	secret := sopstest.EncryptYAML(t, key.Recipient().String(), []byte(`apiVersion: v1
kind: Secret
metadata:
  name: cluster-secrets
  namespace: flux-system
stringData:
  GREETING: hi-from-sops
`))
	write := func(p string, b []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("clusters/production/cluster-secrets.yaml", secret)

	gitURL := gitServer(t, map[string]string{"extra/cm.yaml": configMap("apps", "from-git", "second repository")})
	reg := registrytest.New(t)
	pushArtifact(t, reg, "manifests", "v1.0.0", map[string]string{"cm.yaml": configMap("apps", "from-oci", "artifact")})
	write("clusters/production/sources.yaml", []byte(fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: extras
  namespace: flux-system
spec:
  interval: 5m
  url: %s
  ref:
    branch: main
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: manifests
  namespace: flux-system
spec:
  interval: 5m
  url: oci://%s/manifests
  insecure: true
  ref:
    semver: ">=1.0.0"
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: extras
  namespace: flux-system
spec:
  interval: 10m
  dependsOn:
    - name: infra-controllers
  sourceRef:
    kind: GitRepository
    name: extras
  path: ./extra
  prune: true
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: oci-app
  namespace: flux-system
spec:
  interval: 10m
  dependsOn:
    - name: infra-controllers
  sourceRef:
    kind: OCIRepository
    name: manifests
  path: ./
  prune: true
`, gitURL, reg.Host())))

	plain := plaintext.New()
	o := fleet.Options{
		Run: reconcile.Options{
			Source:    "ssh://git@example.com/fleet/fleet-infra",
			Root:      dir,
			Paths:     []string{"clusters/production"},
			Render:    render.Options{Keys: render.Keys{Age: []string{key.String()}}, Plaintext: plain},
			Inventory: inventory.Parent{Kind: "ConfigMap", Namespace: "default", Name: "tidegate"},
			Prune:     true,
			Drift:     reconcile.DriftRevert,
		},
		Sources: fleet.NetSources{},
	}
	rep, err := run(t, o)
	if err != nil {
		for _, u := range rep.Units {
			t.Logf("unit %s: %s %s", u.Name, u.Status, u.Reason)
		}
		t.Fatalf("first run: %v", err)
	}
	wantUnits := map[string]reconcile.UnitStatus{}
	for _, n := range []string{"flux-system/flux-system", "flux-system/infra-controllers", "flux-system/infra-configs", "flux-system/apps", "team-a/team-a", "flux-system/extras", "flux-system/oci-app"} {
		wantUnits[n] = reconcile.UnitReconciled
	}
	if d := diffMaps(wantUnits, statuses(rep)); d != "" {
		t.Fatalf("units: %s", d)
	}

	// The apps unit: targetNamespace, the patch, and variables from
	// postBuild.substitute, the cluster-vars ConfigMap and the SOPS
	// Secret, all from this run's render.
	data, labels := configMapData(t, "apps", "podinfo-config")
	for k, v := range map[string]string{"cluster": "production", "tier": "gold", "greeting": "hi-from-sops"} {
		if data[k] != v {
			t.Errorf("podinfo-config %s = %q, want %q", k, data[k], v)
		}
	}
	if labels["tier"] != "frontend" {
		t.Errorf("podinfo-config was not patched: labels %v", labels)
	}
	if data, _ := configMapData(t, "apps", "ingress-defaults"); data["domain"] != "prod.example.com" {
		t.Errorf("infra-configs' substitution: %v", data)
	}
	for _, cm := range [][2]string{{"team-a", "team-a-settings"}, {"apps", "from-git"}, {"apps", "from-oci"}, {"flux-system", "cluster-vars"}} {
		configMapData(t, cm[0], cm[1])
	}
	// Flux's own objects were read, not applied.
	ctx := context.Background()
	if _, err := env.Client().AppsV1().Deployments("flux-system").Get(ctx, "kustomize-controller", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Flux's controller was applied: %v", err)
	}
	if skipped := actions(rep)["flux-system/flux-system Kustomization.kustomize.toolkit.fluxcd.io/flux-system/apps"]; skipped != reconcile.Skipped {
		t.Errorf("the apps Kustomization object: %q, want skipped", skipped)
	}
	// The tenant's unit ran as its ServiceAccount, created by
	// infra-controllers, which it depends on.
	if inv := unit(rep, "team-a/team-a").Inventory; !strings.Contains(inv, "team-a/tidegate.team-a") {
		t.Errorf("tenant inventory %q", inv)
	}
	// No decrypted or substituted secret value in the report.
	if b, _ := json.Marshal(rep); strings.Contains(string(b), "hi-from-sops") {
		t.Error("the report holds a value from the SOPS Secret")
	}

	rep, err = run(t, o)
	if err != nil {
		t.Fatalf("no-op run: %v", err)
	}
	if rep.Changed() {
		t.Fatalf("no-op run changed objects: %v", actions(rep))
	}

	// A change in one unit, and a removal in the tenant's.
	write("infrastructure/configs/ingress-class.yaml", []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: ingress-defaults
  namespace: apps
data:
  domain: ${CLUSTER_DOMAIN}
  cluster: ${CLUSTER_NAME}
  class: nginx
`))
	if err := os.Remove(filepath.Join(dir, "tenants/team-a/config.yaml")); err != nil {
		t.Fatal(err)
	}
	write("tenants/team-a/other.yaml", []byte(configMap("team-a", "team-a-other", "1")))
	rep, err = run(t, o)
	if err != nil {
		t.Fatalf("change run: %v", err)
	}
	got := actions(rep)
	for k, want := range map[string]reconcile.Action{
		"flux-system/infra-configs ConfigMap/apps/ingress-defaults": reconcile.Configured,
		"team-a/team-a ConfigMap/team-a/team-a-settings":            reconcile.Deleted,
		"team-a/team-a ConfigMap/team-a/team-a-other":               reconcile.Created,
		"flux-system/apps ConfigMap/apps/podinfo-config":            reconcile.Unchanged,
	} {
		if got[k] != want {
			t.Errorf("%s: %q, want %q", k, got[k], want)
		}
	}
	if _, err := env.Client().CoreV1().ConfigMaps("team-a").Get(ctx, "team-a-settings", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the tenant's removed object is still there: %v", err)
	}
}

func diffMaps[K comparable, V comparable](want, got map[K]V) string {
	var b strings.Builder
	for k, v := range want {
		if got[k] != v {
			fmt.Fprintf(&b, "%v: got %v, want %v; ", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "%v: unexpected %v; ", k, v)
		}
	}
	return b.String()
}
