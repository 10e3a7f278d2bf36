package inventory

import (
	"maps"
	"slices"

	"github.com/tidegate/tidegate/object"
)

// Set is a set of object IDs, such as the members of an inventory or the
// objects a run applies. It is a value: no operation changes its
// operands, so a Set may be shared freely. The zero Set is empty.
type Set struct {
	ids map[object.ID]struct{}
}

// NewSet returns the set of ids; duplicates count once.
func NewSet(ids ...object.ID) Set {
	s := Set{ids: make(map[object.ID]struct{}, len(ids))}
	for _, id := range ids {
		s.ids[id] = struct{}{}
	}
	return s
}

// Len is the number of members.
func (s Set) Len() int { return len(s.ids) }

// Has reports whether id is a member.
func (s Set) Has(id object.ID) bool {
	_, ok := s.ids[id]
	return ok
}

// Members returns the members sorted as object.Sort sorts them, so that
// what is written and printed from a set is deterministic; nil when the
// set is empty.
func (s Set) Members() []object.ID {
	if len(s.ids) == 0 {
		return nil
	}
	out := make([]object.ID, 0, len(s.ids))
	for id := range s.ids {
		out = append(out, id)
	}
	object.Sort(out)
	return out
}

// Union returns the IDs in s or o.
func (s Set) Union(o Set) Set {
	out := Set{ids: make(map[object.ID]struct{}, len(s.ids)+len(o.ids))}
	for id := range s.ids {
		out.ids[id] = struct{}{}
	}
	for id := range o.ids {
		out.ids[id] = struct{}{}
	}
	return out
}

// Difference returns the IDs in s that o does not hold.
func (s Set) Difference(o Set) Set {
	out := Set{ids: map[object.ID]struct{}{}}
	for id := range s.ids {
		if !o.Has(id) {
			out.ids[id] = struct{}{}
		}
	}
	return out
}

// Equal reports whether s and o hold the same IDs.
func (s Set) Equal(o Set) bool {
	if len(s.ids) != len(o.ids) {
		return false
	}
	for id := range s.ids {
		if !o.Has(id) {
			return false
		}
	}
	return true
}

// Widened returns the inventory to write before anything is applied:
// every previous member and every desired object, still at the previous
// revision, since nothing of the new one is applied yet. The parent must
// list an object before it is created, so that a run that dies half-way
// leaves nothing untracked.
func Widened(prev *Inventory, desired Set) *Inventory {
	return &Inventory{ID: prev.ID, Revision: prev.Revision, Members: NewSet(prev.Members...).Union(desired).Members(), Hooks: prev.Hooks}
}

// Stale returns, sorted, the previous members that the desired set no
// longer holds: what a prune may consider deleting.
func Stale(prev *Inventory, desired Set) []object.ID {
	return NewSet(prev.Members...).Difference(desired).Members()
}

// Final returns the inventory to write after the prune, at the revision
// applied: the desired objects and the stale members still held, which
// are the deletes that failed and the members the prune kept (or every
// stale member when the run does not prune). They stay ours, so that a
// later run retries them. The hook digests stay the previous ones: the
// caller records the releases whose hooks ran.
func Final(prev *Inventory, revision string, desired, remaining Set) *Inventory {
	return &Inventory{ID: prev.ID, Revision: revision, Members: desired.Union(remaining).Members(), Hooks: prev.Hooks}
}

// Changed reports whether next records something prev does not: another
// revision, other members or other hook digests. An unchanged inventory is not written
// again, so that a run that changes nothing writes nothing.
func Changed(prev, next *Inventory) bool {
	if prev.Revision != next.Revision || !maps.Equal(prev.Hooks, next.Hooks) {
		return true
	}
	a, b := slices.Clone(prev.Members), slices.Clone(next.Members)
	object.Sort(a)
	object.Sort(b)
	return !slices.Equal(a, b)
}
