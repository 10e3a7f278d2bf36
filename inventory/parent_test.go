package inventory_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/tidegate/tidegate/internal/testenv"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

func TestParentIDMatchesKubectl(t *testing.T) {
	// Computed by hand from the KEP-3659 definition:
	// base64url(sha256("tidegate.default.ConfigMap.")).
	p := inventory.Parent{Kind: "ConfigMap", Namespace: "default", Name: "tidegate"}
	if got, want := p.ID(), "applyset-gJTKG_0v8Hwq-HngsO0vAOXaJ8IfPW588n9GQS7Yuk0-v1"; got != want {
		t.Fatalf("ID = %s, want %s", got, want)
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed; the algorithm is still checked by the kubectl test below when it is")
	}
	ns := env.Namespace(t)
	dyn := dynamicClient(t, env.Config)
	parent := inventory.Parent{Kind: "Secret", Namespace: ns, Name: "set"}
	// kubectl creates its own parent and labels it with the id it
	// computes; ours must be the same string.
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kubeconfig, env.Kubeconfig, 0o600)
	manifest := filepath.Join(dir, "cm.yaml")
	os.WriteFile(manifest, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-kubectl\n  namespace: "+ns+"\n"), 0o644)
	cmd := exec.Command(kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "--prune", "--applyset=secret/set", "-n", ns, "-f", manifest)
	cmd.Env = append(os.Environ(), "KUBECTL_APPLYSET=true")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply --applyset: %v\n%s", err, out)
	}
	live, err := env.Client().CoreV1().Secrets(ns).Get(context.Background(), "set", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := live.Labels[inventory.IDLabel]; got != parent.ID() {
		t.Errorf("kubectl's id %s, ours %s", got, parent.ID())
	}
	// And tidegate refuses to adopt kubectl's parent.
	if _, err := inventory.NewStore(dyn, parent, "tidegate/test").Load(context.Background()); err == nil || !strings.Contains(err.Error(), "kubectl") {
		t.Errorf("loading kubectl's applyset: err = %v, want a refusal naming kubectl", err)
	}
}

