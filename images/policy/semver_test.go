package policy

import (
	"errors"
	"testing"
)

func TestSemVer(t *testing.T) {
	tags := []string{"1.0.0", "v1.2.0", "1.2.3", "1.3.0-rc.1", "2.0.0", "2.1", "latest", "1.2.4.5", "v1.2.9-beta"}
	tests := []struct {
		name, rng string
		tags      []string
		want      string
		wantErr   error
	}{
		{name: "caret", rng: "^1.0.0", want: "1.2.3"},
		{name: "tilde", rng: "~1.2", want: "1.2.3"},
		{name: "star takes highest full version", rng: "*", want: "2.0.0"},
		{name: "v prefix kept", rng: "1.2.0 - 1.2.2", want: "v1.2.0"},
		{name: "incomplete versions are not candidates", rng: ">=2.0.1", wantErr: ErrNoCandidate},
		{name: "pre-release excluded from plain range", rng: ">=1.2.5 <2.0.0", wantErr: ErrNoCandidate},
		{name: "pre-release included when range names one", rng: ">=1.3.0-rc.0 <2.0.0", want: "1.3.0-rc.1"},
		{name: "v pre-release", rng: ">=1.2.9-alpha <1.2.10", want: "v1.2.9-beta"},
		{name: "empty list", rng: "*", tags: []string{}, wantErr: ErrNoCandidate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewSemVer(tt.rng)
			if err != nil {
				t.Fatal(err)
			}
			in := tags
			if tt.tags != nil {
				in = tt.tags
			}
			got, err := p.Latest(in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Latest() error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Latest() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSemVerInvalidRange(t *testing.T) {
	_, err := NewSemVer("not a range")
	var ie *InvalidError
	if !errors.As(err, &ie) || ie.Field != "semver range" {
		t.Fatalf("NewSemVer() error = %v, want *InvalidError for the range", err)
	}
}
