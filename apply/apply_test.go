package apply_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/apply"
	"github.com/tidegate/tidegate/internal/testenv"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// counter records the API requests of a client, to prove what was sent
// and what was not.
type counter struct {
	mu   sync.Mutex
	sent []sent
}

type sent struct {
	method string
	url    url.URL
}

// get counts the requests sent with method.
func (c *counter) get(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.sent {
		if s.method == method {
			n++
		}
	}
	return n
}

// lists are the LISTs of resource sent, each as its label selector and
// limit ("selector|limit").
func (c *counter) lists(resource string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, s := range c.sent {
		if s.method == http.MethodGet && strings.HasSuffix(s.url.Path, "/"+resource) {
			out = append(out, s.url.Query().Get("labelSelector")+"|"+s.url.Query().Get("limit"))
		}
	}
	return out
}

func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = nil
}

type countingTransport struct {
	rt http.RoundTripper
	c  *counter
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.c.mu.Lock()
	t.c.sent = append(t.c.sent, sent{r.Method, *r.URL})
	t.c.mu.Unlock()
	return t.rt.RoundTrip(r)
}

func newManager(t *testing.T) (*apply.Manager, dynamic.Interface, *counter) {
	t.Helper()
	c := &counter{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt, c} }
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return apply.New(dyn, mapper, apply.Options{}), dyn, c
}

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	// Round trip through JSON types, as render delivers them.
	b, _ := u.MarshalJSON()
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	return out
}

