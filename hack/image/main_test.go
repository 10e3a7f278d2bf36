package main

import (
	"archive/tar"
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
	"github.com/google/go-containerregistry/pkg/v1/remote"
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
	img, err := build(bin, "/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := build(bin, "/etc/ssl/certs/ca-certificates.crt")
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
