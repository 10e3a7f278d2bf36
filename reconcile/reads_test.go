package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/tidegate/tidegate/reconcile"
)

// reads records the GETs and LISTs of ConfigMaps in one namespace that
// a run sends, leaving out the inventory's own: diff and --drift=report
// work from the plan, which reads each object once.
type reads struct {
	mu   sync.Mutex
	ns   string
	seen []string
	next http.RoundTripper
}

func (r *reads) RoundTrip(req *http.Request) (*http.Response, error) {
	prefix := "/api/v1/namespaces/" + r.ns + "/configmaps"
	if req.Method == http.MethodGet && strings.HasPrefix(req.URL.Path, prefix) && req.URL.Path != prefix+"/inventory" {
		r.mu.Lock()
		r.seen = append(r.seen, req.URL.Path)
		r.mu.Unlock()
	}
	return r.next.RoundTrip(req)
}

func countingReconciler(t *testing.T, o reconcile.Options, ns string) (*reconcile.Reconciler, *reads) {
	t.Helper()
	rd := &reads{ns: ns}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper { rd.next = next; return rd })
	rec, err := reconcile.New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return rec, rd
}

func TestDiffReadsTheClusterOnce(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	for i := range 5 {
		r.write(fmt.Sprintf("cm%d.yaml", i), configMap(ns, fmt.Sprintf("cm%d", i), "1"))
	}
	o := options(t, r, ns)
	if _, err := run(t, o); err != nil {
		t.Fatal(err)
	}
	r.write("cm0.yaml", configMap(ns, "cm0", "2"))
	r.remove("cm4.yaml")

	rec, rd := countingReconciler(t, o, ns)
	rep, err := rec.Diff(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a := actions(rep); a["ConfigMap/"+ns+"/cm0"] != reconcile.Configured || a["ConfigMap/"+ns+"/cm4"] != reconcile.Deleted {
		t.Fatalf("diff actions = %v, want cm0 configured and cm4 deleted", a)
	}
	want := []string{"/api/v1/namespaces/" + ns + "/configmaps"}
	if fmt.Sprint(rd.seen) != fmt.Sprint(want) {
		t.Errorf("diff read the ConfigMaps with %q, want one LIST %q (the plan's, reused by the diff and the prune)", rd.seen, want)
	}
}

func TestDriftReportReadsTheClusterOnce(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	for i := range 5 {
		r.write(fmt.Sprintf("cm%d.yaml", i), configMap(ns, fmt.Sprintf("cm%d", i), "from git"))
	}
	o := options(t, r, ns)
	if _, err := run(t, o); err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"data":{"value":"by hand"}}`)
	if _, err := env.Client().CoreV1().ConfigMaps(ns).Patch(context.Background(), "cm1", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}

	o.Drift = reconcile.DriftReport
	rec, rd := countingReconciler(t, o, ns)
	rep, err := rec.Run(context.Background())
	if !errors.Is(err, reconcile.ErrDrift) {
		t.Fatalf("err = %v, want ErrDrift", err)
	}
	drifted := rep.Filter(reconcile.Drifted)
	if len(drifted) != 1 || drifted[0].Object() != "ConfigMap/"+ns+"/cm1" || !strings.Contains(drifted[0].Diff, "by hand") {
		t.Fatalf("drifted = %+v, want cm1 with a diff showing the hand edit", drifted)
	}
	want := []string{"/api/v1/namespaces/" + ns + "/configmaps"}
	if fmt.Sprint(rd.seen) != fmt.Sprint(want) {
		t.Errorf("--drift=report read the ConfigMaps with %q, want one LIST %q (the plan's, reused for the drift diff)", rd.seen, want)
	}
}
