package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzPolicies feeds arbitrary ranges, patterns and tags to every policy
// kind and checks the invariants all of them promise: no panic, and any
// selection is one of the tags that went in.
func FuzzPolicies(f *testing.F) {
	f.Add(">=1.0.0", `^v?(\d+)`, "$1", "1.0.0,v2.0.0,3")
	f.Add("~1.2", "", "", "1.2.3,1.2.4-rc.1,main")
	f.Add("*", `(?P<n>\d+)$`, "$n", "a-1,b-22,c-3")
	f.Fuzz(func(t *testing.T, rng, pattern, extract, list string) {
		tags := strings.Split(list, ",")
		var ps []Policer
		if p, err := NewSemVer(rng); err == nil {
			ps = append(ps, p)
		}
		asc, _ := NewAlphabetical("asc")
		num, _ := NewNumerical("desc")
		ps = append(ps, asc, num)
		for _, inner := range slices.Clone(ps) {
			if fl, err := NewFilter(pattern, extract, inner); err == nil {
				ps = append(ps, fl)
			}
		}
		if pat, err := ParsePattern(rng); err == nil {
			ps = append(ps, pat.Policer(nil))
		}
		for _, p := range ps {
			got, err := p.Latest(tags)
			if err != nil {
				var ne *NotNumberError
				if !errors.Is(err, ErrNoCandidate) && !errors.As(err, &ne) {
					t.Fatalf("%T: unexpected error kind %v", p, err)
				}
				continue
			}
			if !slices.Contains(tags, got) {
				t.Fatalf("%T selected %q, which is not among the tags %q", p, got, tags)
			}
		}
	})
}
