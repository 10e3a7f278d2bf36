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
	}
	for _, tt := range tests {
		repo, tag, digest := splitImage(tt.in)
		if repo != tt.repo || tag != tt.tag || digest != tt.digest {
			t.Errorf("splitImage(%q) = %q, %q, %q", tt.in, repo, tag, digest)
		}
	}
}
