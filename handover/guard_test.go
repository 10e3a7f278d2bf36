package handover_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/tidegate/tidegate/handover"
	"github.com/tidegate/tidegate/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

var (
	kustomizations = func(version string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: handover.Group, Version: version, Resource: "kustomizations"}
	}
	gitRepositories = schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
	helmReleases    = schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}
	crds            = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// writes records every request that is not a read, to prove what Guard
// did not write.
type writes struct {
	mu  sync.Mutex
	log []string
}

func (w *writes) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.mu.Lock()
			w.log = append(w.log, r.Method+" "+r.URL.Path)
			w.mu.Unlock()
		}
		return rt.RoundTrip(r)
	})
}

func (w *writes) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.log...)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// guard calls Guard as the orchestrator does, with a fresh discovery
// mapper (the cluster's kinds as they are now), recording its writes.
func guard(t *testing.T, cfg *rest.Config, ns, name string, suspend, dryRun bool) (handover.State, []string, error) {
	t.Helper()
	w := &writes{}
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = w.wrap
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := handover.Guard(context.Background(), dyn, restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), ns, name, suspend, dryRun)
	return st, w.get(), err
}

func admin(t *testing.T) dynamic.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}

// installCRDs applies the CRDs of a testdata file and waits until the
// API server serves every version they name.
func installCRDs(t *testing.T, file string) {
	t.Helper()
	ctx := context.Background()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	dyn := admin(t)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		body, _ := u.MarshalJSON()
		force := true
		if _, err := dyn.Resource(crds).Patch(ctx, u.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "test", Force: &force}); err != nil {
			t.Fatalf("install %s: %v", u.GetName(), err)
		}
		group, _, _ := unstructured.NestedString(u.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(u.Object, "spec", "names", "plural")
		versions, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
		for _, v := range versions {
			gvr := schema.GroupVersionResource{Group: group, Version: v.(map[string]any)["name"].(string), Resource: plural}
			err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				_, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
				return err == nil, nil
			})
			if err != nil {
				t.Fatalf("%s is not served: %v", gvr, err)
			}
		}
	}
}

var installOnce sync.Once

// flux installs the v1beta2-only Kustomization CRD and the source and
// helm CRDs once per test binary.
func flux(t *testing.T) {
	t.Helper()
	installOnce.Do(func() {
		installCRDs(t, "kustomization-crd-v1beta2.yaml")
		installCRDs(t, "source-crds.yaml")
	})
}

// create makes a Flux object as flux bootstrap leaves it, spec as given.
func create(t *testing.T, gvr schema.GroupVersionResource, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvr.GroupVersion().String(), "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     spec,
	}}
	out, err := admin(t).Resource(gvr).Namespace(ns).Create(context.Background(), u, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create %s %s/%s: %v", kind, ns, name, err)
	}
	return out
}

