package policy

import (
	"errors"
	"testing"
	"time"
)

func TestPattern(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	created := map[string]time.Time{
		"master-aaa": t0.Add(3 * time.Hour),
		"master-bbb": t0.Add(1 * time.Hour),
		"master-ccc": t0.Add(3 * time.Hour),
		"3.10.1":     t0,
		"3.10.2":     t0.Add(-time.Hour),
		"3.9.9":      t0.Add(5 * time.Hour),
	}
	tags := []string{"master-aaa", "master-bbb", "master-ccc", "3.10.1", "3.10.2", "3.9.9", "3.1", "3.1.7"}
	tests := []struct {
		in       string
		kind     PatternKind
		want     string
		wantErr  error
		needTime bool
	}{
		{in: "semver:~3.1", kind: Semver, want: "3.1.7"},
		{in: "semver:3.1", kind: Semver, want: "3.1.7"},
		{in: "semver:>=3.10", kind: Semver, want: "3.10.2"},
		{in: "glob:master-*", kind: Glob, want: "master-ccc", needTime: true},
		{in: "master-b*", kind: Glob, want: "master-bbb", needTime: true},
		{in: "regex:^3.10.*", kind: Regex, want: "3.10.1", needTime: true},
		{in: "regexp:^3\\.", kind: Regex, want: "3.9.9", needTime: true},
		{in: "glob:release-*", kind: Glob, wantErr: ErrNoCandidate, needTime: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParsePattern(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != tt.kind || p.NeedsCreated() != tt.needTime {
				t.Fatalf("ParsePattern() = %+v", p)
			}
			got, err := p.Policer(created).Latest(tags)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("Latest() = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	for _, bad := range []string{"semver:>>1", "regex:("} {
		if _, err := ParsePattern(bad); err == nil {
			t.Errorf("ParsePattern(%q) accepted an invalid pattern", bad)
		}
	}
}
