package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tidegate/tidegate/internal/version"
)

// TestShippedFilesPinOneRelease: what users copy or include runs a named
// tidegate, the release version.Pinned names, and never a moving one
// (:latest, the main branch, a major tag such as @v0). release.yml checks
// that a release tag is the one these files name.
func TestShippedFilesPinOneRelease(t *testing.T) {
	files := []string{"README.md", "action.yml", ".gitlab-ci-template.yml", "Dockerfile", ".goreleaser.yaml"}
	for _, glob := range []string{"deploy/*/*.yaml", "deploy/*/*/*.yaml", ".github/workflows/*.yml"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 12 {
		t.Fatalf("only %d files found: %v", len(files), files)
	}
	moving := regexp.MustCompile(`[\w./-]+:latest\b|tidegate/tidegate/(main|master)/|tidegate/tidegate@v\d+(?:[^.\w]|$)|tidegate/tidegate@(main|master)\b`)
	// Every mention of tidegate's own image, action or template names a
	// version; it must be the pinned one (vX.Y.Z is the README's placeholder).
	named := regexp.MustCompile(`ghcr\.io/tidegate/tidegate:([\w.-]+)|tidegate/tidegate@(v[\w.-]+)|raw\.githubusercontent\.com/tidegate/tidegate/([\w.-]+)/`)
	pins := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if m := moving.FindString(line); m != "" {
				t.Errorf("%s:%d: %q names a moving version; pin %s", f, i+1, m, version.Pinned)
			}
			for _, m := range named.FindAllStringSubmatch(line, -1) {
				v := m[1] + m[2] + m[3]
				if v != version.Pinned && v != "vX.Y.Z" {
					t.Errorf("%s:%d: names %s, not the pinned release %s", f, i+1, v, version.Pinned)
				}
				pins[f]++
			}
		}
	}
	for _, f := range []string{"deploy/base/cronjob.yaml", ".gitlab-ci-template.yml", "README.md"} {
		if pins[f] == 0 {
			t.Errorf("%s does not name tidegate's pinned release %s", f, version.Pinned)
		}
	}
}
