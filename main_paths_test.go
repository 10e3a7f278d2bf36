package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPathList: the paths mapper reads lists as kong did: repeated and
// comma-separated values add up, an escaped comma stays in the name,
// and the default "." applies only without --path.
func TestPathList(t *testing.T) {
	src := repoDir(t)
	for _, dir := range []string{"more", "a,b"} {
		if err := os.MkdirAll(filepath.Join(src, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-" + filepath.Base(dir)[:1] + "\n  namespace: default\ndata:\n  a: b\n"
		if err := os.WriteFile(filepath.Join(src, dir, "cm.yaml"), []byte(cm), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args    []string
		objects int
	}{
		{nil, 3}, // the default ".": the whole repository
		{[]string{"--path", "apps"}, 1},
		{[]string{"--path", "apps", "--path", "more"}, 2},
		{[]string{"--path", "apps,more"}, 2},
		{[]string{"--path", `a\,b`}, 1},
	} {
		result := filepath.Join(t.TempDir(), "result.json")
		args := append([]string{"--result-file", result, "render", "--source", src}, tc.args...)
		if code, _, stderr := runCaptured(t, nil, args...); code != 0 {
			t.Fatalf("%v: exit %d:\n%s", tc.args, code, stderr)
		}
		if res := readResult(t, result); res.Counts["objects"] != tc.objects {
			t.Errorf("%v: %d objects, want %d", tc.args, res.Counts["objects"], tc.objects)
		}
	}
}
