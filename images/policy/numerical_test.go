package policy

import (
	"errors"
	"testing"
)

func TestNumerical(t *testing.T) {
	tests := []struct {
		name, order string
		tags        []string
		want        string
		notNumber   string
	}{
		{name: "asc integers", tags: []string{"9", "10", "2"}, want: "10"},
		{name: "desc integers", order: "desc", tags: []string{"9", "10", "2"}, want: "2"},
		{name: "floats", order: "asc", tags: []string{"1.5", "1.25", "-3"}, want: "1.5"},
		{name: "negative desc", order: "DESC", tags: []string{"1.5", "1.25", "-3"}, want: "-3"},
		{name: "equal values keep the later", tags: []string{"1.0", "1"}, want: "1"},
		{name: "non-number fails", tags: []string{"1", "2", "main"}, notNumber: "main"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewNumerical(tt.order)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Latest(tt.tags)
			if tt.notNumber != "" {
				var ne *NotNumberError
				if !errors.As(err, &ne) || ne.Tag != tt.notNumber {
					t.Fatalf("Latest() error = %v, want NotNumberError for %q", err, tt.notNumber)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Latest() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := NewNumerical("sideways"); err == nil {
		t.Error("NewNumerical(sideways) accepted an invalid order")
	}
}
