package fleet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/internal/testenv"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/reconcile"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// repo is a Flux-layout repository the tests write and edit.
type repo struct {
	t   *testing.T
	dir string
}

func newRepo(t *testing.T) *repo { return &repo{t: t, dir: t.TempDir()} }

func (r *repo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *repo) writeB(tb testing.TB, name, content string) {
	tb.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func (r *repo) remove(name string) {
	r.t.Helper()
	if err := os.RemoveAll(filepath.Join(r.dir, name)); err != nil {
		r.t.Fatal(err)
	}
}

// kustomization is a Flux Kustomization object; extra is more of its
// spec, indented as spec's fields.
func kustomization(ns, name, path, extra string) string {
	return fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: %s
  namespace: %s
spec:
  interval: 10m
  path: %s
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
%s`, name, ns, path, extra)
}

func configMap(ns, name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  value: %q\n", name, ns, value)
}

func options(r *repo, ns string, mod ...func(*fleet.Options)) fleet.Options {
	o := fleet.Options{
		Run: reconcile.Options{
			Source:    "https://example.com/fleet.git",
			Root:      r.dir,
			Paths:     []string{"clusters/test"},
			Inventory: inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "tidegate"},
			Prune:     true,
			Drift:     reconcile.DriftRevert,
		},
	}
	for _, m := range mod {
		m(&o)
	}
	return o
}

func run(t *testing.T, o fleet.Options) (*reconcile.Report, error) {
	t.Helper()
	f, err := fleet.New(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	return f.Run(context.Background())
}

func diff(t *testing.T, o fleet.Options) (*reconcile.Report, error) {
	t.Helper()
	f, err := fleet.New(env.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	return f.Diff(context.Background())
}

// statuses maps each unit to how it ended.
func statuses(rep *reconcile.Report) map[string]reconcile.UnitStatus {
	out := map[string]reconcile.UnitStatus{}
	for _, u := range rep.Units {
		out[u.Name] = u.Status
	}
	return out
}

func unit(rep *reconcile.Report, name string) reconcile.Unit {
	for _, u := range rep.Units {
		if u.Name == name {
			return u
		}
	}
	return reconcile.Unit{}
}

// actions maps "unit Kind/ns/name" to the action taken.
func actions(rep *reconcile.Report) map[string]reconcile.Action {
	out := map[string]reconcile.Action{}
	for _, e := range rep.Objects {
		out[e.Unit+" "+e.Object()] = e.Action
	}
	return out
}

func exists(t *testing.T, ns, name string) bool {
	t.Helper()
	_, err := env.Client().CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func inventoryMembers(t *testing.T, ns, name string) string {
	t.Helper()
	cm, err := env.Client().CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "<none>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm.Annotations["applyset.kubernetes.io/contains-group-kinds"] + " " + fmt.Sprint(len(cm.Data))
}

// TestFleetUnitsInDependencyOrder: each Kustomization is a unit with
// its own inventory; the Kustomization objects are not applied; a
// dependency runs first; a no-op run changes nothing; a change in one
// unit's path configures only that unit's object.
func TestFleetUnitsInDependencyOrder(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "infra", "./infra", "")+"---\n"+
		kustomization(ns, "apps", "./apps", "  dependsOn:\n    - name: infra\n"))
	r.write("clusters/test/settings.yaml", configMap(ns, "root-settings", "1"))
	r.write("infra/cm.yaml", configMap(ns, "infra-cm", "1"))
	r.write("apps/cm.yaml", configMap(ns, "apps-cm", "1"))
	o := options(r, ns)

	rep, err := run(t, o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	want := map[string]reconcile.UnitStatus{".": reconcile.UnitReconciled, ns + "/infra": reconcile.UnitReconciled, ns + "/apps": reconcile.UnitReconciled}
	if d := cmp.Diff(want, statuses(rep)); d != "" {
		t.Fatalf("units (-want +got):\n%s", d)
	}
	if names := []string{rep.Units[0].Name, rep.Units[1].Name, rep.Units[2].Name}; names[1] != ns+"/infra" || names[2] != ns+"/apps" {
		t.Errorf("units ran in order %v; infra must come before apps, which depends on it", names)
	}
	wantActions := map[string]reconcile.Action{
		". ConfigMap/" + ns + "/root-settings":                         reconcile.Created,
		". Kustomization.kustomize.toolkit.fluxcd.io/" + ns + "/infra": reconcile.Skipped,
		". Kustomization.kustomize.toolkit.fluxcd.io/" + ns + "/apps":  reconcile.Skipped,
		ns + "/infra ConfigMap/" + ns + "/infra-cm":                    reconcile.Created,
		ns + "/apps ConfigMap/" + ns + "/apps-cm":                      reconcile.Created,
	}
	if d := cmp.Diff(wantActions, actions(rep)); d != "" {
		t.Fatalf("objects (-want +got):\n%s", d)
	}
	for _, inv := range []string{"tidegate", "tidegate.infra", "tidegate.apps"} {
		if !exists(t, ns, inv) {
			t.Errorf("inventory %s/%s was not written", ns, inv)
		}
	}
	if got := unit(rep, ns+"/apps").Inventory; !strings.Contains(got, "tidegate.apps") {
		t.Errorf("unit apps reports inventory %q, want tidegate.apps", got)
	}

	// No-op: nothing written.
	rep, err = run(t, o)
	if err != nil {
		t.Fatalf("no-op run: %v", err)
	}
	if rep.Changed() {
		t.Fatalf("no-op run changed: %v", actions(rep))
	}

	// A change in apps configures apps' object only.
	r.write("apps/cm.yaml", configMap(ns, "apps-cm", "2"))
	rep, err = run(t, o)
	if err != nil {
		t.Fatalf("change run: %v", err)
	}
	if got := actions(rep)[ns+"/apps ConfigMap/"+ns+"/apps-cm"]; got != reconcile.Configured {
		t.Errorf("apps-cm: %s, want configured", got)
	}
	if got := actions(rep)[ns+"/infra ConfigMap/"+ns+"/infra-cm"]; got != reconcile.Unchanged {
		t.Errorf("infra-cm: %s, want unchanged", got)
	}
}

// TestFleetPrunesPerUnit: an object removed from one unit's path is
// pruned by that unit; the other units' objects are untouched, and a
// unit with spec.prune: false keeps what Git no longer has.
func TestFleetPrunesPerUnit(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "a", "./a", "")+"---\n"+
		strings.Replace(kustomization(ns, "b", "./b", ""), "prune: true", "prune: false", 1))
	r.write("a/one.yaml", configMap(ns, "a-one", "1"))
	r.write("a/two.yaml", configMap(ns, "a-two", "1"))
	r.write("b/one.yaml", configMap(ns, "b-one", "1"))
	r.write("b/two.yaml", configMap(ns, "b-two", "1"))
	o := options(r, ns)
	if _, err := run(t, o); err != nil {
		t.Fatalf("first run: %v", err)
	}
	r.remove("a/two.yaml")
	r.remove("b/two.yaml")
	rep, err := run(t, o)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if got := actions(rep)[ns+"/a ConfigMap/"+ns+"/a-two"]; got != reconcile.Deleted {
		t.Errorf("a-two: %q, want deleted by unit a; report: %v", got, actions(rep))
	}
	if exists(t, ns, "a-two") {
		t.Error("a-two still exists")
	}
	if !exists(t, ns, "b-two") {
		t.Error("b-two was deleted although unit b has spec.prune: false")
	}
	if !exists(t, ns, "a-one") || !exists(t, ns, "b-one") {
		t.Error("an object still in Git was deleted")
	}
}

// TestFleetFailedUnitStopsDependentsOnly: a unit whose path does not
// render fails; the unit that depends on it is skipped; an independent
// unit still runs; the run fails, and says which.
func TestFleetFailedUnitStopsDependentsOnly(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "broken", "./missing", "")+"---\n"+
		kustomization(ns, "after", "./after", "  dependsOn:\n    - name: broken\n")+"---\n"+
		kustomization(ns, "alone", "./alone", ""))
	r.write("after/cm.yaml", configMap(ns, "after-cm", "1"))
	r.write("alone/cm.yaml", configMap(ns, "alone-cm", "1"))

	rep, err := run(t, options(r, ns))
	if err == nil {
		t.Fatal("the run succeeded with a unit that does not render")
	}
	want := map[string]reconcile.UnitStatus{".": reconcile.UnitReconciled, ns + "/broken": reconcile.UnitFailed, ns + "/after": reconcile.UnitSkipped, ns + "/alone": reconcile.UnitReconciled}
	if d := cmp.Diff(want, statuses(rep)); d != "" {
		t.Fatalf("units (-want +got):\n%s", d)
	}
	if !strings.Contains(err.Error(), ns+"/broken") || !strings.Contains(err.Error(), "1 of 4 units failed") {
		t.Errorf("error does not name the failed unit: %v", err)
	}
	if reason := unit(rep, ns+"/broken").Reason; !strings.Contains(reason, "missing") {
		t.Errorf("broken's reason does not say its path is missing: %q", reason)
	}
	if reason := unit(rep, ns+"/after").Reason; !strings.Contains(reason, "depends on "+ns+"/broken, which failed") {
		t.Errorf("after's reason: %q", reason)
	}
	if exists(t, ns, "after-cm") {
		t.Error("a unit depending on a failed one wrote its object")
	}
	if !exists(t, ns, "alone-cm") {
		t.Error("an independent unit did not run")
	}
	if exists(t, ns, "tidegate.broken") || exists(t, ns, "tidegate.after") {
		t.Error("a unit that did not run wrote its inventory")
	}
}

// TestFleetGraphErrorsWriteNothing: a dependency cycle or a dependency
// on a Kustomization that does not exist fails the run before any unit
// writes, naming the units.
func TestFleetGraphErrorsWriteNothing(t *testing.T) {
	for name, units := range map[string]struct {
		yaml  string
		names []string
	}{
		"cycle": {
			yaml: kustomization("NS", "ux", "./x", "  dependsOn:\n    - name: uy\n") + "---\n" +
				kustomization("NS", "uy", "./x", "  dependsOn:\n    - name: uz\n") + "---\n" +
				kustomization("NS", "uz", "./x", "  dependsOn:\n    - name: ux\n"),
			names: []string{"/ux", "/uy", "/uz", "cycle"},
		},
		"missing": {
			yaml:  kustomization("NS", "ux", "./x", "  dependsOn:\n    - name: nowhere\n"),
			names: []string{"/ux", "nowhere"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			ns := env.Namespace(t)
			r := newRepo(t)
			r.write("clusters/test/units.yaml", strings.ReplaceAll(units.yaml, "NS", ns))
			r.write("clusters/test/root.yaml", configMap(ns, "root-cm", "1"))
			r.write("x/cm.yaml", configMap(ns, "x-cm", "1"))
			_, err := run(t, options(r, ns))
			if err == nil {
				t.Fatal("the run succeeded")
			}
			for _, n := range units.names {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error does not name %q: %v", n, err)
				}
			}
			for _, cm := range []string{"root-cm", "x-cm", "tidegate", "tidegate.ux", "tidegate.uy"} {
				if exists(t, ns, cm) {
					t.Errorf("%s was written by a run whose units do not order", cm)
				}
			}
		})
	}
}

// TestFleetSuspendedUnit: spec.suspend skips the unit (reported), and
// its dependents.
func TestFleetSuspendedUnit(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "held", "./held", "  suspend: true\n")+"---\n"+
		kustomization(ns, "next", "./next", "  dependsOn:\n    - name: held\n"))
	r.write("held/cm.yaml", configMap(ns, "held-cm", "1"))
	r.write("next/cm.yaml", configMap(ns, "next-cm", "1"))
	rep, err := run(t, options(r, ns))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	want := map[string]reconcile.UnitStatus{".": reconcile.UnitReconciled, ns + "/held": reconcile.UnitSuspended, ns + "/next": reconcile.UnitSkipped}
	if d := cmp.Diff(want, statuses(rep)); d != "" {
		t.Fatalf("units (-want +got):\n%s", d)
	}
	if exists(t, ns, "held-cm") || exists(t, ns, "next-cm") {
		t.Error("a suspended unit (or its dependent) wrote")
	}
}

// TestFleetAppOfApps: a unit that renders Kustomizations leads to more
// units; a Kustomization that renders its own ancestor's path is a loop.
func TestFleetAppOfApps(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("clusters/test/apps.yaml", kustomization(ns, "apps", "./apps", ""))
	r.write("apps/team.yaml", kustomization(ns, "team", "./team", ""))
	r.write("team/cm.yaml", configMap(ns, "team-cm", "1"))
	rep, err := run(t, options(r, ns))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := statuses(rep)[ns+"/team"]; got != reconcile.UnitReconciled {
		t.Fatalf("nested unit team: %q; units: %v", got, statuses(rep))
	}
	if !exists(t, ns, "team-cm") {
		t.Error("the nested unit's object was not applied")
	}

	r.write("team/loop.yaml", kustomization(ns, "loop", "./apps", ""))
	_, err = run(t, options(r, ns))
	if err == nil || !strings.Contains(err.Error(), "loop") {
		t.Fatalf("a unit rendering its ancestor's path: %v, want a loop error", err)
	}
}

// TestFleetSelfReference: the flux-system Kustomization that syncs the
// run's own path is the root unit, not followed again.
func TestFleetSelfReference(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("clusters/test/flux-system/gotk-sync.yaml", kustomization(ns, "flux-system", "./clusters/test", ""))
	r.write("clusters/test/apps.yaml", kustomization(ns, "apps", "./apps", ""))
	r.write("apps/cm.yaml", configMap(ns, "apps-cm", "1"))
	rep, err := run(t, options(r, ns))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	want := map[string]reconcile.UnitStatus{ns + "/flux-system": reconcile.UnitReconciled, ns + "/apps": reconcile.UnitReconciled}
	if d := cmp.Diff(want, statuses(rep)); d != "" {
		t.Fatalf("units (-want +got):\n%s", d)
	}
	if rep.Units[0].Name != ns+"/flux-system" || !strings.Contains(rep.Units[0].Inventory, "/tidegate") {
		t.Errorf("root unit %+v: want flux-system with the run's inventory", rep.Units[0])
	}
}

// TestFleetDiff: diff reports per unit and writes nothing.
func TestFleetDiff(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "a", "./a", ""))
	r.write("a/cm.yaml", configMap(ns, "a-cm", "1"))
	rep, err := diff(t, options(r, ns))
	if err != nil {
		t.Fatalf("diff: %v", err)
	}
	if got := statuses(rep)[ns+"/a"]; got != reconcile.UnitDiffed {
		t.Errorf("unit a: %q, want diffed", got)
	}
	if got := actions(rep)[ns+"/a ConfigMap/"+ns+"/a-cm"]; got != reconcile.Created {
		t.Errorf("a-cm: %q, want created", got)
	}
	if !rep.Changed() {
		t.Error("the diff reports no change")
	}
	if exists(t, ns, "a-cm") || exists(t, ns, "tidegate.a") {
		t.Error("diff wrote")
	}
}

// TestFleetModeOff applies Kustomization objects as plain objects, as
// before tidegate knew Flux: no units, and the Kustomization is not set
// aside (created where the cluster has Flux's CRDs, failed where not).
func TestFleetModeOff(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "a", "./a", ""))
	rep, _ := run(t, options(r, ns, func(o *fleet.Options) { o.Mode = fleet.Off }))
	if len(rep.Units) != 0 {
		t.Errorf("--flux=off reported units: %v", rep.Units)
	}
	got := actions(rep)[" Kustomization.kustomize.toolkit.fluxcd.io/"+ns+"/a"]
	if got == reconcile.Skipped || got == "" {
		t.Errorf("--flux=off: the Kustomization was %q, want it applied as an object", got)
	}
}

// TestHostileObjectInTwoUnits: an object two units apply is refused
// before any write: whichever pruned it would delete the other's.
func TestHostileObjectInTwoUnits(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("clusters/test/units.yaml", kustomization(ns, "first", "./first", "")+"---\n"+kustomization(ns, "second", "./second", ""))
	r.write("first/cm.yaml", configMap(ns, "shared", "1"))
	r.write("second/cm.yaml", configMap(ns, "shared", "2"))
	r.write("second/own.yaml", configMap(ns, "own", "1"))
	_, err := run(t, options(r, ns))
	if err == nil || !strings.Contains(err.Error(), "ConfigMap/"+ns+"/shared is applied by two units, "+ns+"/first and "+ns+"/second") {
		t.Fatalf("an object in two units: %v", err)
	}
	for _, cm := range []string{"shared", "own", "tidegate", "tidegate.first", "tidegate.second"} {
		if exists(t, ns, cm) {
			t.Errorf("%s was written", cm)
		}
	}
}

// TestFleetRemovedUnit: a Kustomization removed from Git leaves an
// inventory no unit claims. The run reports the unit as orphaned and
// keeps its objects unless --allow-mass-prune; with it, the objects are
// pruned and the inventory deleted, as Flux garbage-collects a deleted
// Kustomization with spec.prune; a diff shows it first and writes nothing.
func TestFleetRemovedUnit(t *testing.T) {
	ns := env.Namespace(t)
	r := newRepo(t)
	r.write("clusters/test/a.yaml", kustomization(ns, "a", "./a", ""))
	r.write("clusters/test/b.yaml", kustomization(ns, "gone", "./b", ""))
	r.write("a/cm.yaml", configMap(ns, "a-cm", "1"))
	r.write("b/cm.yaml", configMap(ns, "b-cm", "1"))
	o := options(r, ns)
	if _, err := run(t, o); err != nil {
		t.Fatal(err)
	}
	r.remove("clusters/test/b.yaml")

	rep, err := run(t, o)
	if err != nil {
		t.Fatalf("run after removing a unit: %v", err)
	}
	u := unit(rep, ns+"/gone")
	if u.Status != reconcile.UnitOrphaned || !strings.Contains(u.Reason, "--allow-mass-prune") {
		t.Fatalf("removed unit: %s (%s), want orphaned pointing at --allow-mass-prune", u.Status, u.Reason)
	}
	if !exists(t, ns, "b-cm") {
		t.Fatal("a removed unit's object was deleted without --allow-mass-prune")
	}

	allow := func(o *fleet.Options) { o.Run.AllowMassPrune = true }
	rep, err = diff(t, options(r, ns, allow))
	if err != nil {
		t.Fatalf("diff: %v", err)
	}
	if got := actions(rep)[ns+"/gone ConfigMap/"+ns+"/b-cm"]; got != reconcile.Deleted {
		t.Errorf("diff: b-cm %q, want deleted", got)
	}
	if !exists(t, ns, "b-cm") || !exists(t, ns, "tidegate.gone") {
		t.Fatal("diff wrote")
	}

	rep, err = run(t, options(r, ns, allow))
	if err != nil {
		t.Fatalf("run --allow-mass-prune: %v", err)
	}
	if got := unit(rep, ns+"/gone").Status; got != reconcile.UnitRemoved {
		t.Errorf("removed unit: %s, want removed", got)
	}
	if exists(t, ns, "b-cm") || exists(t, ns, "tidegate.gone") {
		t.Error("the removed unit's object or inventory is still there")
	}
	if !exists(t, ns, "a-cm") {
		t.Error("the other unit's object was deleted")
	}
	rep, err = run(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := statuses(rep)[ns+"/gone"]; ok {
		t.Error("the removed unit is reported again")
	}
}
