package policy

import (
	"errors"
	"testing"
)

func TestAlphabetical(t *testing.T) {
	tags := []string{"RELEASE.2023-01-31", "RELEASE.2024-05-02", "RELEASE.2022-12-24", "RELEASE.2024-05-01"}
	tests := []struct {
		order   string
		tags    []string
		want    string
		wantErr bool
	}{
		{order: "", want: "RELEASE.2024-05-02"},
		{order: "asc", want: "RELEASE.2024-05-02"},
		{order: "ASC", want: "RELEASE.2024-05-02"},
		{order: "desc", want: "RELEASE.2022-12-24"},
		{order: "asc", tags: []string{"b", "a", "c"}, want: "c"},
		{order: "desc", tags: []string{"b", "a", "c"}, want: "a"},
		{order: "up", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.order, func(t *testing.T) {
			p, err := NewAlphabetical(tt.order)
			if tt.wantErr {
				var ie *InvalidError
				if !errors.As(err, &ie) {
					t.Fatalf("NewAlphabetical() error = %v, want *InvalidError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			in := tags
			if tt.tags != nil {
				in = tt.tags
			}
			got, err := p.Latest(in)
			if err != nil || got != tt.want {
				t.Errorf("Latest() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	p, _ := NewAlphabetical("asc")
	if _, err := p.Latest(nil); !errors.Is(err, ErrNoCandidate) {
		t.Errorf("Latest(nil) error = %v, want ErrNoCandidate", err)
	}
}
