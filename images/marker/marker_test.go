package marker

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		comment string
		want    Marker
		wantErr string // substring; "" means success
		none    bool
	}{
		{name: "whole image", comment: `# {"$imagepolicy": "flux-system:app"}`, want: Marker{Namespace: "flux-system", Name: "app"}},
		{name: "tag", comment: `{"$imagepolicy": "apps:podinfo:tag"}`, want: Marker{Namespace: "apps", Name: "podinfo", Field: Tag}},
		{name: "name", comment: `#{"$imagepolicy":"apps:podinfo:name"}`, want: Marker{Namespace: "apps", Name: "podinfo", Field: Name}},
		{name: "digest", comment: `# {"$imagepolicy": "a:b.c:digest"}`, want: Marker{Namespace: "a", Name: "b.c", Field: Digest}},
		{name: "plain comment", comment: `# the app image`, none: true},
		{name: "not json", comment: `# {$imagepolicy: apps:podinfo}`, wantErr: "want a JSON object"},
		{name: "number value", comment: `# {"$imagepolicy": 3}`, wantErr: "must be a string"},
		{name: "one part", comment: `# {"$imagepolicy": "podinfo"}`, wantErr: "is not namespace:name"},
		{name: "four parts", comment: `# {"$imagepolicy": "a:b:tag:x"}`, wantErr: "is not namespace:name"},
		{name: "slash", comment: `# {"$imagepolicy": "apps/podinfo"}`, wantErr: "is not namespace:name"},
		{name: "unknown field", comment: `# {"$imagepolicy": "a:b:version"}`, wantErr: `unknown field "version"`},
		{name: "upper case", comment: `# {"$imagepolicy": "Apps:b"}`, wantErr: "not a valid Kubernetes"},
		{name: "empty name", comment: `# {"$imagepolicy": "apps:"}`, wantErr: "not a valid Kubernetes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.comment)
			switch {
			case tt.none:
				if !errors.Is(err, ErrNoMarker) {
					t.Fatalf("Parse() error = %v, want ErrNoMarker", err)
				}
			case tt.wantErr != "":
				var merr *Error
				if !errors.As(err, &merr) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse() error = %v, want *Error containing %q", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("Parse() error = %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestStringRoundTrip(t *testing.T) {
	for _, s := range []string{"ns:app", "ns:app:tag", "ns:app:name", "ns:app:digest"} {
		m, err := ParseSetter(s, s)
		if err != nil {
			t.Fatal(err)
		}
		if m.String() != s {
			t.Errorf("String() = %q, want %q", m.String(), s)
		}
	}
}

// FuzzParse checks that Parse never panics, that every error is one of the
// two documented kinds, and that an accepted marker prints back to a setter
// that parses to the same value.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`# {"$imagepolicy": "flux-system:app"}`,
		`{"$imagepolicy": "a:b:tag"}`,
		`# {"$imagepolicy": "a:b:digest", "x": 1}`,
		`# {"$imagepolicy": ["a"]}`,
		`#`, `$imagepolicy`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, comment string) {
		m, err := Parse(comment)
		if err != nil {
			var merr *Error
			if !errors.Is(err, ErrNoMarker) && !errors.As(err, &merr) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		again, err := ParseSetter(m.String(), comment)
		if err != nil {
			t.Fatalf("String() %q of an accepted marker does not parse: %v", m.String(), err)
		}
		if again != m {
			t.Fatalf("round trip: %+v != %+v", again, m)
		}
	})
}