func actions(cs *apply.ChangeSet) map[string]apply.Action {
	out := map[string]apply.Action{}
	for _, c := range cs.Changes {
		out[c.ID.String()] = c.Action
	}
	return out
}

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func TestCreateChangeNoop(t *testing.T) {
	ns := env.Namespace(t)
	m, dyn, count := newManager(t)
	ctx := context.Background()
	var objs []*unstructured.Unstructured
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		objs = append(objs, obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "+name+"\n  namespace: "+ns+"\ndata:\n  k: v1\n"))
	}
	cs, err := m.Apply(ctx, objs, apply.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for id, a := range actions(cs) {
		if a != apply.Created {
			t.Errorf("%s: %s, want created", id, a)
		}
	}
	live, _ := dyn.Resource(configMaps).Namespace(ns).Get(ctx, "a", metav1.GetOptions{})
	var managers []string
	for _, f := range live.GetManagedFields() {
		managers = append(managers, f.Manager+"/"+string(f.Operation))
	}
	if d := cmp.Diff([]string{"tidegate/Apply"}, managers); d != "" {
		t.Errorf("managed fields (-want +got):\n%s", d)
	}
	if live.GetAnnotations()[apply.DigestAnnotation] == "" {
		t.Error("no digest annotation on the applied object")
	}

	// No-op: no PATCH at all, one LIST for the five ConfigMaps.
	count.reset()
	cs, err = m.Apply(ctx, objs, apply.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for id, a := range actions(cs) {
		if a != apply.Unchanged {
			t.Errorf("%s: %s, want unchanged", id, a)
		}
	}
	if n := count.get(http.MethodPatch); n != 0 {
		t.Errorf("a no-op apply sent %d PATCH requests", n)
	}
	if n := count.get(http.MethodGet); n > 2 {
		t.Errorf("a no-op apply of 5 objects sent %d GET/LIST requests, want a bulk read", n)
	}
	again, _ := dyn.Resource(configMaps).Namespace(ns).Get(ctx, "a", metav1.GetOptions{})
	if again.GetResourceVersion() != live.GetResourceVersion() {
		t.Error("the no-op changed resourceVersion")
	}

	// One changes.
	objs[0] = obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: "+ns+"\ndata:\n  k: v2\n")
	count.reset()
	cs, err = m.Apply(ctx, objs, apply.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]apply.Action{}
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		want["ConfigMap/"+ns+"/"+name] = apply.Unchanged
	}
	want["ConfigMap/"+ns+"/a"] = apply.Configured
	if d := cmp.Diff(want, actions(cs)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if n := count.get(http.MethodPatch); n != 1 {
		t.Errorf("sent %d PATCHes for one change", n)
	}

	// Dry-run writes nothing.
	objs[1] = obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: "+ns+"\ndata:\n  k: dry\n")
	cs, err = m.Apply(ctx, objs, apply.ApplyOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if actions(cs)["ConfigMap/"+ns+"/b"] != apply.Configured {
		t.Errorf("dry-run: %v", actions(cs))
	}
	if b, _ := dyn.Resource(configMaps).Namespace(ns).Get(ctx, "b", metav1.GetOptions{}); b.Object["data"].(map[string]any)["k"] != "v1" {
		t.Error("a dry-run changed the object")
	}
}

const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.tidegate.dev
spec:
  group: example.tidegate.dev
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-preserve-unknown-fields: true
`

func TestCRDAndItsResourcesInOneRun(t *testing.T) {
	ns := env.Namespace(t)
	m, dyn, _ := newManager(t)
	ctx := context.Background()
	objs := []*unstructured.Unstructured{
		// The CR comes first in Git; the stages put the CRD before it.
		obj(t, "apiVersion: example.tidegate.dev/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: "+ns+"\nspec:\n  size: 3\n"),
		obj(t, crd),
		obj(t, "apiVersion: missing.tidegate.dev/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: "+ns+"\n"),
	}
	cs, err := m.Apply(ctx, objs, apply.ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "Gadget.missing.tidegate.dev/"+ns+"/g") || !strings.Contains(err.Error(), "CustomResourceDefinition") {
		t.Fatalf("err = %v, want the Gadget to fail naming itself and its missing CRD", err)
	}
	a := actions(cs)
	if a["Widget.example.tidegate.dev/"+ns+"/w"] != apply.Created || a["CustomResourceDefinition.apiextensions.k8s.io/widgets.example.tidegate.dev"] != apply.Created {
		t.Errorf("actions = %v", a)
	}
	w, err := dyn.Resource(schema.GroupVersionResource{Group: "example.tidegate.dev", Version: "v1", Resource: "widgets"}).Namespace(ns).Get(ctx, "w", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedInt64(w.Object, "spec", "size"); got != 3 {
		t.Errorf("spec.size = %d", got)
	}
}

func TestImmutableFieldNeedsForce(t *testing.T) {
	ns := env.Namespace(t)
	m, dyn, _ := newManager(t)
	ctx := context.Background()
	svc := func(ip string) *unstructured.Unstructured {
		return obj(t, "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: "+ns+"\nspec:\n  clusterIP: "+ip+"\n  ports:\n  - port: 80\n")
	}
	if _, err := m.Apply(ctx, []*unstructured.Unstructured{svc("10.0.0.40")}, apply.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	services := schema.GroupVersionResource{Version: "v1", Resource: "services"}
	before, _ := dyn.Resource(services).Namespace(ns).Get(ctx, "s", metav1.GetOptions{})

	_, err := m.Apply(ctx, []*unstructured.Unstructured{svc("10.0.0.41")}, apply.ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "Service/"+ns+"/s") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v, want an immutable-field error naming the object and --force", err)
	}
	cs, err := m.Apply(ctx, []*unstructured.Unstructured{svc("10.0.0.41")}, apply.ApplyOptions{Force: true})
	if err != nil {
		t.Fatalf("with force: %v", err)
	}
	if !strings.Contains(cs.Changes[0].Reason, "recreated") {
		t.Errorf("change = %+v, want recreated", cs.Changes[0])
	}
	after, _ := dyn.Resource(services).Namespace(ns).Get(ctx, "s", metav1.GetOptions{})
	if after.GetUID() == before.GetUID() {
		t.Error("the Service was not recreated")
	}
	if ip, _, _ := unstructured.NestedString(after.Object, "spec", "clusterIP"); ip != "10.0.0.41" {
		t.Errorf("clusterIP = %s", ip)
	}

	// The annotation forces one object without --force.
	forced := svc("10.0.0.42")
	forced.SetAnnotations(map[string]string{apply.ForceAnnotation: "enabled"})
	if _, err := m.Apply(ctx, []*unstructured.Unstructured{forced}, apply.ApplyOptions{}); err != nil {
		t.Fatalf("with the force annotation: %v", err)
	}
}

func TestConflictWithAnotherManager(t *testing.T) {
	ns := env.Namespace(t)
	m, dyn, _ := newManager(t)
	ctx := context.Background()
	// Someone else applied the field first.
	body := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"` + ns + `"},"data":{"k":"theirs"}}`)
	if _, err := dyn.Resource(configMaps).Namespace(ns).Patch(ctx, "c", types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "helm"}); err != nil {
		t.Fatal(err)
	}
	ours := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: "+ns+"\ndata:\n  k: ours\n")
	_, err := m.Apply(ctx, []*unstructured.Unstructured{ours}, apply.ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "helm") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v, want a conflict naming helm and --force", err)
	}
	if _, err := m.Apply(ctx, []*unstructured.Unstructured{ours}, apply.ApplyOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	live, _ := dyn.Resource(configMaps).Namespace(ns).Get(ctx, "c", metav1.GetOptions{})
	if live.Object["data"].(map[string]any)["k"] != "ours" {
		t.Error("force did not take the field over")
	}
}

