package flux

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// objects is a Lookup over objects held in memory, as the objects of a
// run's render are; calls records what was asked for.
type objects struct {
	data  map[string]map[string]string
	err   error
	calls []string
}

func (o *objects) Get(_ context.Context, kind, namespace, name string) (map[string]string, bool, error) {
	key := kind + "/" + namespace + "/" + name
	o.calls = append(o.calls, key)
	if o.err != nil {
		return nil, false, o.err
	}
	d, ok := o.data[key]
	return d, ok, nil
}

func TestVars(t *testing.T) {
	k := func(refs ...SubstituteRef) *Kustomization {
		return &Kustomization{Namespace: "flux-system", Name: "apps", File: "apps.yaml", SubstituteFrom: refs}
	}
	store := func() *objects {
		return &objects{data: map[string]map[string]string{
			"ConfigMap/flux-system/common":  {"region": "eu", "env": "common", "banner": "line1\nline2\n"},
			"Secret/flux-system/creds":      {"token": "s3cr3t", "env": "from-secret"},
			"ConfigMap/flux-system/cluster": {"env": "production"},
			"ConfigMap/other/cluster":       {"env": "wrong-namespace"},
		}}
	}
	for _, tc := range []struct {
		name       string
		k          *Kustomization
		wantVars   map[string]string
		wantSecret map[string]bool
		wantCalls  []string
	}{
		{"none", k(), map[string]string{}, map[string]bool{}, nil},
		{"later overrides earlier, newlines removed", k(
			SubstituteRef{Kind: "ConfigMap", Name: "common"},
			SubstituteRef{Kind: "Secret", Name: "creds"},
			SubstituteRef{Kind: "ConfigMap", Name: "cluster"},
		), map[string]string{"region": "eu", "env": "production", "banner": "line1line2", "token": "s3cr3t"}, map[string]bool{"token": true},
			[]string{"ConfigMap/flux-system/common", "Secret/flux-system/creds", "ConfigMap/flux-system/cluster"}},
		{"a Secret overriding a ConfigMap is secret", k(
			SubstituteRef{Kind: "ConfigMap", Name: "cluster"},
			SubstituteRef{Kind: "Secret", Name: "creds"},
		), map[string]string{"env": "from-secret", "token": "s3cr3t"}, map[string]bool{"env": true, "token": true}, nil},
		{"optional missing is skipped", k(
			SubstituteRef{Kind: "ConfigMap", Name: "absent", Optional: true},
			SubstituteRef{Kind: "ConfigMap", Name: "cluster"},
		), map[string]string{"env": "production"}, map[string]bool{}, []string{"ConfigMap/flux-system/absent", "ConfigMap/flux-system/cluster"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := store()
			vars, secret, err := Vars(context.Background(), tc.k, s)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantVars, vars); diff != "" {
				t.Errorf("vars (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantSecret, secret); diff != "" {
				t.Errorf("secret (-want +got):\n%s", diff)
			}
			if tc.wantCalls != nil {
				if diff := cmp.Diff(tc.wantCalls, s.calls); diff != "" {
					t.Errorf("lookups (-want +got):\n%s", diff)
				}
			}
		})
	}

	t.Run("missing required", func(t *testing.T) {
		_, _, err := Vars(context.Background(), k(SubstituteRef{Kind: "ConfigMap", Name: "cluster"}, SubstituteRef{Kind: "Secret", Name: "absent"}), store())
		wantErr(t, err, "Kustomization/flux-system/apps (apps.yaml): spec.postBuild.substituteFrom[1]: Secret/flux-system/absent does not exist", "optional: true")
	})
	t.Run("lookup error is wrapped", func(t *testing.T) {
		boom := errors.New("connection refused")
		_, _, err := Vars(context.Background(), k(SubstituteRef{Kind: "ConfigMap", Name: "cluster", Optional: true}), &objects{err: boom})
		if !errors.Is(err, boom) {
			t.Fatalf("error does not wrap the lookup's: %v", err)
		}
		wantErr(t, err, "Kustomization/flux-system/apps (apps.yaml): spec.postBuild.substituteFrom[0]: reading ConfigMap/flux-system/cluster")
	})
	t.Run("a key Flux refuses as a variable", func(t *testing.T) {
		s := &objects{data: map[string]map[string]string{"ConfigMap/flux-system/files": {"config.yaml": "x: 1"}}}
		_, _, err := Vars(context.Background(), k(SubstituteRef{Kind: "ConfigMap", Name: "files"}), s)
		wantErr(t, err, "ConfigMap/flux-system/files has the key config.yaml, which is not a variable name")
	})
}
