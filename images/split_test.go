package images

import "testing"

func TestSplitImage(t *testing.T) {
	tests := []struct{ in, repo, tag, digest string }{
		{"nginx", "nginx", "latest", ""},
		{"nginx:1.25", "nginx", "1.25", ""},
		{"localhost:5000/app", "localhost:5000/app", "latest", ""},
		{"localhost:5000/app:v1", "localhost:5000/app", "v1", ""},
		{"ghcr.io/a/b:v1@sha256:abc", "ghcr.io/a/b", "v1", "sha256:abc"},
		{"ghcr.io/a/b@sha256:abc", "ghcr.io/a/b", "", "sha256:abc"},
		{"registry:5000/team/app", "registry:5000/team/app", "latest", ""},
		{"registry:5000/team/app:1.0", "registry:5000/team/app", "1.0", ""},
		{"ghcr.io/a/b:1.0@sha256:abcd", "ghcr.io/a/b", "1.0", "sha256:abcd"},
		{"registry.example/proxy:2.1-alpha", "registry.example/proxy", "2.1-alpha", ""},
	}
	for _, tt := range tests {
		repo, tag, digest := SplitImage(tt.in)
		if repo != tt.repo || tag != tt.tag || digest != tt.digest {
			t.Errorf("SplitImage(%q) = %q, %q, %q", tt.in, repo, tag, digest)
		}
	}
}
