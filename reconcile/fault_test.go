package reconcile_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/tidegate/tidegate/internal/testenv"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/reconcile"
)

// TestFaultAPIServerStoppedMidApply kills the real kube-apiserver in the
// middle of an apply (after a few objects were written), then restarts
// it. The run must fail, prune nothing, and the next run must converge
// to Git without deleting anything it should not. The test runs its own
// API server: the others in this package would fail while it is down.
func TestFaultAPIServerStoppedMidApply(t *testing.T) {
	own, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { own.Stop() })
	ctx := context.Background()
	client := own.Client()
	ns := own.Namespace(t)
	// Not ours: a hand-made object and one of another inventory.
	other := inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "other"}
	outsiders := []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "by-hand", Namespace: ns}, Data: map[string]string{"v": "1"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Namespace: ns, Labels: map[string]string{inventory.PartOfLabel: other.ID()}}, Data: map[string]string{"v": "1"}},
	}
	for _, o := range outsiders {
		if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, o, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	snapshot := func() map[string]string {
		list, err := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, cm := range list.Items {
			out[cm.Name] = cm.ResourceVersion + " " + cm.Data["value"]
		}
		return out
	}

	r := newRepo(t)
	const n = 40
	for i := 0; i < n; i++ {
		r.write(fmt.Sprintf("cm-%02d.yaml", i), configMap(ns, fmt.Sprintf("cm-%02d", i), "v1"))
	}
	o := options(t, r, ns, func(o *reconcile.Options) { o.Concurrency = 1 })
	runOn := func(cfg *rest.Config) (*reconcile.Report, error) {
		rec, err := reconcile.New(cfg, o)
		if err != nil {
			t.Fatal(err)
		}
		return rec.Run(ctx)
	}
	if _, err := runOn(own.Config); err != nil {
		t.Fatal(err)
	}
	before := snapshot()

	// Git: ten removed, the rest changed, ten added.
	for i := 0; i < 10; i++ {
		r.remove(fmt.Sprintf("cm-%02d.yaml", i))
	}
	for i := 10; i < n+10; i++ {
		r.write(fmt.Sprintf("cm-%02d.yaml", i), configMap(ns, fmt.Sprintf("cm-%02d", i), "v2"))
	}

	// The fifth object PATCH (the inventory's is not counted) stops the
	// server before it is sent.
	var patches atomic.Int32
	var once sync.Once
	var restart func() error
	var stopErr error
	cfg := rest.CopyConfig(own.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodPatch && !strings.HasSuffix(req.URL.Path, "/"+o.Inventory.Name) && patches.Add(1) == 5 {
				once.Do(func() { restart, stopErr = own.StopAPIServer() })
			}
			return rt.RoundTrip(req)
		})
	}
	rep, err := runOn(cfg)
	if stopErr != nil {
		t.Fatal(stopErr)
	}
	if restart == nil {
		t.Fatalf("the run sent %d object patches and never reached the fifth: %v", patches.Load(), err)
	}
	if err == nil {
		t.Fatal("a run whose API server died mid-apply succeeded")
	}
	t.Logf("the run with the server stopped: %v", err)
	if rep.Counts[reconcile.Deleted] != 0 {
		t.Errorf("the failed run reports %d deletions", rep.Counts[reconcile.Deleted])
	}
	if err := restart(); err != nil {
		t.Fatal(err)
	}
	mid := snapshot()
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("cm-%02d", i)
		if mid[name] != before[name] {
			t.Errorf("%s, removed from Git, was pruned or changed by the failed run", name)
		}
	}

	rep, err = runOn(own.Config)
	if err != nil {
		t.Fatalf("the run after the restart: %v", err)
	}
	after := snapshot()
	for i := 10; i < n+10; i++ {
		name := fmt.Sprintf("cm-%02d", i)
		if !strings.HasSuffix(after[name], " v2") {
			t.Errorf("%s after convergence: %q, want Git's v2", name, after[name])
		}
	}
	for i := 0; i < 10; i++ {
		if _, ok := after[fmt.Sprintf("cm-%02d", i)]; ok {
			t.Errorf("cm-%02d was removed from Git but not pruned by the converging run", i)
		}
	}
	for _, o := range outsiders {
		if after[o.Name] != before[o.Name] {
			t.Errorf("%s, not in the inventory, was touched: %q -> %q", o.Name, before[o.Name], after[o.Name])
		}
	}
	if rep.Counts[reconcile.Deleted] != 10 {
		t.Errorf("the converging run deleted %d, want the 10 removed from Git", rep.Counts[reconcile.Deleted])
	}
	inv, err := inventory.NewStore(mustDynamic(t, own.Config), o.Inventory, "tidegate/test").Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Members) != n {
		t.Errorf("the inventory holds %d members, want %d", len(inv.Members), n)
	}
}

func mustDynamic(t *testing.T, cfg *rest.Config) dynamic.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}