func TestTakeOverFromKubectlClientSideApply(t *testing.T) {
	ns := env.Namespace(t)
	m, dyn, _ := newManager(t)
	ctx := context.Background()
	// What `kubectl apply` (client-side) leaves behind: fields owned by
	// kubectl-client-side-apply and the last-applied annotation.
	cm := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k\n  namespace: "+ns+"\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{}'\ndata:\n  keep: \"1\"\n  drop: \"1\"\n")
	if _, err := dyn.Resource(configMaps).Namespace(ns).Create(ctx, cm, metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"}); err != nil {
		t.Fatal(err)
	}
	// Git drops one key.
	desired := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k\n  namespace: "+ns+"\ndata:\n  keep: \"1\"\n")
	if _, err := m.Apply(ctx, []*unstructured.Unstructured{desired}, apply.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	live, _ := dyn.Resource(configMaps).Namespace(ns).Get(ctx, "k", metav1.GetOptions{})
	data := live.Object["data"].(map[string]any)
	if _, ok := data["drop"]; ok {
		t.Error("a key removed from Git survived: kubectl's ownership was not migrated")
	}
	if _, ok := live.GetAnnotations()["kubectl.kubernetes.io/last-applied-configuration"]; ok {
		t.Error("the last-applied annotation survived")
	}
	for _, f := range live.GetManagedFields() {
		if f.Manager == "kubectl-client-side-apply" {
			t.Errorf("kubectl-client-side-apply still manages fields: %s", f.FieldsV1.String())
		}
	}
}

