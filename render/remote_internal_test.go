package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIsRemote(t *testing.T) {
	for entry, want := range map[string]bool{
		"https://example.com/x.yaml":           true,
		"http://169.254.169.254/latest":        true,
		"HTTPS://EXAMPLE.COM/x":                true,
		"https:example.com/x":                  true,
		"github.com/org/repo//base?ref=v1":     true,
		"GitHub.com/org/repo":                  true,
		"github.com:org/repo":                  true,
		"git::https://example.com/org/repo":    true,
		"git@github.com:org/repo.git":          true,
		"deploy-bot@git.example.com:org/r.git": true,
		"ssh://git@example.com/org/repo":       true,
		"file:///srv/git/repo":                 true,
		"s3://bucket/key":                      true,
		" https://example.com/x":               true,
		"../base":                              false,
		"deploy.yaml":                          false,
		"sub/dir/deploy.yaml":                  false,
		"/abs/path.yaml":                       false,
		"key=config.json":                      false,
		"":                                     false,
		"github.company.example/x.yaml":        false,
	} {
		if got := isRemote(entry); got != want {
			t.Errorf("isRemote(%q) = %v, want %v", entry, got, want)
		}
	}
}

// TestRepoFSRefusesRemoteKustomization: the second layer. krusty reads
// every kustomization through repoFS; one the scan never saw is refused
// there, before krusty can act on its entries.
func TestRepoFSRefusesRemoteKustomization(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "k")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources:\n- https://example.invalid/x.yaml\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "gen.yaml"), []byte("apiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: g\nenvs:\n- https://example.invalid/x.env\n"), 0o644)
	real, _ := filepath.EvalSymlinks(root)
	dec, err := newDecryptor(Keys{})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.close()
	r := &renderer{ctx: context.Background(), root: real, dec: dec, lim: Options{}.limits()}
	fs := &repoFS{r: r}
	for file, want := range map[string]string{
		"kustomization.yaml": `k/kustomization.yaml: resources: "https://example.invalid/x.yaml"`,
		"gen.yaml":           `k/gen.yaml: plugin config[ConfigMapGenerator/g].envs: "https://example.invalid/x.env"`,
	} {
		_, err := fs.ReadFile(filepath.Join(real, "k", file))
		var re *RemoteError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadFile(%s) = %v, want a RemoteError containing %s", file, err, want)
		}
	}
}
