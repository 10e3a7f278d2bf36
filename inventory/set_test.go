package inventory_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
)

var (
	cmA = object.ID{Kind: "ConfigMap", Namespace: "n", Name: "a"}
	cmB = object.ID{Kind: "ConfigMap", Namespace: "n", Name: "b"}
	nsN = object.ID{Kind: "Namespace", Name: "n"}
	crd = object.ID{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: "widgets.example.dev"}
)

func TestStale(t *testing.T) {
	a, b, c := cmA, cmB, nsN
	for _, tc := range []struct {
		name              string
		previous, current []object.ID
		want              []object.ID
	}{
		{"nothing before", nil, []object.ID{a}, nil},
		{"one removed", []object.ID{a, b}, []object.ID{a}, []object.ID{b}},
		{"all removed", []object.ID{c, a}, nil, []object.ID{a, c}},
		{"renamed", []object.ID{a}, []object.ID{b}, []object.ID{a}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := &inventory.Inventory{Members: tc.previous}
			if d := cmp.Diff(tc.want, inventory.Stale(prev, inventory.NewSet(tc.current...))); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestSetOperations(t *testing.T) {
	for _, tc := range []struct {
		name           string
		s, o           []object.ID
		union, sMinusO []object.ID
		equal          bool
	}{
		{"both empty", nil, nil, nil, nil, true},
		{"empty and one", nil, []object.ID{cmA}, []object.ID{cmA}, nil, false},
		{"one and empty", []object.ID{cmA}, nil, []object.ID{cmA}, []object.ID{cmA}, false},
		{"same, other order and a duplicate", []object.ID{cmB, cmA, cmB}, []object.ID{cmA, cmB}, []object.ID{cmA, cmB}, nil, true},
		{"same size, other members", []object.ID{cmA, nsN}, []object.ID{cmA, cmB}, []object.ID{cmA, cmB, nsN}, []object.ID{nsN}, false},
		{"disjoint", []object.ID{crd}, []object.ID{nsN}, []object.ID{nsN, crd}, []object.ID{crd}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, o := inventory.NewSet(tc.s...), inventory.NewSet(tc.o...)
			if d := cmp.Diff(tc.union, s.Union(o).Members()); d != "" {
				t.Errorf("union (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.union, o.Union(s).Members()); d != "" {
				t.Errorf("union is not symmetric (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.sMinusO, s.Difference(o).Members()); d != "" {
				t.Errorf("difference (-want +got):\n%s", d)
			}
			if s.Equal(o) != tc.equal || o.Equal(s) != tc.equal {
				t.Errorf("Equal = %v/%v, want %v", s.Equal(o), o.Equal(s), tc.equal)
			}
			if s.Len() != len(inventory.NewSet(tc.s...).Members()) {
				t.Errorf("Len = %d, members %v", s.Len(), s.Members())
			}
			// Values: no operation changes its operands.
			if d := cmp.Diff(inventory.NewSet(tc.s...).Members(), s.Members()); d != "" {
				t.Errorf("an operation changed its operand (-before +after):\n%s", d)
			}
		})
	}
	var zero inventory.Set
	if zero.Len() != 0 || zero.Has(cmA) || !zero.Equal(inventory.NewSet()) || zero.Union(inventory.NewSet(cmA)).Len() != 1 {
		t.Error("the zero Set is not an empty set")
	}
}

// TestNextInventory follows one run's arithmetic: widened before the
// apply, stale for the prune, final after it, and whether each must be
// written.
func TestNextInventory(t *testing.T) {
	const id = "applyset-x-v1"
	for _, tc := range []struct {
		name                   string
		prev                   []object.ID
		prevRevision, revision string
		desired                []object.ID
		// remaining is what the prune left of the stale members.
		remaining      func(stale []object.ID) []object.ID
		widened, stale []object.ID
		final          []object.ID
		writeWidened   bool
		writeFinal     bool
	}{
		{
			name: "first run", revision: "r1", desired: []object.ID{nsN, cmA},
			remaining: func([]object.ID) []object.ID { return nil },
			widened:   []object.ID{cmA, nsN}, stale: nil, final: []object.ID{cmA, nsN},
			writeWidened: true, writeFinal: true,
		},
		{
			name: "no-op: nothing is written", prev: []object.ID{cmA, nsN}, prevRevision: "r1", revision: "r1", desired: []object.ID{nsN, cmA},
			remaining: func([]object.ID) []object.ID { return nil },
			widened:   []object.ID{cmA, nsN}, stale: nil, final: []object.ID{cmA, nsN},
		},
		{
			name: "new revision, same objects: only the final write", prev: []object.ID{cmA}, prevRevision: "r1", revision: "r2", desired: []object.ID{cmA},
			remaining: func([]object.ID) []object.ID { return nil },
			widened:   []object.ID{cmA}, stale: nil, final: []object.ID{cmA},
			writeFinal: true,
		},
		{
			name: "renamed and pruned", prev: []object.ID{cmA, nsN}, prevRevision: "r1", revision: "r2", desired: []object.ID{cmB, nsN},
			remaining: func([]object.ID) []object.ID { return nil },
			widened:   []object.ID{cmA, cmB, nsN}, stale: []object.ID{cmA}, final: []object.ID{cmB, nsN},
			writeWidened: true, writeFinal: true,
		},
		{
			name: "not pruned, or the delete failed: the stale member stays", prev: []object.ID{cmA, nsN}, prevRevision: "r1", revision: "r2", desired: []object.ID{nsN},
			remaining: func(stale []object.ID) []object.ID { return stale },
			widened:   []object.ID{cmA, nsN}, stale: []object.ID{cmA}, final: []object.ID{cmA, nsN},
			writeFinal: true,
		},
		{
			name: "empty render, everything pruned", prev: []object.ID{crd, cmA}, prevRevision: "r1", revision: "r1",
			remaining: func([]object.ID) []object.ID { return nil },
			widened:   []object.ID{cmA, crd}, stale: []object.ID{cmA, crd}, final: nil,
			writeFinal: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := &inventory.Inventory{ID: id, Revision: tc.prevRevision, Members: tc.prev}
			desired := inventory.NewSet(tc.desired...)

			widened := inventory.Widened(prev, desired)
			if widened.ID != id || widened.Revision != tc.prevRevision {
				t.Errorf("widened is %s at %q, want %s at the previous revision %q", widened.ID, widened.Revision, id, tc.prevRevision)
			}
			if d := cmp.Diff(tc.widened, widened.Members); d != "" {
				t.Errorf("widened (-want +got):\n%s", d)
			}
			if got := inventory.Changed(prev, widened); got != tc.writeWidened {
				t.Errorf("Changed(prev, widened) = %v, want %v", got, tc.writeWidened)
			}

			stale := inventory.Stale(prev, desired)
			if d := cmp.Diff(tc.stale, stale); d != "" {
				t.Errorf("stale (-want +got):\n%s", d)
			}

			final := inventory.Final(prev, tc.revision, desired, inventory.NewSet(tc.remaining(stale)...))
			if final.ID != id || final.Revision != tc.revision {
				t.Errorf("final is %s at %q, want %s at %q", final.ID, final.Revision, id, tc.revision)
			}
			if d := cmp.Diff(tc.final, final.Members); d != "" {
				t.Errorf("final (-want +got):\n%s", d)
			}
			if got := inventory.Changed(prev, final); got != tc.writeFinal {
				t.Errorf("Changed(prev, final) = %v, want %v", got, tc.writeFinal)
			}
		})
	}
}

func TestChangedIgnoresOrder(t *testing.T) {
	prev := &inventory.Inventory{Revision: "r", Members: []object.ID{nsN, cmA}}
	next := &inventory.Inventory{Revision: "r", Members: []object.ID{cmA, nsN}}
	if inventory.Changed(prev, next) {
		t.Error("the same members in another order count as a change")
	}
	if prev.Members[0] != nsN {
		t.Error("Changed sorted its operand in place")
	}
}

// TestParentString pins the form reports and metrics show (and that
// metrics reads back: Kind namespace/name).
func TestParentString(t *testing.T) {
	if got, want := (inventory.Parent{Kind: "Secret", Namespace: "tidegate-system", Name: "fleet"}).String(), "Secret tidegate-system/fleet"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
