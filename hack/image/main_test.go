package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// TestImageFromTheRealBinary builds tidegate, assembles the image, pushes
// it to an in-process registry and checks what comes back.
func TestImageFromTheRealBinary(t *testing.T) {
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err != nil {
		t.Skip("no CA bundle on this machine (Debian's ca-certificates)")
	}
	bin := filepath.Join(t.TempDir(), "tidegate")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "../..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	amd64 := platformBinary{OS: "linux", Arch: "amd64", Path: bin}
	img, err := build(amd64, "/etc/ssl/certs/ca-certificates.crt", labels{})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := build(amd64, "/etc/ssl/certs/ca-certificates.crt", labels{})
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("the build is not reproducible: %s vs %s", d1, d2)
	}

	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/tidegate/tidegate:test"
	if err := pushImage(img, ref, true); err != nil {
		t.Fatalf("push: %v", err)
	}
	r, _ := name.ParseReference(ref, name.Insecure)
	pulled, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	// Validate what a registry serves (the in-memory image's manifest is
	// rebuilt on each call and trips validate's round-trip check).
	if err := validate.Image(pulled); err != nil {
		t.Fatalf("invalid image: %v", err)
	}
	// The budget: 40 MB per platform as a registry stores it.
	if size, err := compressedSize(pulled); err != nil || size > 40e6 {
		t.Errorf("compressed image: %d bytes (limit 40 MB), %v", size, err)
	} else {
		t.Logf("linux/amd64 image: %.1f MB compressed", float64(size)/1e6)
	}
	if d, _ := pulled.Digest(); d != d1 {
		t.Errorf("pulled digest %s, pushed %s", d, d1)
	}
	cf, err := pulled.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/tidegate" {
		t.Errorf("config: user %q entrypoint %v", cf.Config.User, cf.Config.Entrypoint)
	}
	layers, _ := pulled.Layers()
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	found := map[string]int64{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		found[h.Name] = h.Mode
	}
	if found["tidegate"] != 0o755 {
		t.Errorf("/tidegate mode %o, want 755 (files: %v)", found["tidegate"], found)
	}
	if _, ok := found["etc/ssl/certs/ca-certificates.crt"]; !ok {
		t.Error("no CA certificates in the image")
	}

	// The binary in the image runs.
	if out, err := exec.Command(bin, "version").Output(); err != nil || !strings.HasPrefix(string(out), "tidegate ") {
		t.Errorf("tidegate version: %v %q", err, out)
	}
	layoutDir := filepath.Join(t.TempDir(), "oci")
	if err := writeLayout(img, layoutDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(layoutDir, "index.json")); err != nil {
		t.Errorf("OCI layout: %v", err)
	}
}

