// Command image assembles tidegate's container image without a Docker
// engine, with go-containerregistry: one layer holding the static binary
// at /tidegate, the CA certificates and a passwd entry for the non-root
// user, on an empty base, the same content the Dockerfile produces.
//
// One binary gives one linux/amd64 image; several --platform binaries, or
// the linux binaries of a GoReleaser dist/ (--dist), give an OCI index
// with one image per platform, labelled with the release's version and
// commit. The release workflow pushes that index; make release-snapshot
// writes it as an OCI layout and prints each platform's compressed size.
//
//	CGO_ENABLED=0 go build -o /tmp/tidegate . && go run ./hack/image --binary /tmp/tidegate --push registry.example/tidegate:v1
//	go run ./hack/image --dist dist --oci-layout dist/oci
//	go run ./hack/image --platform linux/amd64=bin/amd64 --platform linux/arm64=bin/arm64 --push registry.example/tidegate:v1
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// sourceURL is the repository the OCI source label points at.
const sourceURL = "https://github.com/tidegate/tidegate"

// platformFlag collects repeated --platform os/arch=path values.
type platformFlag []platformBinary

func (p *platformFlag) String() string { return fmt.Sprint(*p) }

func (p *platformFlag) Set(v string) error {
	plat, path, ok := strings.Cut(v, "=")
	goos, goarch, ok2 := strings.Cut(plat, "/")
	if !ok || !ok2 || path == "" || goos == "" || goarch == "" {
		return fmt.Errorf("--platform %q: want os/arch=path, e.g. linux/arm64=dist/tidegate_linux_arm64/tidegate", v)
	}
	*p = append(*p, platformBinary{OS: goos, Arch: goarch, Path: path})
	return nil
}

func main() {
	fs := flag.NewFlagSet("image", flag.ExitOnError)
	binary := fs.String("binary", "", "one static linux/amd64 tidegate binary (CGO_ENABLED=0): a single image, no index")
	var platforms platformFlag
	fs.Var(&platforms, "platform", "os/arch=path of a static binary; repeatable, gives an OCI index")
	dist := fs.String("dist", "", "GoReleaser's dist directory: its linux binaries, version and commit")
	version := fs.String("version", "", "the org.opencontainers.image.version label (default: from --dist)")
	revision := fs.String("revision", "", "the org.opencontainers.image.revision label (default: from --dist)")
	certs := fs.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to include")
	push := fs.String("push", "", "push the image to this reference")
	out := fs.String("oci-layout", "", "write the image to this OCI layout directory")
	insecure := fs.Bool("insecure", false, "push over plain HTTP")
	_ = fs.Parse(os.Args[1:])
	if (*binary == "" && len(platforms) == 0 && *dist == "") || (*push == "" && *out == "") {
		fmt.Fprintln(os.Stderr, "image: one of --binary, --platform or --dist, and one of --push or --oci-layout are required")
		os.Exit(64)
	}
	if err := run(*binary, platforms, *dist, labels{Version: *version, Revision: *revision}, *certs, *push, *out, *insecure); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(binary string, platforms []platformBinary, dist string, l labels, certs, push, out string, insecure bool) error {
	if binary != "" {
		img, err := build(platformBinary{OS: "linux", Arch: "amd64", Path: binary}, certs, l)
		if err == nil && push != "" {
			err = pushImage(img, push, insecure)
		}
		if err == nil && out != "" {
			err = writeLayout(img, out)
		}
		if err != nil {
			return err
		}
		d, _ := img.Digest()
		fmt.Println(d)
		return nil
	}
	if dist != "" {
		fromDist, rel, err := readDist(dist)
		if err != nil {
			return err
		}
		platforms = append(platforms, fromDist...)
		l.Version = cmpOr(l.Version, rel.Version)
		l.Revision = cmpOr(l.Revision, rel.Revision)
	}
	idx, sizes, err := buildIndex(platforms, certs, l)
	if err != nil {
		return err
	}
	for _, s := range sizes {
		fmt.Fprintf(os.Stderr, "image: %s %s: %.1f MB compressed (%d bytes)\n", s.Platform, s.Digest, float64(s.Compressed)/1e6, s.Compressed)
	}
	if push != "" {
		if err := pushIndex(idx, push, insecure); err != nil {
			return err
		}
	}
	if out != "" {
		if err := writeIndexLayout(idx, out); err != nil {
			return err
		}
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Println(d)
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// platformBinary is one static tidegate binary and the platform it runs on.
type platformBinary struct {
	OS, Arch, Path string
}

// labels are the release facts the image carries as OCI labels.
type labels struct {
	Version, Revision string
}

func (l labels) oci() map[string]string {
	m := map[string]string{
		"org.opencontainers.image.source":      sourceURL,
		"org.opencontainers.image.title":       "tidegate",
		"org.opencontainers.image.description": "One-shot GitOps: render, diff or reconcile a Git repository into a Kubernetes cluster",
	}
	if l.Version != "" {
		m["org.opencontainers.image.version"] = l.Version
	}
	if l.Revision != "" {
		m["org.opencontainers.image.revision"] = l.Revision
	}
	return m
}

// readDist finds the linux binaries GoReleaser built, and the release's
// version and commit, in dist/artifacts.json and dist/metadata.json.
func readDist(dist string) ([]platformBinary, labels, error) {
	var artifacts []struct {
		Type   string `json:"type"`
		Path   string `json:"path"`
		Goos   string `json:"goos"`
		Goarch string `json:"goarch"`
	}
	var meta struct {
		Version string `json:"version"`
		Commit  string `json:"commit"`
	}
	for file, into := range map[string]any{"artifacts.json": &artifacts, "metadata.json": &meta} {
		data, err := os.ReadFile(filepath.Join(dist, file))
		if err != nil {
			return nil, labels{}, fmt.Errorf("%w (run goreleaser first, e.g. make release-snapshot)", err)
		}
		if err := json.Unmarshal(data, into); err != nil {
			return nil, labels{}, fmt.Errorf("%s: %w", filepath.Join(dist, file), err)
		}
	}
	var out []platformBinary
	for _, a := range artifacts {
		if a.Type != "Binary" || a.Goos != "linux" {
			continue
		}
		p := a.Path
		// GoReleaser records paths relative to where it ran, the directory
		// above dist/.
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(filepath.Clean(dist)), p)
		}
		out = append(out, platformBinary{OS: a.Goos, Arch: a.Goarch, Path: p})
	}
	if len(out) == 0 {
		return nil, labels{}, fmt.Errorf("%s: no linux binaries in artifacts.json", dist)
	}
	slices.SortFunc(out, func(a, b platformBinary) int { return strings.Compare(a.Arch, b.Arch) })
	v := meta.Version
	if v != "" && !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	return out, labels{Version: v, Revision: meta.Commit}, nil
}

// platformSize is what one platform's image weighs on the wire.
type platformSize struct {
	Platform   string
	Digest     v1.Hash
	Compressed int64
}

// buildIndex returns the OCI index of one image per platform.
func buildIndex(platforms []platformBinary, certs string, l labels) (v1.ImageIndex, []platformSize, error) {
	if len(platforms) == 0 {
		return nil, nil, errors.New("no platforms")
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var sizes []platformSize
	seen := map[string]bool{}
	for _, p := range platforms {
		plat := p.OS + "/" + p.Arch
		if seen[plat] {
			return nil, nil, fmt.Errorf("platform %s given twice", plat)
		}
		seen[plat] = true
		img, err := build(p, certs, l)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", plat, err)
		}
		size, err := compressedSize(img)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", plat, err)
		}
		d, err := img.Digest()
		if err != nil {
			return nil, nil, err
		}
		sizes = append(sizes, platformSize{Platform: plat, Digest: d, Compressed: size})
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Arch}},
		})
	}
	annotated, ok := mutate.Annotations(idx, l.oci()).(v1.ImageIndex)
	if !ok {
		return nil, nil, errors.New("annotating the index")
	}
	return annotated, sizes, nil
}

