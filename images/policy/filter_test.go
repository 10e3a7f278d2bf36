package policy

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFilter(t *testing.T) {
	tags := []string{"main-a1b2c3-1700000010", "main-d4e5f6-1700000200", "main-0a0b0c-1700000030", "dev-ffffff-1800000000", "1.0.0", "1.1.0.sig"}
	num, _ := NewNumerical("asc")
	alpha, _ := NewAlphabetical("asc")
	sem, _ := NewSemVer(">=1.0.0")
	tests := []struct {
		name, pattern, extract string
		inner                  Policer
		want                   string
		wantErr                error
	}{
		{name: "extract numeric timestamp", pattern: `^main-[a-f0-9]+-(?P<ts>[0-9]+)`, extract: "$ts", inner: num, want: "main-d4e5f6-1700000200"},
		{name: "extract by index", pattern: `^main-[a-f0-9]+-([0-9]+)`, extract: "$1", inner: alpha, want: "main-d4e5f6-1700000200"},
		{name: "filter without extract", pattern: `^main-`, inner: alpha, want: "main-d4e5f6-1700000200"},
		{name: "extract turns tags into versions", pattern: `^(dev|main)-[a-f0-9]+-1(?P<v>[0-9])`, extract: "$v.0.0", inner: sem, want: "dev-ffffff-1800000000"},
		{name: "no match", pattern: `^release-`, inner: alpha, wantErr: ErrNoCandidate},
		{name: "empty pattern lets everything through", inner: alpha, want: "main-d4e5f6-1700000200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFilter(tt.pattern, tt.extract, tt.inner)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Latest(tags)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("Latest() = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := NewFilter("(", "", alpha); err == nil {
		t.Error("NewFilter accepted an invalid regular expression")
	}
}

func TestExclude(t *testing.T) {
	tags := []string{"1.0.0", "sha256-abc.sig", "sha256-abc.att", "1.1.0"}
	def, err := NewExclude(nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1.0.0", "sha256-abc.att", "1.1.0"}, def.Apply(tags)); diff != "" {
		t.Errorf("default exclusion (-want +got):\n%s", diff)
	}
	custom, err := NewExclude([]string{`^sha256-`, `^1\.0`})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1.1.0"}, custom.Apply(tags)); diff != "" {
		t.Errorf("custom exclusion (-want +got):\n%s", diff)
	}
}

func TestTop(t *testing.T) {
	sem, _ := NewSemVer(">=1.0.0")
	got, err := Top(sem, []string{"1.0.0", "3.0.0", "junk", "2.0.0", "1.5.0"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"3.0.0", "2.0.0", "1.5.0"}, got); diff != "" {
		t.Errorf("Top (-want +got):\n%s", diff)
	}
	got, _ = Top(sem, []string{"1.0.0", "junk"}, 5)
	if diff := cmp.Diff([]string{"1.0.0"}, got); diff != "" {
		t.Errorf("Top stops at the last candidate (-want +got):\n%s", diff)
	}
}
