package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzPolicies feeds arbitrary ranges, patterns and tags to every policy
// kind and checks the invariants all of them promise: no panic, any
// selection is one of the tags that went in, Top lists distinct input
// tags with Latest's pick first, and errors are one line (they reach
// logs and pull request bodies).
func FuzzPolicies(f *testing.F) {
	f.Add(">=1.0.0", `^v?(\d+)`, "$1", "1.0.0,v2.0.0,3")
	f.Add("~1.2", "", "", "1.2.3,1.2.4-rc.1,main")
	f.Add("*", `(?P<n>\d+)$`, "$n", "a-1,b-22,c-3")
	// Registry and repository data a hostile party controls: tags outside
	// the reference grammar (scan drops them, but the policies must not
	// rely on it), patterns with catastrophic or odd forms, ranges with
	// build metadata and control characters.
	f.Add(">=1.0.0 <2.0.0", "", "", "1.9.0+evil,1.8.0\n| x |,1.7.0\x1b[31m,1.4.0,"+strings.Repeat("9", 5000))
	f.Add("^5.0.0", `^(?P<ts>\d+)-.*$`, "$ts", "17000-a,17000-a,9999999999999999999999-b,-1-c,0x10-d")
	f.Add("glob:1.*", `(a+)+$`, "$1", strings.Repeat("a", 200)+"!,aaa")
	f.Add("regex:^v\\d", `^(?P<v>.*)$`, "${v}${v}", "v1,v2@sha256:"+strings.Repeat("a", 64)+",v3")
	f.Add("semver:~1.2\n", `\`, "$", ",,")
	f.Add(">= 1.2.3-rc.1+meta", "^$", "", "1.2.3-rc.1,1.2.3-rc.1+meta,1.2.3")
	f.Fuzz(func(t *testing.T, rng, pattern, extract, list string) {
		tags := strings.Split(list, ",")
		var ps []Policer
		if p, err := NewSemVer(rng); err == nil {
			ps = append(ps, p)
		} else {
			oneLine(t, err)
		}
		asc, _ := NewAlphabetical("asc")
		num, _ := NewNumerical("desc")
		ps = append(ps, asc, num)
		for _, inner := range slices.Clone(ps) {
			if fl, err := NewFilter(pattern, extract, inner); err == nil {
				ps = append(ps, fl)
			} else {
				oneLine(t, err)
			}
		}
		if pat, err := ParsePattern(rng); err == nil {
			ps = append(ps, pat.Policer(nil))
		}
		for _, p := range ps {
			got, err := p.Latest(tags)
			if err != nil {
				oneLine(t, err)
				var ne *NotNumberError
				if !errors.Is(err, ErrNoCandidate) && !errors.As(err, &ne) {
					t.Fatalf("%T: unexpected error kind %v", p, err)
				}
				continue
			}
			if !slices.Contains(tags, got) {
				t.Fatalf("%T selected %q, which is not among the tags %q", p, got, tags)
			}
			top, err := Top(p, tags, 3)
			if err != nil {
				continue
			}
			if len(top) == 0 || top[0] != got || len(top) > 3 {
				t.Fatalf("%T: Top = %q, Latest = %q", p, top, got)
			}
			for i, tag := range top {
				if !slices.Contains(tags, tag) || slices.Contains(top[:i], tag) {
					t.Fatalf("%T: Top = %q lists %q twice or from nowhere", p, top, tag)
				}
			}
		}
	})
}

// oneLine fails when an error about a pattern or range would print a
// newline or control character from its input raw.
func oneLine(t *testing.T, err error) {
	t.Helper()
	if strings.ContainsAny(err.Error(), "\n\r\x1b\x00") {
		t.Fatalf("error spans lines or holds control characters: %q", err.Error())
	}
}
