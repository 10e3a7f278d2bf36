package marker

import (
	"errors"
	"strings"
	"testing"
	"unicode"

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
		// Hostile repositories: escapes that spell the key, duplicate keys,
		// control characters and newlines in the setter, Unicode look-alikes,
		// deep nesting, a field name with the setter separator.
		`# {"\u0024imagepolicy": "ns:app"}`,
		`# {"$imagepolicy": "ns:app", "$imagepolicy": "evil:x"}`,
		`# {"$imagepolicy": "ns:app\n# {\"$imagepolicy\": \"x:y\"}"}`,
		`# {"$imagepolicy": "ns:app\u001b[31m"}`,
		`# {"$imagepolicy": "nѕ:app"}`,
		`# {"$imagepolicy": "ns:app:tag:extra"}`,
		`# {"$imagepolicy": "ns::tag"}`,
		`# {"$imagepolicy": {"$imagepolicy": "ns:app"}}`,
		"# {\"$imagepolicy\": \"ns:" + strings.Repeat("a", 300) + "\"}",
		`## {"$imagepolicy": "ns:app"} # trailing`,
		"# {\"$imagepolicy\": \"ns:app\"}\x00",
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
			// Errors reach logs, annotations and summaries: one line, no
			// control character from the comment.
			if strings.ContainsFunc(err.Error(), unicode.IsControl) {
				t.Fatalf("error holds a control character: %q", err.Error())
			}
			return
		}
		// An accepted marker names objects Kubernetes could hold: what a
		// log or a branch name built from it can rely on.
		for _, p := range []string{m.Namespace, m.Name} {
			if p == "" || len(p) > 253 || strings.ContainsFunc(p, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') }) {
				t.Fatalf("accepted %q as a namespace or name", p)
			}
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
