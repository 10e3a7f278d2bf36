package scan

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func mustRepo(t *testing.T, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
