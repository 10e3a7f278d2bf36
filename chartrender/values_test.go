package chartrender_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/chartrender"
)

func yamlMap(t *testing.T, s string) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMergeValues(t *testing.T) {
	found := map[chartrender.ValuesSource]map[string][]byte{
		{Kind: "ConfigMap", Name: "base"}:   {"values.yaml": []byte("replicas: 1\nimage:\n  tag: \"1.0\"\n  pull: Always\nlist: [a, b]\n")},
		{Kind: "Secret", Name: "prod"}:      {"values.yaml": []byte("replicas: 3\nimage:\n  tag: \"2.0\"\nlist: [c]\n"), "token": []byte("abc,def")},
		{Kind: "ConfigMap", Name: "custom"}: {"my.yaml": []byte("image:\n  pull: IfNotPresent\n"), "host": []byte("db.example.com"), "quoted": []byte(`"0123"`), "number": []byte("8080")},
	}
	cases := []struct {
		name   string
		inline string
		refs   []chartrender.ValuesReference
		want   string
	}{
		{name: "later references override earlier ones key by key, inline last",
			inline: "replicas: 5\n",
			refs:   []chartrender.ValuesReference{{Kind: "ConfigMap", Name: "base"}, {Kind: "Secret", Name: "prod"}},
			want:   "replicas: 5\nimage:\n  tag: \"2.0\"\n  pull: Always\nlist: [c]\n"},
		{name: "valuesKey",
			refs: []chartrender.ValuesReference{{Kind: "ConfigMap", Name: "base"}, {Kind: "ConfigMap", Name: "custom", ValuesKey: "my.yaml"}},
			want: "replicas: 1\nimage:\n  tag: \"1.0\"\n  pull: IfNotPresent\nlist: [a, b]\n"},
		{name: "targetPath writes the key's text with --set parsing",
			refs: []chartrender.ValuesReference{{Kind: "ConfigMap", Name: "custom", ValuesKey: "host", TargetPath: "db.host"}, {Kind: "ConfigMap", Name: "custom", ValuesKey: "number", TargetPath: "db.port"}},
			want: "db:\n  host: db.example.com\n  port: 8080\n"},
		{name: "targetPath with a quoted value keeps a string",
			refs: []chartrender.ValuesReference{{Kind: "ConfigMap", Name: "custom", ValuesKey: "quoted", TargetPath: "code"}},
			want: "code: \"0123\"\n"},
		{name: "literal keeps commas",
			refs: []chartrender.ValuesReference{{Kind: "Secret", Name: "prod", ValuesKey: "token", TargetPath: "auth.token", Literal: true}},
			want: "auth:\n  token: abc,def\n"},
		{name: "a targetPath value wins over an inline map it lands in",
			inline: "db:\n  host: inline\n  user: app\nport: 1\n",
			refs:   []chartrender.ValuesReference{{Kind: "ConfigMap", Name: "custom", ValuesKey: "host", TargetPath: "db.host"}, {Kind: "ConfigMap", Name: "custom", ValuesKey: "number", TargetPath: "port"}},
			want:   "db:\n  host: db.example.com\n  user: app\nport: 1\n"},
		{name: "optional references that are missing are skipped",
			inline: "a: 1\n",
			refs:   []chartrender.ValuesReference{{Kind: "Secret", Name: "absent", Optional: true}, {Kind: "ConfigMap", Name: "base", ValuesKey: "absent.yaml", Optional: true}},
			want:   "a: 1\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inline := yamlMap(t, c.inline)
			got, err := chartrender.MergeValues("apps", inline, c.refs, found)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(yamlMap(t, c.inline), inline); diff != "" {
				t.Errorf("the caller's inline values changed (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(yamlMap(t, c.want), normalizeMap(t, got)); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
		})
	}
}

func normalizeMap(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return yamlMap(t, string(b))
}

func TestMergeValuesErrors(t *testing.T) {
	found := map[chartrender.ValuesSource]map[string][]byte{
		{Kind: "ConfigMap", Name: "bad"}: {"values.yaml": []byte("- a list\n- not a map\n")},
	}
	cases := []struct {
		name     string
		ref      chartrender.ValuesReference
		wants    []string
		notFound bool
	}{
		{"missing object", chartrender.ValuesReference{Kind: "Secret", Name: "gone"}, []string{"Secret/apps/gone", "optional"}, true},
		{"missing key", chartrender.ValuesReference{Kind: "ConfigMap", Name: "bad", ValuesKey: "other.yaml"}, []string{"ConfigMap/apps/bad", `"other.yaml"`}, true},
		{"unsupported kind", chartrender.ValuesReference{Kind: "OCIRepository", Name: "x"}, []string{"OCIRepository", "ConfigMap or Secret"}, false},
		{"not a map", chartrender.ValuesReference{Kind: "ConfigMap", Name: "bad"}, []string{"ConfigMap/apps/bad", "not a YAML map"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := chartrender.MergeValues("apps", nil, []chartrender.ValuesReference{c.ref}, found)
			if err == nil {
				t.Fatalf("merged %v, want an error", got)
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if errors.Is(err, chartrender.ErrValuesNotFound) != c.notFound {
				t.Errorf("errors.Is(ErrValuesNotFound) = %v, want %v", !c.notFound, c.notFound)
			}
		})
	}
}

// TestHostileMergeValuesSecretData: a Secret whose values do not parse
// must not have its data quoted in the error, which ends up in CI logs.
func TestHostileMergeValuesSecretData(t *testing.T) {
	const canary = "hunter2-canary"
	found := map[chartrender.ValuesSource]map[string][]byte{
		{Kind: "Secret", Name: "creds"}: {
			"values.yaml": []byte("password: " + canary + "\n  indented: " + canary + "\n"),
			"scalar":      []byte(canary),
			"setsyntax":   []byte("x]" + canary + "[,"),
		},
	}
	cases := []chartrender.ValuesReference{
		{Kind: "Secret", Name: "creds"},
		{Kind: "Secret", Name: "creds", ValuesKey: "scalar"},
		{Kind: "Secret", Name: "creds", ValuesKey: "setsyntax", TargetPath: "a[" + "x"},
		{Kind: "Secret", Name: "creds", ValuesKey: "setsyntax", TargetPath: "a.b[99999999]"},
	}
	for _, ref := range cases {
		t.Run(ref.ValuesKey+ref.TargetPath, func(t *testing.T) {
			got, err := chartrender.MergeValues("apps", nil, []chartrender.ValuesReference{ref}, found)
			if err == nil {
				t.Fatalf("merged %v, want an error", got)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("the error quotes the Secret's data: %v", err)
			}
			if !strings.Contains(err.Error(), "Secret/apps/creds") || !strings.Contains(err.Error(), "withheld") {
				t.Errorf("the error does not name the Secret and say why it is short: %v", err)
			}
		})
	}
}
