// Command image assembles tidegate's container image without a Docker
// engine, with go-containerregistry: one layer holding the static binary
// at /tidegate, the CA certificates and a passwd entry for the non-root
// user, on an empty base, the same content the Dockerfile produces.
//
//	CGO_ENABLED=0 go build -o /tmp/tidegate . && go run ./hack/image --binary /tmp/tidegate --push registry.example/tidegate:v1
//	go run ./hack/image --binary /tmp/tidegate --oci-layout /tmp/tidegate-oci
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	fs := flag.NewFlagSet("image", flag.ExitOnError)
	binary := fs.String("binary", "", "the static tidegate binary (CGO_ENABLED=0)")
	certs := fs.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to include")
	push := fs.String("push", "", "push the image to this reference")
	out := fs.String("oci-layout", "", "write the image to this OCI layout directory")
	insecure := fs.Bool("insecure", false, "push over plain HTTP")
	_ = fs.Parse(os.Args[1:])
	if *binary == "" || (*push == "" && *out == "") {
		fmt.Fprintln(os.Stderr, "image: --binary and one of --push or --oci-layout are required")
		os.Exit(64)
	}
	img, err := build(*binary, *certs)
	if err == nil && *push != "" {
		err = pushImage(img, *push, *insecure)
	}
	if err == nil && *out != "" {
		err = writeLayout(img, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	d, _ := img.Digest()
	fmt.Println(d)
}

// nonroot is distroless' user: 65532.
const nonroot = 65532

// build returns the image.
func build(binary, certs string) (v1.Image, error) {
	bin, err := os.ReadFile(binary)
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
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config.User = fmt.Sprintf("%d:%d", nonroot, nonroot)
	cf.Config.Entrypoint = []string{"/tidegate"}
	cf.Config.Env = []string{"PATH=/", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "HOME=/tmp"}
	cf.Config.Labels = map[string]string{"org.opencontainers.image.source": "https://github.com/tidegate/tidegate"}
	cf.Created = v1.Time{Time: epoch}
	return mutate.ConfigFile(img, cf)
}

func pushImage(img v1.Image, ref string, insecure bool) error {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return err
	}
	return remote.Write(r, img, remote.WithAuthFromKeychain(authn.DefaultKeychain))
}

func writeLayout(img v1.Image, dir string) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img)
}
