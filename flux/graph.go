package flux

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// maxNamed bounds how many references one graph error lists.
const maxNamed = 20

// Order sorts units into levels by spec.dependsOn: every unit comes in a
// later level than all it depends on, units of one level do not depend on
// each other (and may run concurrently), and each level is sorted by
// namespace and name so that runs are deterministic.
//
// Two units with the same namespace and name, a dependency that is not
// among units, a unit that depends on itself and a cycle are errors; a
// cycle's error names its members in order (a -> b -> c -> a).
func Order(units []*Kustomization) ([][]*Kustomization, error) {
	byRef := make(map[Ref]*Kustomization, len(units))
	var errs []error
	for _, u := range units {
		if u == nil {
			continue
		}
		r := u.Ref()
		if prev, ok := byRef[r]; ok {
			errs = append(errs, fmt.Errorf("%s is defined twice (%s and %s): Flux would apply only one of them; remove or rename one", r, fileOr(prev.File), fileOr(u.File)))
			continue
		}
		byRef[r] = u
	}
	sorted := make([]*Kustomization, 0, len(byRef))
	for _, u := range byRef {
		sorted = append(sorted, u)
	}
	sortUnits(sorted)

	// deps are each unit's dependencies by identity, once each (a caller
	// may build units by hand, with duplicates or API versions), and only
	// those among units: a missing one is reported, and the cycles among
	// the others are found all the same, so one run reports both.
	deps := make(map[Ref][]Ref, len(sorted))
	missing := 0
	for _, u := range sorted {
		seen := map[Ref]bool{}
		for _, d := range u.DependsOn {
			if d = d.key(); seen[d] {
				continue
			}
			seen[d] = true
			if _, ok := byRef[d]; ok {
				deps[u.Ref()] = append(deps[u.Ref()], d)
				continue
			}
			missing++
			if missing <= maxNamed {
				errs = append(errs, fmt.Errorf("%s (%s) depends on %s, which is not in this run: add that Kustomization to the path being run, or remove it from spec.dependsOn", u, fileOr(u.File), d))
			}
		}
	}
	if missing > maxNamed {
		errs = append(errs, fmt.Errorf("and %d more missing dependencies", missing-maxNamed))
	}

	// Kahn's algorithm, one level at a time.
	waiting := make(map[Ref]int, len(sorted))
	dependents := make(map[Ref][]*Kustomization, len(sorted))
	for _, u := range sorted {
		waiting[u.Ref()] = len(deps[u.Ref()])
		for _, d := range deps[u.Ref()] {
			dependents[d] = append(dependents[d], u)
		}
	}
	var levels [][]*Kustomization
	var level []*Kustomization
	for _, u := range sorted {
		if waiting[u.Ref()] == 0 {
			level = append(level, u)
		}
	}
	placed := 0
	for len(level) > 0 {
		levels = append(levels, level)
		placed += len(level)
		var next []*Kustomization
		for _, u := range level {
			for _, d := range dependents[u.Ref()] {
				waiting[d.Ref()]--
				if waiting[d.Ref()] == 0 {
					next = append(next, d)
				}
			}
		}
		sortUnits(next)
		level = next
	}
	if placed < len(sorted) {
		errs = append(errs, cycles(sorted, byRef, deps, waiting))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return levels, nil
}

// cycles explains the units Kahn's algorithm could not place: each is on
// a cycle or depends on one. Walking from each unplaced unit along its
// first unplaced dependency must come back to a unit already on the walk;
// the part of the walk from there is a cycle.
func cycles(sorted []*Kustomization, byRef map[Ref]*Kustomization, deps map[Ref][]Ref, waiting map[Ref]int) error {
	done := map[Ref]bool{}
	var errs []error
	for _, start := range sorted {
		if waiting[start.Ref()] == 0 || done[start.Ref()] {
			continue
		}
		pos := map[Ref]int{}
		var walk []*Kustomization
		u := start
		for {
			r := u.Ref()
			if done[r] {
				break
			}
			if i, ok := pos[r]; ok {
				errs = append(errs, cycleError(walk[i:]))
				break
			}
			pos[r] = len(walk)
			walk = append(walk, u)
			var next *Kustomization
			for _, d := range deps[r] {
				if waiting[d] > 0 {
					next = byRef[d]
					break
				}
			}
			u = next
		}
		for _, w := range walk {
			done[w.Ref()] = true
		}
	}
	return errors.Join(errs...)
}

func cycleError(cycle []*Kustomization) error {
	if len(cycle) == 1 {
		return fmt.Errorf("%s (%s) depends on itself: remove it from its own spec.dependsOn", cycle[0], fileOr(cycle[0].File))
	}
	names := make([]string, 0, len(cycle)+1)
	for i, u := range cycle {
		if i == maxNamed {
			names = append(names, fmt.Sprintf("… %d more", len(cycle)-maxNamed))
			break
		}
		names = append(names, u.String())
	}
	names = append(names, cycle[0].String())
	return fmt.Errorf("%s (%s): dependency cycle %s (each waits for the next): no unit of it can run first; remove one of these spec.dependsOn entries", cycle[0], fileOr(cycle[0].File), strings.Join(names, " -> "))
}

// Dependents returns every unit of levels that depends on u, directly or
// through others, in the order of levels: the units to skip when u fails.
func Dependents(levels [][]*Kustomization, u Ref) []Ref {
	dependents := map[Ref][]Ref{}
	for _, level := range levels {
		for _, k := range level {
			for _, d := range k.DependsOn {
				dependents[d.key()] = append(dependents[d.key()], k.Ref())
			}
		}
	}
	hit := map[Ref]bool{}
	queue := []Ref{u.key()}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		for _, d := range dependents[r] {
			if !hit[d] {
				hit[d] = true
				queue = append(queue, d)
			}
		}
	}
	var out []Ref
	for _, level := range levels {
		for _, k := range level {
			if r := k.Ref(); hit[r] && r != u.key() {
				out = append(out, r)
			}
		}
	}
	return out
}

func sortUnits(us []*Kustomization) {
	sort.Slice(us, func(i, j int) bool {
		if us[i].Namespace != us[j].Namespace {
			return us[i].Namespace < us[j].Namespace
		}
		return us[i].Name < us[j].Name
	})
}

func fileOr(file string) string {
	if file == "" {
		return "file unknown"
	}
	return quotePath(file)
}
