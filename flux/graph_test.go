package flux

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// unit is a Kustomization in namespace ns depending on deps ("name" or
// "ns/name").
func unit(ns, name string, deps ...string) *Kustomization {
	k := &Kustomization{Namespace: ns, Name: name, File: name + ".yaml"}
	for _, d := range deps {
		dns, dn, ok := strings.Cut(d, "/")
		if !ok {
			dns, dn = ns, d
		}
		k.DependsOn = append(k.DependsOn, Ref{Kind: "Kustomization", Namespace: dns, Name: dn})
	}
	return k
}

func TestOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		units []*Kustomization
		want  [][]string
	}{
		{"none", nil, nil},
		{"independent units share a level, sorted", []*Kustomization{unit("b", "z"), unit("a", "y"), unit("b", "a")}, [][]string{{"Kustomization/a/y", "Kustomization/b/a", "Kustomization/b/z"}}},
		{"chain", []*Kustomization{unit("f", "apps", "configs"), unit("f", "configs", "controllers"), unit("f", "controllers")}, [][]string{
			{"Kustomization/f/controllers"}, {"Kustomization/f/configs"}, {"Kustomization/f/apps"},
		}},
		{"diamond", []*Kustomization{unit("f", "top"), unit("f", "left", "top"), unit("f", "right", "top"), unit("f", "bottom", "left", "right")}, [][]string{
			{"Kustomization/f/top"}, {"Kustomization/f/left", "Kustomization/f/right"}, {"Kustomization/f/bottom"},
		}},
		{"a unit waits for its longest chain", []*Kustomization{unit("f", "a"), unit("f", "b", "a"), unit("f", "c", "a", "b")}, [][]string{
			{"Kustomization/f/a"}, {"Kustomization/f/b"}, {"Kustomization/f/c"},
		}},
		{"cross namespace", []*Kustomization{unit("team", "app", "flux-system/infra"), unit("flux-system", "infra")}, [][]string{
			{"Kustomization/flux-system/infra"}, {"Kustomization/team/app"},
		}},
		{"duplicate dependencies count once", []*Kustomization{unit("f", "a"), unit("f", "b", "a", "a", "f/a")}, [][]string{{"Kustomization/f/a"}, {"Kustomization/f/b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			levels, err := Order(tc.units)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, names(levels)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("input order does not matter", func(t *testing.T) {
		a := []*Kustomization{unit("f", "c", "a"), unit("f", "b", "a"), unit("f", "a"), unit("f", "d", "b", "c")}
		b := []*Kustomization{a[3], a[2], a[0], a[1]}
		la, _ := Order(a)
		lb, _ := Order(b)
		if diff := cmp.Diff(names(la), names(lb)); diff != "" {
			t.Errorf("(-a +b):\n%s", diff)
		}
	})
}

func TestOrderErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		units []*Kustomization
		want  []string
		not   []string
	}{
		{"cycle of three names all in order", []*Kustomization{unit("f", "a", "c"), unit("f", "b", "a"), unit("f", "c", "b"), unit("f", "free")},
			[]string{"Kustomization/f/a (a.yaml): dependency cycle Kustomization/f/a -> Kustomization/f/c -> Kustomization/f/b -> Kustomization/f/a", "remove one of these spec.dependsOn entries"}, []string{"free"}},
		{"self dependency", []*Kustomization{unit("f", "a", "a")}, []string{"Kustomization/f/a (a.yaml) depends on itself"}, nil},
		{"a unit behind a cycle is not blamed", []*Kustomization{unit("f", "x", "y"), unit("f", "y", "x"), unit("f", "after", "x")},
			[]string{"dependency cycle Kustomization/f/x -> Kustomization/f/y -> Kustomization/f/x"}, []string{"after ->", "-> Kustomization/f/after"}},
		{"two cycles", []*Kustomization{unit("f", "a", "b"), unit("f", "b", "a"), unit("f", "c", "d"), unit("f", "d", "c")},
			[]string{"Kustomization/f/a -> Kustomization/f/b -> Kustomization/f/a", "Kustomization/f/c -> Kustomization/f/d -> Kustomization/f/c"}, nil},
		{"missing", []*Kustomization{unit("f", "apps", "infra")}, []string{"Kustomization/f/apps (apps.yaml) depends on Kustomization/f/infra, which is not in this run", "remove it from spec.dependsOn"}, nil},
		{"missing in another namespace", []*Kustomization{unit("team", "app", "infra"), unit("flux-system", "infra")}, []string{"depends on Kustomization/team/infra"}, nil},
		{"missing and a cycle at once", []*Kustomization{unit("f", "a", "b"), unit("f", "b", "a"), unit("f", "c", "gone")},
			[]string{"Kustomization/f/c (c.yaml) depends on Kustomization/f/gone", "dependency cycle Kustomization/f/a -> Kustomization/f/b -> Kustomization/f/a"}, nil},
		{"defined twice", []*Kustomization{unit("f", "a"), {Namespace: "f", Name: "a", File: "other.yaml"}}, []string{"Kustomization/f/a is defined twice (a.yaml and other.yaml)"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			levels, err := Order(tc.units)
			if levels != nil {
				t.Errorf("levels with an error: %v", names(levels))
			}
			wantErr(t, err, tc.want...)
			for _, n := range tc.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error mentions %q:\n%v", n, err)
				}
			}
		})
	}
}

func TestDependents(t *testing.T) {
	levels, err := Order([]*Kustomization{
		unit("f", "infra"), unit("f", "configs", "infra"), unit("f", "apps", "configs"),
		unit("f", "monitoring", "infra"), unit("f", "standalone"), unit("team", "app", "f/apps"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ref := func(ns, n string) Ref { return Ref{Kind: "Kustomization", Namespace: ns, Name: n} }
	for _, tc := range []struct {
		of   Ref
		want []Ref
	}{
		{ref("f", "infra"), []Ref{ref("f", "configs"), ref("f", "monitoring"), ref("f", "apps"), ref("team", "app")}},
		{ref("f", "configs"), []Ref{ref("f", "apps"), ref("team", "app")}},
		{ref("team", "app"), nil},
		{ref("f", "standalone"), nil},
		{ref("f", "unknown"), nil},
		{Ref{Kind: "Kustomization", Namespace: "f", Name: "apps", APIVersion: "kustomize.toolkit.fluxcd.io/v1"}, []Ref{ref("team", "app")}},
	} {
		if diff := cmp.Diff(tc.want, Dependents(levels, tc.of)); diff != "" {
			t.Errorf("Dependents(%s) (-want +got):\n%s", tc.of, diff)
		}
	}
}