func TestKubectlReadsOurInventory(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed")
	}
	ns := env.Namespace(t)
	dyn := dynamicClient(t, env.Config)
	parent := inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "inv"}
	store := inventory.NewStore(dyn, parent, "tidegate/v0.1.0")
	if err := store.Save(context.Background(), &inventory.Inventory{ID: parent.ID(), Members: []object.ID{{Kind: "ConfigMap", Namespace: ns, Name: "a"}}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kubeconfig, env.Kubeconfig, 0o600)
	manifest := filepath.Join(dir, "cm.yaml")
	os.WriteFile(manifest, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: "+ns+"\n"), 0o644)
	cmd := exec.Command(kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "--prune", "--applyset=configmap/inv", "-n", ns, "-f", manifest)
	cmd.Env = append(os.Environ(), "KUBECTL_APPLYSET=true")
	out, err := cmd.CombinedOutput()
	// kubectl finds the parent, reads its tooling annotation and leaves
	// an ApplySet of another tool alone: that is the interoperability
	// KEP-3659 promises.
	if err == nil || !strings.Contains(string(out), `managed by tooling "tidegate"`) {
		t.Fatalf("kubectl on tidegate's parent: err=%v\n%s\nwant a refusal naming tidegate's tooling", err, out)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ns := env.Namespace(t)
	other := env.Namespace(t)
	for _, kind := range []string{"ConfigMap", "Secret"} {
		t.Run(kind, func(t *testing.T) {
			dyn := dynamicClient(t, env.Config)
			parent := inventory.Parent{Kind: kind, Namespace: ns, Name: "inv-" + strings.ToLower(kind)}
			store := inventory.NewStore(dyn, parent, "tidegate/v1.2.3")
			empty, err := store.Load(context.Background())
			if err != nil || len(empty.Members) != 0 || empty.ID != parent.ID() {
				t.Fatalf("load before save: %+v, %v", empty, err)
			}
			inv := &inventory.Inventory{ID: parent.ID(), Revision: "abc123", Members: []object.ID{
				{Group: "apps", Kind: "Deployment", Namespace: other, Name: "web"},
				{Kind: "ConfigMap", Namespace: ns, Name: "a"},
				{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: "widgets.example.dev"},
			}}
			if err := store.Save(context.Background(), inv); err != nil {
				t.Fatal(err)
			}
			got, err := store.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := append([]object.ID(nil), inv.Members...)
			object.Sort(want)
			if d := cmp.Diff(want, got.Members); d != "" || got.Revision != "abc123" {
				t.Errorf("members (-want +got):\n%s revision %s", d, got.Revision)
			}
			var ann map[string]string
			var labels map[string]string
			if kind == "ConfigMap" {
				cm, _ := env.Client().CoreV1().ConfigMaps(ns).Get(context.Background(), parent.Name, metav1.GetOptions{})
				ann, labels = cm.Annotations, cm.Labels
			} else {
				s, _ := env.Client().CoreV1().Secrets(ns).Get(context.Background(), parent.Name, metav1.GetOptions{})
				ann, labels = s.Annotations, s.Labels
			}
			wantAnn := map[string]string{
				inventory.ToolingAnnotation:    "tidegate/v1.2.3",
				inventory.GroupKindsAnnotation: "ConfigMap,CustomResourceDefinition.apiextensions.k8s.io,Deployment.apps",
				inventory.NamespacesAnnotation: other,
				inventory.RevisionAnnotation:   "abc123",
			}
			if d := cmp.Diff(wantAnn, ann); d != "" {
				t.Errorf("annotations (-want +got):\n%s", d)
			}
			if labels[inventory.IDLabel] != parent.ID() {
				t.Errorf("id label = %q", labels[inventory.IDLabel])
			}
		})
	}
}

func dynamicClient(t *testing.T, cfg *rest.Config) dynamic.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}

// TestRepairAdvice: the advice names the parent with every flag that
// selects it, for both kinds, so that the repair run reads this
// inventory and not the default one, and the kubectl edit of its kind.
func TestRepairAdvice(t *testing.T) {
	for _, p := range []inventory.Parent{
		{Kind: "ConfigMap", Namespace: "team-a", Name: "fleet"},
		{Kind: "Secret", Namespace: "ops", Name: "tidegate"},
	} {
		got := p.RepairAdvice()
		for _, want := range []string{
			"tidegate reconcile --repair-inventory --inventory-kind " + p.Kind + " --inventory-namespace " + p.Namespace + " --inventory-name " + p.Name + ",",
			"kubectl -n " + p.Namespace + " edit " + strings.ToLower(p.Kind) + " " + p.Name,
			"--source and --path",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("%s: advice lacks %q: %s", p, want, got)
			}
		}
	}
}

// TestHookDigests: the releases' hook digests are saved on the parent
// and read back; saving without them removes the annotation (a parent
// without hooked releases carries none), and Changed sees a digest
// change, so a run that only ran hooks records them.
func TestHookDigests(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	parent := inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "inv"}
	store := inventory.NewStore(dynamicClient(t, env.Config), parent, "tidegate/test")
	inv := &inventory.Inventory{ID: parent.ID(), Revision: "r", Hooks: map[string]string{ns + "/web": "d1", ns + "/db": "d2"}}
	if err := store.Save(ctx, inv); err != nil {
		t.Fatal(err)
	}
	got, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(inv.Hooks, got.Hooks); d != "" {
		t.Errorf("hooks read back (-want +got):\n%s", d)
	}
	next := &inventory.Inventory{ID: parent.ID(), Revision: "r", Hooks: map[string]string{ns + "/web": "d3", ns + "/db": "d2"}}
	if !inventory.Changed(got, next) {
		t.Error("another digest is no change")
	}
	if inventory.Changed(got, &inventory.Inventory{ID: parent.ID(), Revision: "r", Hooks: map[string]string{ns + "/db": "d2", ns + "/web": "d1"}}) {
		t.Error("the same digests count as a change")
	}
	if err := store.Save(ctx, &inventory.Inventory{ID: parent.ID(), Revision: "r"}); err != nil {
		t.Fatal(err)
	}
	cm, err := env.Client().CoreV1().ConfigMaps(ns).Get(ctx, parent.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := cm.Annotations[inventory.HooksAnnotation]; ok {
		t.Errorf("saved without hooks, the parent still has %s: %s", inventory.HooksAnnotation, v)
	}
}
