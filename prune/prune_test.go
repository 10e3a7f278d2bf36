package prune_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/tidegate/tidegate/internal/testenv"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/prune"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

func dynamicClient(t *testing.T, cfg *rest.Config) dynamic.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}

func mapper(t *testing.T) *restmapper.DeferredDiscoveryRESTMapper {
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
}

// members creates n labelled ConfigMaps and returns their IDs.
func members(t *testing.T, ns, id string, n int, extra func(i int, cm *corev1.ConfigMap)) []object.ID {
	t.Helper()
	var out []object.ID
	for i := 0; i < n; i++ {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "m" + string(rune('a'+i)), Namespace: ns, Labels: map[string]string{inventory.PartOfLabel: id}}}
		if extra != nil {
			extra(i, cm)
		}
		if _, err := env.Client().CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		out = append(out, object.ID{Kind: "ConfigMap", Namespace: ns, Name: cm.Name})
	}
	return out
}

func exists(t *testing.T, id object.ID) bool {
	t.Helper()
	_, err := env.Client().CoreV1().ConfigMaps(id.Namespace).Get(context.Background(), id.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func TestGuards(t *testing.T) {
	ns := env.Namespace(t)
	id := inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "guards"}.ID()
	ids := members(t, ns, id, 10, nil)
	dyn := dynamicClient(t, env.Config)
	ctx := context.Background()

	t.Run("empty render", func(t *testing.T) {
		p := prune.NewPruner(dyn, mapper(t), id, prune.Options{})
		res, err := p.Prune(ctx, ids, len(ids), 0)
		if !errors.Is(err, prune.ErrMassPrune) || !strings.Contains(err.Error(), "--allow-mass-prune") {
			t.Fatalf("err = %v", err)
		}
		if len(res.Deleted) != 0 || !exists(t, ids[0]) {
			t.Error("an empty render deleted something")
		}
	})
	t.Run("more than the share", func(t *testing.T) {
		p := prune.NewPruner(dyn, mapper(t), id, prune.Options{MaxShare: 0.3})
		_, err := p.Prune(ctx, ids[:4], len(ids), 6)
		if !errors.Is(err, prune.ErrMassPrune) || !strings.Contains(err.Error(), "4 of 10") {
			t.Fatalf("err = %v", err)
		}
		if !exists(t, ids[0]) {
			t.Error("a refused prune deleted something")
		}
	})
	t.Run("within the share", func(t *testing.T) {
		p := prune.NewPruner(dyn, mapper(t), id, prune.Options{MaxShare: 0.3})
		res, err := p.Prune(ctx, ids[:3], len(ids), 7)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(ids[:3], res.Deleted); d != "" {
			t.Errorf("deleted (-want +got):\n%s", d)
		}
	})
	t.Run("allowed mass prune", func(t *testing.T) {
		p := prune.NewPruner(dyn, mapper(t), id, prune.Options{AllowMassPrune: true})
		res, err := p.Prune(ctx, ids[3:], len(ids)-3, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Deleted) != 7 || exists(t, ids[9]) {
			t.Errorf("deleted %d", len(res.Deleted))
		}
	})
	t.Run("small inventories may shrink", func(t *testing.T) {
		p := prune.NewPruner(dyn, mapper(t), id, prune.Options{})
		if err := p.Guard(3, 4, 1); err != nil {
			t.Errorf("3 of 4: %v", err)
		}
	})
}

func TestOnlyOursAndNotOptedOut(t *testing.T) {
	ns := env.Namespace(t)
	id := inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "ours"}.ID()
	otherID := inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "theirs"}.ID()
	optOuts := []map[string]string{
		{"tidegate.dev/prune": "disabled"},
		{"kustomize.toolkit.fluxcd.io/prune": "disabled"},
		{"argocd.argoproj.io/sync-options": "ServerSideApply=true,Prune=false"},
		{"cli-utils.sigs.k8s.io/on-remove": "keep"},
	}
	ids := members(t, ns, id, 8, func(i int, cm *corev1.ConfigMap) {
		switch {
		case i < 4:
			cm.Annotations = optOuts[i]
		case i == 4:
			delete(cm.Labels, inventory.PartOfLabel) // someone else's, same name
		case i == 5:
			cm.Labels[inventory.PartOfLabel] = otherID // another inventory's
		}
	})
	gone := object.ID{Kind: "ConfigMap", Namespace: ns, Name: "never-existed"}
	p := prune.NewPruner(dynamicClient(t, env.Config), mapper(t), id, prune.Options{AllowMassPrune: true})
	res, err := p.Prune(context.Background(), append(ids, gone), 9, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ids[6:], res.Deleted); d != "" {
		t.Errorf("deleted (-want +got):\n%s", d)
	}
	if len(res.Skipped) != 7 {
		t.Errorf("skipped = %+v", res.Skipped)
	}
	for _, i := range []int{0, 1, 2, 3, 4, 5} {
		if !exists(t, ids[i]) {
			t.Errorf("%s was deleted", ids[i])
		}
	}
	for _, s := range res.Skipped {
		if s.Reason == "" {
			t.Errorf("%s skipped without a reason", s.ID)
		}
	}
}

// orderTransport records DELETE paths in the order they are sent.
type orderTransport struct {
	rt    http.RoundTripper
	mu    *sync.Mutex
	paths *[]string
}