func TestPlanDetectsDrift(t *testing.T) {
	ns := env.Namespace(t)
	m, dyn, _ := newManager(t)
	ctx := context.Background()
	desired := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n  namespace: "+ns+"\ndata:\n  k: git\n")
	if _, err := m.Apply(ctx, []*unstructured.Unstructured{desired}, apply.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// Another field nobody in Git sets does not count as drift.
	add := []byte(`{"metadata":{"labels":{"team":"x"}}}`)
	if _, err := dyn.Resource(configMaps).Namespace(ns).Patch(ctx, "d", types.MergePatchType, add, metav1.PatchOptions{FieldManager: "other"}); err != nil {
		t.Fatal(err)
	}
	p, err := m.Plan(ctx, []*unstructured.Unstructured{desired})
	if err != nil {
		t.Fatal(err)
	}
	if it := p.Items[0]; it.Action != apply.Unchanged || it.Drifted {
		t.Errorf("after an unrelated label: %s drifted=%v, want unchanged", it.Action, it.Drifted)
	}
	edit := []byte(`{"data":{"k":"hand"}}`)
	if _, err := dyn.Resource(configMaps).Namespace(ns).Patch(ctx, "d", types.MergePatchType, edit, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	p, err = m.Plan(ctx, []*unstructured.Unstructured{desired})
	if err != nil {
		t.Fatal(err)
	}
	if it := p.Items[0]; it.Action != apply.Configured || !it.Drifted {
		t.Errorf("after a hand edit: %s drifted=%v, want configured and drifted", it.Action, it.Drifted)
	}
	// A change in Git is not drift.
	changed := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n  namespace: "+ns+"\ndata:\n  k: git2\n")
	p, _ = m.Plan(ctx, []*unstructured.Unstructured{changed})
	if p.Items[0].Drifted {
		t.Error("a Git change was reported as drift")
	}
}

func TestDiffMasksSecretsAndIgnoresDefaults(t *testing.T) {
	ns := env.Namespace(t)
	m, _, _ := newManager(t)
	ctx := context.Background()
	deploy := func(replicas string) *unstructured.Unstructured {
		return obj(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: `+ns+`
spec:
  replicas: `+replicas+`
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "registry.example/web:1"}]
`)
	}
	secret := func(v string) *unstructured.Unstructured {
		return obj(t, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: "+ns+"\nstringData:\n  password: "+v+"\n  same: unchanged-value\n")
	}
	if _, err := m.Apply(ctx, []*unstructured.Unstructured{deploy("1"), secret("old-pass-1")}, apply.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	diffs, err := m.Diff(ctx, []*unstructured.Unstructured{deploy("2"), secret("new-pass-2")})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]apply.Change{}
	for _, d := range diffs {
		byID[d.ID.String()] = d
	}
	dd := byID["Deployment/"+ns+"/web"]
	if dd.Action != apply.Configured || !strings.Contains(dd.Diff, "-  replicas: 1") || !strings.Contains(dd.Diff, "+  replicas: 2") {
		t.Errorf("deployment diff:\n%s", dd.Diff)
	}
	var changedLines []string
	for _, l := range strings.Split(dd.Diff, "\n") {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(l, "+++") && !strings.HasPrefix(l, "---") {
			changedLines = append(changedLines, l)
		}
	}
	if d := cmp.Diff([]string{"-  replicas: 1", "+  replicas: 2"}, changedLines); d != "" {
		t.Errorf("changed lines (-want +got):\n%s", d)
	}
	for _, noise := range []string{"managedFields", "resourceVersion", apply.DigestAnnotation} {
		if strings.Contains(dd.Diff, noise) {
			t.Errorf("the diff shows %s, a server default or metadata noise:\n%s", noise, dd.Diff)
		}
	}
	sd := byID["Secret/"+ns+"/s"]
	for _, leak := range []string{"old-pass-1", "new-pass-2", "unchanged-value", "b2xkLXBhc3MtMQ==", "bmV3LXBhc3MtMg=="} {
		if strings.Contains(sd.Diff, leak) {
			t.Errorf("the Secret diff leaks %q:\n%s", leak, sd.Diff)
		}
	}
	if !strings.Contains(sd.Diff, "(changed)") {
		t.Errorf("the Secret diff does not say which value changed:\n%s", sd.Diff)
	}
}

func TestWaitReportsWhatIsNotReady(t *testing.T) {
	ns := env.Namespace(t)
	m, dyn, _ := newManager(t)
	ctx := context.Background()
	d := obj(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: w
  namespace: `+ns+`
spec:
  replicas: 1
  selector: {matchLabels: {app: w}}
  template:
    metadata: {labels: {app: w}}
    spec:
      containers: [{name: w, image: "registry.example/w:1"}]
`)
	cs, err := m.Apply(ctx, []*unstructured.Unstructured{d}, apply.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ids := cs.Changes[0].ID
	notReady, err := m.Wait(ctx, []object.ID{ids}, 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(notReady) != 1 || notReady[0].Status != "InProgress" {
		t.Fatalf("not ready = %+v, want the Deployment in progress (no controller runs here)", notReady)
	}

	// Play the controller: report the rollout done through the status
	// subresource.
	deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	live, _ := dyn.Resource(deployments).Namespace(ns).Get(ctx, "w", metav1.GetOptions{})
	live.Object["status"] = map[string]any{
		"observedGeneration": live.GetGeneration(), "replicas": int64(1), "updatedReplicas": int64(1),
		"readyReplicas": int64(1), "availableReplicas": int64(1),
		"conditions": []any{map[string]any{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
			map[string]any{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}},
	}
	if _, err := dyn.Resource(deployments).Namespace(ns).UpdateStatus(ctx, live, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	notReady, err = m.Wait(ctx, []object.ID{ids}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(notReady) != 0 {
		t.Errorf("not ready after the status says ready: %+v", notReady)
	}
}

func TestForbiddenSaysWhatToDo(t *testing.T) {
	ns := env.Namespace(t)
	cfg, err := env.AddUser("nobody-" + ns)
	if err != nil {
		t.Fatal(err)
	}
	dyn, _ := dynamic.NewForConfig(cfg)
	dc, _ := discovery.NewDiscoveryClientForConfig(env.Config)
	m := apply.New(dyn, restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), apply.Options{})
	_, err = m.Apply(context.Background(), []*unstructured.Unstructured{obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: "+ns+"\n")}, apply.ApplyOptions{})
	if err == nil || !apierrors.IsForbidden(unwrapAll(err)) && !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("err = %v, want forbidden", err)
	}
	if !strings.Contains(err.Error(), "ConfigMap/"+ns+"/x") {
		t.Errorf("the error does not name the object: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() []error })
		if !ok || len(u.Unwrap()) == 0 {
			return err
		}
		err = u.Unwrap()[0]
	}
}

// The plan's bulk LISTs also hold the objects Git no longer has, for the
// prune of the same run; kinds and namespaces it read one by one do not.
func TestPlanListedHoldsObjectsGitDropped(t *testing.T) {
	ns := env.Namespace(t)
	m, dyn, _ := newManager(t)
	ctx := context.Background()
	var desired []*unstructured.Unstructured
	for _, name := range []string{"a", "b", "c", "d"} {
		desired = append(desired, obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "+name+"\n  namespace: "+ns+"\n"))
	}
	stale := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stale\n  namespace: "+ns+"\n")
	if _, err := dyn.Resource(configMaps).Namespace(ns).Create(ctx, stale, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := m.Plan(ctx, desired)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := p.Listed(object.ID{Kind: "ConfigMap", Namespace: ns, Name: "stale"})
	if !ok || o.GetName() != "stale" || o.GetResourceVersion() == "" {
		t.Errorf("Listed(stale) = %v, %v; want the live object", o, ok)
	}
	if _, ok := p.Listed(object.ID{Kind: "ConfigMap", Namespace: ns, Name: "never"}); ok {
		t.Error("Listed found an object that does not exist")
	}
	// Fewer than bulkThreshold objects are read with GETs: nothing listed.
	p, err = m.Plan(ctx, desired[:1])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Listed(object.ID{Kind: "ConfigMap", Namespace: ns, Name: "stale"}); ok {
		t.Error("a plan that used GETs claims to have listed the namespace")
	}
}

// TestBulkPlanKeepsWhatMigrationNeeds: objects read by one LIST (four or
// more of a type in a namespace) lose the field sets of their
// managedFields, which nothing reads, but keep the managers' names; an
// object kubectl applied client-side keeps them whole, and its fields
// are still migrated from that LIST's copy.
func TestBulkPlanKeepsWhatMigrationNeeds(t *testing.T) {
	ns := env.Namespace(t)
	m, dyn, _ := newManager(t)
	ctx := context.Background()
	var objs []*unstructured.Unstructured
	for _, name := range []string{"a", "b", "c", "d"} {
		objs = append(objs, obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "+name+"\n  namespace: "+ns+"\ndata:\n  k: \"1\"\n"))
	}
	if _, err := m.Apply(ctx, objs, apply.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k\n  namespace: "+ns+"\ndata:\n  keep: \"1\"\n  drop: \"1\"\n")
	if _, err := dyn.Resource(configMaps).Namespace(ns).Create(ctx, cm, metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"}); err != nil {
		t.Fatal(err)
	}
	objs = append(objs, obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k\n  namespace: "+ns+"\ndata:\n  keep: \"1\"\n"))
	plan, err := m.Plan(ctx, objs)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range plan.Items {
		fields := it.Live.GetManagedFields()
		if len(fields) == 0 {
			t.Fatalf("%s: no managedFields left", it.ID)
		}
		for _, f := range fields {
			kubectl := f.Manager == "kubectl-client-side-apply"
			if (it.ID.Name == "k") != kubectl {
				t.Errorf("%s: field manager %q", it.ID, f.Manager)
			}
			if (f.FieldsV1 != nil) != kubectl {
				t.Errorf("%s: %s's field set kept = %v, want %v", it.ID, f.Manager, f.FieldsV1 != nil, kubectl)
			}
		}
	}
	if _, err := m.Apply(ctx, objs, apply.ApplyOptions{Plan: plan}); err != nil {
		t.Fatal(err)
	}
	live, _ := dyn.Resource(configMaps).Namespace(ns).Get(ctx, "k", metav1.GetOptions{})
	if _, ok := live.Object["data"].(map[string]any)["drop"]; ok {
		t.Error("a key removed from Git survived: kubectl's ownership was not migrated from the listed object")
	}
}

// TestPlanDigestIsDigest: the digest Plan sets is Digest of the object
// as rendered, also for an object planned a second time and for one
// whose only annotation kubectl's last-applied was.
func TestPlanDigestIsDigest(t *testing.T) {
	ns := env.Namespace(t)
	m, _, _ := newManager(t)
	ctx := context.Background()
	for _, src := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n  namespace: " + ns + "\ndata:\n  k: v\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: annotated\n  namespace: " + ns + "\n  annotations:\n    team: a\n    kubectl.kubernetes.io/last-applied-configuration: '{}'\ndata:\n  k: v\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: only-last-applied\n  namespace: " + ns + "\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{}'\n",
	} {
		o := obj(t, src)
		want := o.DeepCopy()
		ann := want.GetAnnotations()
		delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
		if len(ann) == 0 {
			ann = nil
		}
		want.SetAnnotations(ann)
		digest := apply.Digest(want)
		for round := 1; round <= 2; round++ {
			p, err := m.Plan(ctx, []*unstructured.Unstructured{o})
			if err != nil {
				t.Fatal(err)
			}
			got := p.Items[0].Desired.GetAnnotations()
			if got[apply.DigestAnnotation] != digest {
				t.Errorf("%s, round %d: digest %q, want %q", o.GetName(), round, got[apply.DigestAnnotation], digest)
			}
			if _, ok := got["kubectl.kubernetes.io/last-applied-configuration"]; ok {
				t.Errorf("%s: the last-applied annotation is still there", o.GetName())
			}
		}
	}
}

// TestFirstPlanReadsASharedNamespaceByPages: a first run's objects are
// not labelled yet, so the plan reads their namespace whole; in a
// namespace that holds many objects of others (other units, other
// teams) it reads it a page at a time and keeps only what it asked for.
func TestFirstPlanReadsASharedNamespaceByPages(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	m, dyn, c := newManager(t)
	var g errgroup.Group
	g.SetLimit(16)
	const others = 1100
	// Two of this run's objects exist already, made by someone else.
	existing := []string{"mine-0", "mine-1"}
	for i := range others {
		existing = append(existing, fmt.Sprintf("other-%04d", i))
	}
	for _, name := range existing {
		o := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "+name+"\n  namespace: "+ns+"\n")
		g.Go(func() error {
			_, err := dyn.Resource(configMaps).Namespace(ns).Create(ctx, o, metav1.CreateOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	var desired []*unstructured.Unstructured
	for i := range 6 {
		o := obj(t, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mine-%d\n  namespace: %s\n", i, ns))
		o.SetLabels(map[string]string{inventory.PartOfLabel: "applyset-test-v1"})
		desired = append(desired, o)
	}
	c.reset()
	p, err := m.Plan(ctx, desired)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range p.Items {
		if exists := i < 2; (it.Live != nil) != exists {
			t.Errorf("%s: live = %v, want it found: %v", it.ID, it.Live != nil, exists)
		}
	}
	if _, ok := p.Listed(object.ID{Kind: "ConfigMap", Namespace: ns, Name: "other-0007"}); ok {
		t.Error("the plan holds an object of someone else that it did not ask for")
	}
	if _, ok := p.Listed(object.ID{Kind: "ConfigMap", Namespace: ns, Name: "mine-1"}); !ok {
		t.Error("the plan does not hold an object it asked for")
	}
	want := []string{inventory.PartOfLabel + "=applyset-test-v1|1000", "|250", "|250", "|250", "|250", "|250"}
	if got := c.lists("configmaps"); !slices.Equal(got, want) {
		t.Errorf("LISTs sent (selector|limit): %q, want %q", got, want)
	}
}