func get(t *testing.T, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := admin(t).Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func ksSpec(extra map[string]any) map[string]any {
	spec := map[string]any{
		"interval":  "10m",
		"path":      "./apps/production",
		"prune":     true,
		"sourceRef": map[string]any{"kind": "GitRepository", "name": "flux-system"},
	}
	for k, v := range extra {
		spec[k] = v
	}
	return spec
}

// TestGuardWithoutFlux must run before any test installs the CRDs: on a
// cluster without Flux every unit may run, and nothing is written.
func TestGuardWithoutFlux(t *testing.T) {
	for _, suspend := range []bool{false, true} {
		st, w, err := guard(t, env.Config, "flux-system", "apps", suspend, false)
		if err != nil {
			t.Fatalf("suspend=%v: %v", suspend, err)
		}
		if st.Status != handover.NotInstalled || st.APIVersion != "" || !st.Safe() {
			t.Errorf("suspend=%v: %+v, want Flux not installed", suspend, st)
		}
		if !strings.Contains(st.String(), "Flux not installed") || !strings.Contains(st.String(), "Kustomization.kustomize.toolkit.fluxcd.io/flux-system/apps") {
			t.Errorf("String() = %q", st.String())
		}
		if len(w) > 0 {
			t.Errorf("suspend=%v wrote %v", suspend, w)
		}
	}
}

func TestGuard(t *testing.T) {
	flux(t)
	t.Run("absent", func(t *testing.T) {
		ns := env.Namespace(t)
		st, w, err := guard(t, env.Config, ns, "apps", true, false)
		if err != nil || st.Status != handover.Absent || st.APIVersion == "" || len(w) > 0 {
			t.Errorf("%+v %v, writes %v; want absent, nothing written", st, err, w)
		}
	})

	t.Run("already suspended", func(t *testing.T) {
		ns := env.Namespace(t)
		before := create(t, kustomizations("v1beta2"), "Kustomization", ns, "apps", ksSpec(map[string]any{"suspend": true}))
		for _, suspend := range []bool{false, true} {
			st, w, err := guard(t, env.Config, ns, "apps", suspend, false)
			if err != nil || st.Status != handover.AlreadySuspended || len(w) > 0 {
				t.Errorf("suspend=%v: %+v %v, writes %v; want already suspended, nothing written", suspend, st, err, w)
			}
		}
		if after := get(t, kustomizations("v1beta2"), ns, "apps"); after.GetResourceVersion() != before.GetResourceVersion() {
			t.Error("a suspended Kustomization was written")
		}
	})

	t.Run("--suspend-flux in a dry-run writes nothing", func(t *testing.T) {
		ns := env.Namespace(t)
		before := create(t, kustomizations("v1beta2"), "Kustomization", ns, "apps", ksSpec(nil))
		st, w, err := guard(t, env.Config, ns, "apps", true, true)
		if err != nil || st.Status != handover.WouldSuspend || !st.Safe() {
			t.Errorf("%+v %v, want would suspend", st, err)
		}
		if len(w) > 0 {
			t.Errorf("a dry-run wrote %v", w)
		}
		after := get(t, kustomizations("v1beta2"), ns, "apps")
		if suspended, _, _ := unstructured.NestedBool(after.Object, "spec", "suspend"); suspended || after.GetResourceVersion() != before.GetResourceVersion() {
			t.Error("a dry-run suspended the Kustomization")
		}
	})

	t.Run("--suspend-flux suspends that Kustomization and nothing else", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, kustomizations("v1beta2"), "Kustomization", ns, "apps", ksSpec(map[string]any{"suspend": false}))
		other := create(t, kustomizations("v1beta2"), "Kustomization", ns, "infra", ksSpec(nil))
		repo := create(t, gitRepositories, "GitRepository", ns, "flux-system", map[string]any{"interval": "1m", "url": "https://example.invalid/fleet", "ref": map[string]any{"branch": "main"}})
		release := create(t, helmReleases, "HelmRelease", ns, "apps", map[string]any{"interval": "5m", "chart": map[string]any{"spec": map[string]any{"chart": "podinfo"}}})

		st, w, err := guard(t, env.Config, ns, "apps", true, false)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != handover.Suspended || !strings.Contains(st.String(), ns+"/apps: suspended by tidegate") {
			t.Errorf("%+v (%s), want suspended by tidegate", st, st)
		}
		if want := "PATCH /apis/kustomize.toolkit.fluxcd.io/v1beta2/namespaces/" + ns + "/kustomizations/apps"; len(w) != 1 || w[0] != want {
			t.Errorf("writes %v, want exactly %s", w, want)
		}
		after := get(t, kustomizations("v1beta2"), ns, "apps")
		if suspended, _, _ := unstructured.NestedBool(after.Object, "spec", "suspend"); !suspended {
			t.Error("spec.suspend is not true")
		}
		// The rest of the spec is as Flux's bootstrap left it.
		if path, _, _ := unstructured.NestedString(after.Object, "spec", "path"); path != "./apps/production" {
			t.Errorf("spec.path = %q", path)
		}
		if prune, _, _ := unstructured.NestedBool(after.Object, "spec", "prune"); !prune {
			t.Error("spec.prune changed")
		}
		for _, u := range []struct {
			gvr    schema.GroupVersionResource
			before *unstructured.Unstructured
		}{{kustomizations("v1beta2"), other}, {gitRepositories, repo}, {helmReleases, release}} {
			if got := get(t, u.gvr, ns, u.before.GetName()); got.GetResourceVersion() != u.before.GetResourceVersion() {
				t.Errorf("%s %s was written", u.before.GetKind(), u.before.GetName())
			}
		}
		// Now suspended: the next run passes without writing.
		st, w, err = guard(t, env.Config, ns, "apps", true, false)
		if err != nil || st.Status != handover.AlreadySuspended || len(w) > 0 {
			t.Errorf("second guard: %+v %v, writes %v", st, err, w)
		}
	})

	t.Run("no RBAC for Flux's objects", func(t *testing.T) {
		ns := env.Namespace(t)
		create(t, kustomizations("v1beta2"), "Kustomization", ns, "apps", ksSpec(nil))
		cfg, err := env.AddUser("guard-no-rbac-" + ns)
		if err != nil {
			t.Fatal(err)
		}
		_, w, err := guard(t, cfg, ns, "apps", true, false)
		if err == nil || !strings.Contains(err.Error(), "Kustomization.kustomize.toolkit.fluxcd.io/"+ns+"/apps") || !strings.Contains(err.Error(), "needs get and patch on kustomizations.kustomize.toolkit.fluxcd.io") {
			t.Errorf("err = %v, want the RBAC it needs", err)
		}
		if len(w) > 0 {
			t.Errorf("wrote %v", w)
		}
	})
}