// TestIndexFromDist reads a GoReleaser dist/ the way the release workflow
// does and checks the index: one OCI image per linux binary, each with its
// own binary, platform, non-root user and the release's labels; darwin
// binaries stay out.
func TestIndexFromDist(t *testing.T) {
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err != nil {
		t.Skip("no CA bundle on this machine (Debian's ca-certificates)")
	}
	root := t.TempDir()
	dist := filepath.Join(root, "dist")
	bins := map[string]string{}
	var artifacts []map[string]string
	for _, plat := range []string{"linux/arm64", "linux/amd64", "darwin/arm64"} {
		goos, goarch, _ := strings.Cut(plat, "/")
		rel := filepath.Join("dist", "tidegate_"+goos+"_"+goarch, "tidegate")
		write(t, filepath.Join(root, rel), "binary for "+plat)
		bins[plat] = "binary for " + plat
		artifacts = append(artifacts, map[string]string{"type": "Binary", "path": rel, "goos": goos, "goarch": goarch})
	}
	artifacts = append(artifacts, map[string]string{"type": "Archive", "path": "dist/x.tar.gz", "goos": "linux", "goarch": "amd64"})
	writeJSON(t, filepath.Join(dist, "artifacts.json"), artifacts)
	writeJSON(t, filepath.Join(dist, "metadata.json"), map[string]string{"version": "1.2.3", "commit": "0123456789abcdef0123456789abcdef01234567"})

	platforms, l, err := readDist(dist)
	if err != nil {
		t.Fatal(err)
	}
	if l.Version != "v1.2.3" || l.Revision != "0123456789abcdef0123456789abcdef01234567" {
		t.Errorf("labels from metadata.json = %+v", l)
	}
	idx, sizes, err := buildIndex(platforms, "/etc/ssl/certs/ca-certificates.crt", l)
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 2 || sizes[0].Platform != "linux/amd64" || sizes[1].Platform != "linux/arm64" {
		t.Errorf("sizes = %+v", sizes)
	}
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/tidegate/tidegate:v1.2.3"
	if err := pushIndex(idx, ref, true); err != nil {
		t.Fatalf("push: %v", err)
	}
	r, _ := name.ParseReference(ref, name.Insecure)
	pulled, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(pulled); err != nil {
		t.Fatalf("invalid index: %v", err)
	}
	im, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex || im.Annotations["org.opencontainers.image.revision"] != l.Revision {
		t.Errorf("index media type %s, annotations %v", im.MediaType, im.Annotations)
	}
	var got []string
	for _, m := range im.Manifests {
		plat := m.Platform.OS + "/" + m.Platform.Architecture
		got = append(got, plat)
		img, err := pulled.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		if cf.OS+"/"+cf.Architecture != plat || cf.Config.User != "65532:65532" || m.MediaType != types.OCIManifestSchema1 {
			t.Errorf("%s: config %s/%s user %q, media type %s", plat, cf.OS, cf.Architecture, cf.Config.User, m.MediaType)
		}
		want := map[string]string{
			"org.opencontainers.image.source":   "https://github.com/tidegate/tidegate",
			"org.opencontainers.image.version":  "v1.2.3",
			"org.opencontainers.image.revision": l.Revision,
		}
		for k, v := range want {
			if cf.Config.Labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q", plat, k, cf.Config.Labels[k], v)
			}
		}
		if content := fileInImage(t, img, "tidegate"); content != bins[plat] {
			t.Errorf("%s: /tidegate holds %q, want %q", plat, content, bins[plat])
		}
	}
	if strings.Join(got, " ") != "linux/amd64 linux/arm64" {
		t.Errorf("index platforms = %v", got)
	}

	// The same dist gives the same index: a re-run of the release pushes
	// nothing new.
	again, _, _ := buildIndex(platforms, "/etc/ssl/certs/ca-certificates.crt", l)
	if d1, d2 := digest(t, idx), digest(t, again); d1 != d2 {
		t.Errorf("index not reproducible: %s vs %s", d1, d2)
	}
}

func TestRefusesBadInput(t *testing.T) {
	var p platformFlag
	for _, v := range []string{"linux", "linux/amd64", "linux/amd64=", "/amd64=x", "linux/=x"} {
		if err := p.Set(v); err == nil || !strings.Contains(err.Error(), "want os/arch=path") {
			t.Errorf("--platform %q: %v", v, err)
		}
	}
	if _, _, err := buildIndex([]platformBinary{{"linux", "amd64", "/dev/null"}, {"linux", "amd64", "/dev/null"}}, "/dev/null", labels{}); err == nil || !strings.Contains(err.Error(), "linux/amd64 given twice") {
		t.Errorf("duplicate platform: %v", err)
	}
	if _, _, err := readDist(t.TempDir()); err == nil || !strings.Contains(err.Error(), "make release-snapshot") {
		t.Errorf("empty dist: %v", err)
	}
}

func digest(t *testing.T, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func fileInImage(t *testing.T, img v1.Image, file string) string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in the layer: %v", file, err)
		}
		if h.Name == file {
			b, _ := io.ReadAll(tr)
			return string(b)
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, string(b))
}