// compressedSize is the manifest, config and layers as a registry stores them.
func compressedSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	total := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	return total, nil
}

// nonroot is distroless' user: 65532.
const nonroot = 65532

// build returns the image of one platform.
func build(p platformBinary, certs string, l labels) (v1.Image, error) {
	bin, err := os.ReadFile(p.Path)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(certs)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// A fixed time keeps the image reproducible: the same binary gives
	// the same digest.
	epoch := time.Unix(0, 0)
	for _, d := range []string{"etc/", "etc/ssl/", "etc/ssl/certs/", "tmp/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"tidegate", 0o755, bin},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, ca},
		{"etc/passwd", 0o644, []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonroot, nonroot))},
		{"etc/group", 0o644, []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", nonroot))},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = p.Arch, p.OS
	cf.Config.User = fmt.Sprintf("%d:%d", nonroot, nonroot)
	cf.Config.Entrypoint = []string{"/tidegate"}
	cf.Config.Env = []string{"PATH=/", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "HOME=/tmp"}
	cf.Config.Labels = l.oci()
	cf.Created = v1.Time{Time: epoch}
	return mutate.ConfigFile(img, cf)
}

func reference(ref string, insecure bool) (name.Reference, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	return name.ParseReference(ref, opts...)
}

func pushImage(img v1.Image, ref string, insecure bool) error {
	r, err := reference(ref, insecure)
	if err != nil {
		return err
	}
	return remote.Write(r, img, remote.WithAuthFromKeychain(authn.DefaultKeychain))
}

func pushIndex(idx v1.ImageIndex, ref string, insecure bool) error {
	r, err := reference(ref, insecure)
	if err != nil {
		return err
	}
	return remote.WriteIndex(r, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain))
}

func writeLayout(img v1.Image, dir string) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img)
}

func writeIndexLayout(idx v1.ImageIndex, dir string) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx)
}