func (o orderTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodDelete {
		o.mu.Lock()
		*o.paths = append(*o.paths, r.URL.Path)
		o.mu.Unlock()
	}
	return o.rt.RoundTrip(r)
}

func TestReverseOrderAndDryRun(t *testing.T) {
	ns := env.Namespace(t)
	id := inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "order"}.ID()
	ctx := context.Background()
	nsName := ns + "-gone"
	if _, err := env.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName, Labels: map[string]string{inventory.PartOfLabel: id}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ns + "-role", Labels: map[string]string{inventory.PartOfLabel: id}}}
	if _, err := env.Client().RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cms := members(t, ns, id, 2, nil)
	stale := append([]object.ID{{Kind: "Namespace", Name: nsName}, {Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: cr.Name}}, cms...)

	var mu sync.Mutex
	var paths []string
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return orderTransport{rt, &mu, &paths} }

	dry := prune.NewPruner(dynamicClient(t, cfg), mapper(t), id, prune.Options{AllowMassPrune: true, DryRun: true})
	res, err := dry.Prune(ctx, stale, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 4 || !exists(t, cms[0]) {
		t.Fatalf("dry-run: %+v; objects must still exist", res)
	}

	paths = nil
	p := prune.NewPruner(dynamicClient(t, cfg), mapper(t), id, prune.Options{AllowMassPrune: true})
	if _, err := p.Prune(ctx, stale, 4, 0); err != nil {
		t.Fatal(err)
	}
	if len(paths) != 4 {
		t.Fatalf("deletes: %v", paths)
	}
	if !strings.Contains(paths[0], "/configmaps/") || !strings.Contains(paths[1], "/configmaps/") ||
		!strings.Contains(paths[2], "/clusterroles/") || !strings.Contains(paths[3], "/namespaces/"+nsName) {
		t.Errorf("delete order = %v, want namespaced objects, then cluster-scoped, Namespaces last", paths)
	}
}

func TestFailedDeleteStaysInTheInventory(t *testing.T) {
	ns := env.Namespace(t)
	id := inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "rbac"}.ID()
	ids := members(t, ns, id, 2, nil)
	// A user who may read ConfigMaps but not delete them.
	user := "reader-" + ns
	cfg, err := env.AddUser(user)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "read", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}}}
	if _, err := env.Client().RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "read", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "read"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: user}}}
	if _, err := env.Client().RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := prune.NewPruner(dynamicClient(t, cfg), mapper(t), id, prune.Options{AllowMassPrune: true})
	res, err := p.Prune(ctx, ids, 2, 0)
	if err == nil || !strings.Contains(err.Error(), ids[0].String()) {
		t.Fatalf("err = %v, want errors naming the objects", err)
	}
	if d := cmp.Diff(ids, res.Remaining); d != "" {
		t.Errorf("remaining (-want +got):\n%s", d)
	}
	if !exists(t, ids[0]) {
		t.Error("object deleted despite RBAC")
	}
}

// methodCounter counts requests by method.
type methodCounter struct {
	rt     http.RoundTripper
	mu     sync.Mutex
	counts map[string]int
}

func (m *methodCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	m.mu.Lock()
	m.counts[r.Method]++
	m.mu.Unlock()
	return m.rt.RoundTrip(r)
}

// Objects the run has just read are deleted without reading them again,
// but only if they are unchanged since: one taken over by someone else
// meanwhile (its label changed) is read again and kept.
func TestKnownObjectsAreDeletedOnlyIfUnchanged(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	id := inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "known"}.ID()
	ids := members(t, ns, id, 3, nil)
	dyn := dynamicClient(t, env.Config)
	gvr := corev1.SchemeGroupVersion.WithResource("configmaps")
	known := map[object.ID]*unstructured.Unstructured{}
	list, err := dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		known[object.FromUnstructured(&list.Items[i])] = &list.Items[i]
	}
	if len(known) < 3 {
		t.Fatalf("listed %d objects", len(known))
	}
	// After the read, someone else takes ids[1] over.
	cm, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, ids[1].Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Labels[inventory.PartOfLabel] = "applyset-someone-else-v1"
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	counter := &methodCounter{counts: map[string]int{}}
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { counter.rt = rt; return counter }
	p := prune.NewPruner(dynamicClient(t, cfg), mapper(t), id, prune.Options{AllowMassPrune: true, Known: func(id object.ID) (*unstructured.Unstructured, bool) {
		o, ok := known[id]
		return o, ok
	}})
	res, err := p.Prune(ctx, ids, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]object.ID{ids[0], ids[2]}, res.Deleted); d != "" {
		t.Errorf("deleted (-want +got):\n%s", d)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].ID != ids[1] || !strings.Contains(res.Skipped[0].Reason, "label") {
		t.Errorf("skipped = %+v, want %s kept for its label", res.Skipped, ids[1])
	}
	if !exists(t, ids[1]) || exists(t, ids[0]) {
		t.Error("the wrong objects were deleted")
	}
	// Three DELETEs (one refused for its resourceVersion) and a single GET:
	// the re-read of the object that changed.
	if counter.counts[http.MethodGet] != 1 || counter.counts[http.MethodDelete] != 3 {
		t.Errorf("requests = %v, want 1 GET and 3 DELETE", counter.counts)
	}
}
