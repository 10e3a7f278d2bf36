package bootstrap

import "testing"

func TestDefaultInventory(t *testing.T) {
	for _, tc := range []struct {
		paths []string
		want  string
	}{
		{[]string{"."}, "tidegate"},
		{[]string{"clusters/prod"}, "prod"},
		{[]string{"clusters/My_Prod"}, "my-prod"},
		{[]string{"a", "b"}, "tidegate"},
		{[]string{"x/___"}, "tidegate"},
	} {
		if got := DefaultInventory(tc.paths); got != tc.want {
			t.Errorf("DefaultInventory(%q) = %q, want %q", tc.paths, got, tc.want)
		}
	}
}