// TestHostileGuard: a Kustomization that Flux still reconciles refuses
// its unit, with the command that suspends it, and Guard writes nothing.
func TestHostileGuard(t *testing.T) {
	flux(t)
	for _, tc := range []struct {
		name   string
		spec   map[string]any
		dryRun bool
	}{
		{"spec.suspend unset", ksSpec(nil), false},
		{"spec.suspend: false", ksSpec(map[string]any{"suspend": false}), false},
		{"in a dry-run", ksSpec(nil), true},
		// Only the boolean true suspends it in Flux (the API would
		// reject anything else; this CRD's schema does not).
		{"spec.suspend: \"true\", a string", ksSpec(map[string]any{"suspend": "true"}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := env.Namespace(t)
			before := create(t, kustomizations("v1beta2"), "Kustomization", ns, "apps", tc.spec)
			st, w, err := guard(t, env.Config, ns, "apps", false, tc.dryRun)
			var live *handover.LiveError
			if !errors.As(err, &live) {
				t.Fatalf("err = %v, want a *LiveError", err)
			}
			t.Logf("refused: %v", err)
			for _, f := range []string{"Kustomization.kustomize.toolkit.fluxcd.io/" + ns + "/apps:", "two reconcilers", "--suspend-flux", "flux suspend kustomization apps -n " + ns} {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("the refusal does not say %q", f)
				}
			}
			if st.Status != handover.Live || st.Safe() {
				t.Errorf("state %+v, want live and not safe", st)
			}
			if len(w) > 0 {
				t.Errorf("a refused guard wrote %v", w)
			}
			if after := get(t, kustomizations("v1beta2"), ns, "apps"); after.GetResourceVersion() != before.GetResourceVersion() {
				t.Error("the live Kustomization was written")
			}
		})
	}
}

// TestGuardFollowsTheServedVersion: Guard reads Flux's Kustomization at
// the version the cluster prefers, before and after a Flux upgrade that
// adds v1. It runs last: it changes the CRD for the whole binary.
func TestGuardFollowsTheServedVersion(t *testing.T) {
	flux(t)
	ns := env.Namespace(t)
	create(t, kustomizations("v1beta2"), "Kustomization", ns, "apps", ksSpec(nil))
	st, _, err := guard(t, env.Config, ns, "apps", false, true)
	if st.APIVersion != handover.Group+"/v1beta2" || err == nil {
		t.Errorf("before the upgrade: %+v %v, want live at v1beta2", st, err)
	}
	installCRDs(t, "kustomization-crd.yaml")
	st, w, err := guard(t, env.Config, ns, "apps", true, false)
	if err != nil || st.APIVersion != handover.Group+"/v1" || st.Status != handover.Suspended {
		t.Errorf("after the upgrade: %+v %v, want suspended at v1", st, err)
	}
	if len(w) != 1 || !strings.Contains(w[0], "/kustomize.toolkit.fluxcd.io/v1/") {
		t.Errorf("writes %v, want one patch at v1", w)
	}
	if suspended, _, _ := unstructured.NestedBool(get(t, kustomizations("v1beta2"), ns, "apps").Object, "spec", "suspend"); !suspended {
		t.Error("not suspended when read at v1beta2")
	}
}
