package source_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tidegate/tidegate/images/registrytest"
	"github.com/tidegate/tidegate/source"
)

// ociRegistry is go-containerregistry's in-process registry behind a
// handler that records requests and can require basic auth, serve other
// bytes for a blob (a tampered registry) or stall in the middle of one.
type ociRegistry struct {
	*httptest.Server
	user, pass string

	mu       sync.Mutex
	requests []string
	tamper   map[string][]byte // blob digest → what is served instead
	stall    bool
}

func newOCIRegistry(t *testing.T, user, pass string) *ociRegistry {
	t.Helper()
	r := &ociRegistry{user: user, pass: pass, tamper: map[string][]byte{}}
	inner := registry.New(registry.Logger(log.New(discardWriter{}, "", 0)))
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests = append(r.requests, req.Method+" "+req.URL.Path)
		stall := r.stall
		var tampered []byte
		for d, b := range r.tamper {
			if strings.HasSuffix(req.URL.Path, "/blobs/"+d) {
				tampered = b
			}
		}
		r.mu.Unlock()
		if r.user != "" {
			if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
				return
			}
		}
		isBlobGet := req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:")
		switch {
		case isBlobGet && stall:
			w.Header().Set("Content-Length", "1000000")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("\x1f\x8b"))
			w.(http.Flusher).Flush()
			<-req.Context().Done()
		case isBlobGet && tampered != nil:
			w.Header().Set("Content-Length", fmt.Sprint(len(tampered)))
			w.WriteHeader(http.StatusOK)
			w.Write(tampered)
		default:
			inner.ServeHTTP(w, req)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *ociRegistry) host() string { return strings.TrimPrefix(r.URL, "http://") }

func (r *ociRegistry) auth() authn.Authenticator {
	if r.user == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: r.user, Password: r.pass}
}

func (r *ociRegistry) requestCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// entry is one tar entry of a layer made in a test.
type entry struct {
	hdr  tar.Header
	body string
}

func file(name, body string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, body: body}
}

func tarGz(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if e.body != "" {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fluxArtifact is an artifact as `flux push artifact` builds it: an OCI
// manifest with Flux's config media type, one tar+gzip layer of Flux's
// content media type (more when extra is given, before it), and the
// source and revision annotations.
func fluxArtifact(t *testing.T, layer []byte, revision string, extra ...v1.Layer) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.MediaType(source.FluxConfigMediaType))
	var adds []mutate.Addendum
	for _, l := range extra {
		adds = append(adds, mutate.Addendum{Layer: l})
	}
	adds = append(adds, mutate.Addendum{Layer: static.NewLayer(layer, types.MediaType(source.FluxContentMediaType))})
	img, err := mutate.Append(img, adds...)
	if err != nil {
		t.Fatal(err)
	}
	return mutate.Annotations(img, map[string]string{
		"org.opencontainers.image.source":   "https://github.com/acme/fleet",
		"org.opencontainers.image.revision": revision,
		"org.opencontainers.image.created":  "2026-01-02T03:04:05Z",
	}).(v1.Image)
}

// push stores img under every tag and returns its manifest digest.
func push(t *testing.T, host string, auth authn.Authenticator, repo string, img v1.Image, tags ...string) string {
	t.Helper()
	for _, tag := range tags {
		ref, err := name.NewTag(host+"/"+repo+":"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithAuth(auth)); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func layerDigest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func TestPullArtifact(t *testing.T) {
	reg := newOCIRegistry(t, "", "")
	repoURL := "oci://" + reg.host() + "/acme/manifests"
	mk := func(v string) v1.Image {
		return fluxArtifact(t, tarGz(t,
			entry{hdr: tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}},
			file("apps/deploy.yaml", "version: "+v+"\n"),
			file("kustomization.yaml", "resources: [apps/deploy.yaml]\n")), "main@sha1:"+v)
	}
	digests := map[string]string{}
	for _, v := range []string{"1.0.0", "1.2.0", "2.0.0", "1.3.0-rc.1"} {
		tags := []string{"v" + v}
		if v == "1.0.0" {
			tags = append(tags, "latest")
		}
		digests[v] = push(t, reg.host(), authn.Anonymous, "acme/manifests", mk(v), tags...)
	}
	push(t, reg.host(), authn.Anonymous, "acme/manifests", mk("other"), "not-a-version")

	for _, tc := range []struct {
		name    string
		ref     source.OCIRef
		want    string
		wantRev string
	}{
		{"no ref is latest", source.OCIRef{}, "1.0.0", "latest@" + digests["1.0.0"]},
		{"tag", source.OCIRef{Tag: "v1.2.0"}, "1.2.0", "v1.2.0@" + digests["1.2.0"]},
		{"semver ~1.0", source.OCIRef{SemVer: "~1.0"}, "1.0.0", "v1.0.0@" + digests["1.0.0"]},
		{"semver >=1.1 <2 skips the prerelease", source.OCIRef{SemVer: ">=1.1 <2"}, "1.2.0", "v1.2.0@" + digests["1.2.0"]},
		{"semver with a filter", source.OCIRef{SemVer: ">=1.0.0-0", SemVerFilter: ".*-rc.*"}, "1.3.0-rc.1", "v1.3.0-rc.1@" + digests["1.3.0-rc.1"]},
		{"digest", source.OCIRef{Digest: digests["2.0.0"]}, "2.0.0", digests["2.0.0"]},
		{"semver beats tag", source.OCIRef{Tag: "v2.0.0", SemVer: "~1.2"}, "1.2.0", "v1.2.0@" + digests["1.2.0"]},
		{"digest beats semver and tag", source.OCIRef{Tag: "v1.2.0", SemVer: "~1.0", Digest: digests["2.0.0"]}, "2.0.0", digests["2.0.0"]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := isolatedTemp(t)
			co, err := source.PullArtifact(context.Background(), repoURL, tc.ref, source.WithInsecure(true), source.WithArtifactIgnore("*.md"))
			if err != nil {
				t.Fatal(err)
			}
			if got := read(t, filepath.Join(co.Dir, "apps/deploy.yaml")); got != "version: "+tc.want+"\n" {
				t.Errorf("deploy.yaml = %q, want version %s", got, tc.want)
			}
			if co.Revision != tc.wantRev || co.FluxRevision() != tc.wantRev {
				t.Errorf("revision = %s, want %s", co.Revision, tc.wantRev)
			}
			if got := co.Annotations["org.opencontainers.image.revision"]; got != "main@sha1:"+tc.want {
				t.Errorf("revision annotation = %q", got)
			}
			if co.URL != repoURL || co.Ref != tc.ref.String() || co.Ignore != "*.md" || co.File != "" {
				t.Errorf("checkout %+v", co)
			}
			if !strings.HasPrefix(co.Dir, tmp) {
				t.Errorf("Dir %s is not under the temporary directory %s", co.Dir, tmp)
			}
			if err := co.Close(); err != nil {
				t.Fatal(err)
			}
			assertEmptyDir(t, tmp)
		})
	}

	t.Run("copy keeps the layer as it is", func(t *testing.T) {
		layer := tarGz(t, file("chart/Chart.yaml", "name: demo\n"))
		helm := static.NewLayer([]byte("helm-ish"), "application/vnd.cncf.helm.config.v1+json")
		push(t, reg.host(), authn.Anonymous, "acme/chart", fluxArtifact(t, layer, "r1", helm), "1.0.0")
		co, err := source.PullArtifact(context.Background(), "oci://"+reg.host()+"/acme/chart", source.OCIRef{Tag: "1.0.0"},
			source.WithInsecure(true), source.WithLayer(source.FluxContentMediaType, source.LayerCopy))
		if err != nil {
			t.Fatal(err)
		}
		defer co.Close()
		got, err := os.ReadFile(co.File)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, layer) {
			t.Errorf("copied layer differs from the pushed one")
		}
		if filepath.Dir(co.File) != co.Dir {
			t.Errorf("File %s is not in Dir %s", co.File, co.Dir)
		}
		entries, _ := os.ReadDir(co.Dir)
		if len(entries) != 1 {
			t.Errorf("Dir holds %d entries, want the layer file only", len(entries))
		}
	})

	t.Run("layer selected by media type, first layer by default", func(t *testing.T) {
		first := static.NewLayer(tarGz(t, file("first.txt", "first\n")), "application/vnd.acme.other.v1.tar+gzip")
		push(t, reg.host(), authn.Anonymous, "acme/two", fluxArtifact(t, tarGz(t, file("flux.txt", "flux\n")), "r1", first), "v1")
		url := "oci://" + reg.host() + "/acme/two"
		co, err := source.PullArtifact(context.Background(), url, source.OCIRef{Tag: "v1"}, source.WithInsecure(true), source.WithLayer(source.FluxContentMediaType, ""))
		if err != nil {
			t.Fatal(err)
		}
		defer co.Close()
		if read(t, filepath.Join(co.Dir, "flux.txt")) != "flux\n" {
			t.Error("the selected layer was not extracted")
		}
		co2, err := source.PullArtifact(context.Background(), url, source.OCIRef{Tag: "v1"}, source.WithInsecure(true))
		if err != nil {
			t.Fatal(err)
		}
		defer co2.Close()
		if read(t, filepath.Join(co2.Dir, "first.txt")) != "first\n" {
			t.Error("without a selector the first layer was not extracted")
		}
	})
}

func TestPullArtifactErrors(t *testing.T) {
	reg := newOCIRegistry(t, "", "")
	layer := tarGz(t, file("a.yaml", "a: 1\n"))
	digest := push(t, reg.host(), authn.Anonymous, "acme/app", fluxArtifact(t, layer, "r1"), "v1.0.0")
	url := "oci://" + reg.host() + "/acme/app"
	missing := "sha256:" + strings.Repeat("0", 64)
	for _, tc := range []struct {
		name string
		url  string
		ref  source.OCIRef
		opts []source.ArtifactOption
		want []string
	}{
		{"tag not found", url, source.OCIRef{Tag: "v9"}, nil, []string{"tag v9", "not found", "check spec.url and spec.ref"}},
		{"latest not found", url, source.OCIRef{}, nil, []string{"tag latest (no spec.ref)", "not found"}},
		{"digest not found", url, source.OCIRef{Digest: missing}, nil, []string{"digest " + missing, "not found"}},
		{"digest that is not one", url, source.OCIRef{Digest: "sha256:zz"}, nil, []string{"is not sha256:<64 hex digits>"}},
		{"semver without a match", url, source.OCIRef{SemVer: ">=3"}, nil, []string{`no tag matches spec.ref.semver ">=3"`}},
		{"semver that is no range", url, source.OCIRef{SemVer: "nope!"}, nil, []string{"is not a version range"}},
		{"semver filter that is no regexp", url, source.OCIRef{SemVer: "*", SemVerFilter: "("}, nil, []string{"is not a regular expression"}},
		{"repository not found", "oci://" + reg.host() + "/acme/nothing", source.OCIRef{}, nil, []string{"not found"}},
		{"no layer of the media type", url, source.OCIRef{Tag: "v1.0.0"}, []source.ArtifactOption{source.WithLayer("application/x-nope", "")}, []string{"no layer of media type application/x-nope", source.FluxContentMediaType}},
		{"unknown operation", url, source.OCIRef{Tag: "v1.0.0"}, []source.ArtifactOption{source.WithLayer("", "unpack")}, []string{`operation "unpack"`, "extract", "copy"}},
		{"layer larger than the limit", url, source.OCIRef{Tag: "v1.0.0"}, []source.ArtifactOption{source.WithArtifactLimits(10, 0)}, []string{"more than the limit of 10"}},
		{"not oci://", "https://" + reg.host() + "/acme/app", source.OCIRef{}, nil, []string{"starts with oci://"}},
		{"tag in the URL", url + ":v1.0.0", source.OCIRef{}, nil, []string{"holds a tag or digest", "spec.ref"}},
		{"digest in the URL", url + "@" + digest, source.OCIRef{}, nil, []string{"holds a tag or digest"}},
		{"no repository", "oci://" + reg.host(), source.OCIRef{}, nil, []string{"no repository after the host"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := isolatedTemp(t)
			_, err := source.PullArtifact(context.Background(), tc.url, tc.ref, append([]source.ArtifactOption{source.WithInsecure(true)}, tc.opts...)...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "oci://") {
				t.Errorf("error %q does not name the URL", err)
			}
			assertEmptyDir(t, tmp)
		})
	}

	t.Run("an image index is not an artifact", func(t *testing.T) {
		idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: fluxArtifact(t, layer, "r1")})
		ref, _ := name.NewTag(reg.host()+"/acme/index:v1", name.Insecure)
		if err := remote.WriteIndex(ref, idx); err != nil {
			t.Fatal(err)
		}
		_, err := source.PullArtifact(context.Background(), "oci://"+reg.host()+"/acme/index", source.OCIRef{Tag: "v1"}, source.WithInsecure(true))
		if err == nil || !strings.Contains(err.Error(), "image index") {
			t.Fatalf("err = %v", err)
		}
	})
}

func dockerConfig(host, user, pass string) []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return []byte(fmt.Sprintf(`{"auths":{"https://%s/v1/":{"auth":%q}}}`, host, auth))
}

func TestArtifactAuthFromSecret(t *testing.T) {
	reg := newOCIRegistry(t, "flux", "reg-secret-123")
	push(t, reg.host(), reg.auth(), "acme/app", fluxArtifact(t, tarGz(t, file("a.yaml", "a: 1\n")), "r1"), "v1")
	url := "oci://" + reg.host() + "/acme/app"
	for _, tc := range []struct {
		name string
		data map[string][]byte
	}{
		{".dockerconfigjson with auth", map[string][]byte{".dockerconfigjson": dockerConfig(reg.host(), "flux", "reg-secret-123")}},
		{".dockerconfigjson with username and password", map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"` + reg.host() + `":{"username":"flux","password":"reg-secret-123"}}}`)}},
		{"username and password keys", map[string][]byte{"username": []byte("flux"), "password": []byte("reg-secret-123")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt, err := source.ArtifactAuthFromSecret(tc.data, reg.host())
			if err != nil {
				t.Fatal(err)
			}
			co, err := source.PullArtifact(context.Background(), url, source.OCIRef{Tag: "v1"}, source.WithInsecure(true), opt)
			if err != nil {
				t.Fatal(err)
			}
			defer co.Close()
			if read(t, filepath.Join(co.Dir, "a.yaml")) != "a: 1\n" {
				t.Error("wrong content")
			}
		})
	}

	t.Run("secret errors name keys and hosts, never values", func(t *testing.T) {
		for _, tc := range []struct {
			data map[string][]byte
			want string
		}{
			{map[string][]byte{".dockerconfigjson": dockerConfig("ghcr.io", "u", "other-secret-1")}, "no credentials for " + reg.host() + " (it has https://ghcr.io/v1/)"},
			{map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"` + reg.host() + `":{"auth":"other-secret-2"}}}`)}, "not base64"},
			{map[string][]byte{".dockerconfigjson": []byte(`{"auths": other-secret-3`)}, "not valid JSON"},
			{map[string][]byte{"token": []byte("other-secret-4")}, "(it has keys token)"},
		} {
			_, err := source.ArtifactAuthFromSecret(tc.data, reg.host())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
				continue
			}
			if strings.Contains(err.Error(), "other-secret") {
				t.Errorf("error shows a secret value: %v", err)
			}
		}
	})

	t.Run("Docker Hub's names are one registry", func(t *testing.T) {
		if _, err := source.ArtifactAuthFromSecret(map[string][]byte{".dockerconfigjson": dockerConfig("index.docker.io", "u", "p")}, "docker.io"); err != nil {
			t.Error(err)
		}
	})
}

// TestPullArtifactDistribution pulls from Debian's docker-registry (CNCF
// distribution) behind htpasswd, with the secret Flux users make.
func TestPullArtifactDistribution(t *testing.T) {
	d := registrytest.StartDistribution(t, "flux", "dist-secret-123")
	layer := tarGz(t, file("apps/a.yaml", "a: dist\n"))
	digest := push(t, d.Host, &authn.Basic{Username: d.User, Password: d.Pass}, "acme/fleet", fluxArtifact(t, layer, "r1"), "v1.0.0", "v1.1.0")
	url := "oci://" + d.Host + "/acme/fleet"
	opt, err := source.ArtifactAuthFromSecret(map[string][]byte{".dockerconfigjson": dockerConfig(d.Host, d.User, d.Pass)}, d.Host)
	if err != nil {
		t.Fatal(err)
	}
	co, err := source.PullArtifact(context.Background(), url, source.OCIRef{SemVer: "1.x"}, source.WithInsecure(true), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	if co.Revision != "v1.1.0@"+digest || read(t, filepath.Join(co.Dir, "apps/a.yaml")) != "a: dist\n" {
		t.Errorf("revision %s", co.Revision)
	}

	tmp := isolatedTemp(t)
	_, err = source.PullArtifact(context.Background(), url, source.OCIRef{Tag: "v1.0.0"}, source.WithInsecure(true), source.WithArtifactAuth("flux", "wrong-secret-456"))
	if err == nil || !strings.Contains(err.Error(), "spec.secretRef") || strings.Contains(err.Error(), "wrong-secret-456") {
		t.Errorf("err = %v, want a refusal naming spec.secretRef without the password", err)
	}
	assertEmptyDir(t, tmp)
}

// TestHostileArtifact: layers and registries that try to write outside
// the directory, fill the disk or memory, slip in other content or hold
// the run are refused, and nothing of the pull stays behind.
func TestHostileArtifact(t *testing.T) {
	root := t.TempDir()
	canaryAbs := filepath.Join(root, "abs-canary")
	bigZeros := strings.Repeat("\x00", 200<<10)
	many := []entry{}
	for i := range 30 {
		many = append(many, file(fmt.Sprintf("f%02d.yaml", i), ""))
	}
	spread := []entry{}
	for i := range 10 {
		spread = append(spread, file(fmt.Sprintf("part%d", i), strings.Repeat("x", 10<<10)))
	}
	for _, tc := range []struct {
		name    string
		entries []entry
		want    string
	}{
		{"dot-dot", []entry{file("ok.yaml", "ok\n"), file("../../../dotdot-canary", "pwned")}, `entry "../../../dotdot-canary": the name climbs out with ".."`},
		{"dot-dot in the middle", []entry{file("apps/../../dotdot2-canary", "pwned")}, `climbs out with ".."`},
		{"absolute path", []entry{file(canaryAbs, "pwned")}, "an absolute path"},
		{"symlink out", []entry{{hdr: tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: root}}, file("link/symlink-canary", "pwned")}, `entry "link" is a symbolic link`},
		{"symlink out relative", []entry{{hdr: tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../.."}}, file("up/symlink2-canary", "pwned")}, "is a symbolic link"},
		{"hard link out", []entry{{hdr: tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: "../../../etc/passwd"}}}, `entry "hard" is a hard link`},
		{"device node", []entry{{hdr: tar.Header{Name: "dev-canary", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666}}}, "is a device node"},
		{"block device", []entry{{hdr: tar.Header{Name: "blk-canary", Typeflag: tar.TypeBlock, Devmajor: 7, Mode: 0o666}}}, "is a device node"},
		{"fifo", []entry{{hdr: tar.Header{Name: "fifo-canary", Typeflag: tar.TypeFifo, Mode: 0o666}}}, "is a FIFO"},
		{"too many files", many, "more than 20 entries: refusing a tar bomb"},
		{"one file too many bytes (bomb)", []entry{file("bomb-canary", bigZeros)}, "would take the content past 65536 bytes: refusing a tar bomb"},
		{"many files too many bytes together", spread, `entry "part6"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := isolatedTemp(t)
			reg := newOCIRegistry(t, "", "")
			layer := tarGz(t, tc.entries...)
			if len(layer) > 64<<10 {
				t.Fatalf("the hostile layer is %d bytes compressed: it must pass the download cap to test extraction", len(layer))
			}
			push(t, reg.host(), authn.Anonymous, "evil/app", fluxArtifact(t, layer, "r1"), "v1")
			_, err := source.PullArtifact(context.Background(), "oci://"+reg.host()+"/evil/app", source.OCIRef{Tag: "v1"},
				source.WithInsecure(true), source.WithArtifactLimits(64<<10, 20))
			if err == nil {
				t.Fatal("the layer was extracted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "oci://"+reg.host()+"/evil/app (tag v1)") {
				t.Errorf("error %q does not say %q with the URL and ref", err, tc.want)
			}
			assertEmptyDir(t, tmp)
			assertNoCanary(t, root)
			assertNoCanary(t, filepath.Dir(tmp))
		})
	}

	t.Run("tampered blob", func(t *testing.T) {
		tmp := isolatedTemp(t)
		reg := newOCIRegistry(t, "", "")
		good := tarGz(t, file("a.yaml", "good\n"))
		evil := tarGz(t, file("a.yaml", "evil\n"), file("tamper-canary", "x"))
		push(t, reg.host(), authn.Anonymous, "acme/app", fluxArtifact(t, good, "r1"), "v1")
		reg.mu.Lock()
		reg.tamper[layerDigest(good)] = evil
		reg.mu.Unlock()
		_, err := source.PullArtifact(context.Background(), "oci://"+reg.host()+"/acme/app", source.OCIRef{Tag: "v1"}, source.WithInsecure(true))
		if err == nil || !strings.Contains(err.Error(), "tampered with or corrupted") || !strings.Contains(err.Error(), layerDigest(evil)) {
			t.Fatalf("err = %v, want a digest mismatch naming what came", err)
		}
		assertEmptyDir(t, tmp)
		assertNoCanary(t, root)
	})

	t.Run("endless blob", func(t *testing.T) {
		tmp := isolatedTemp(t)
		reg := newOCIRegistry(t, "", "")
		good := tarGz(t, file("a.yaml", "good\n"))
		push(t, reg.host(), authn.Anonymous, "acme/app", fluxArtifact(t, good, "r1"), "v1")
		reg.mu.Lock()
		reg.tamper[layerDigest(good)] = bytes.Repeat([]byte("A"), 300<<10)
		reg.mu.Unlock()
		_, err := source.PullArtifact(context.Background(), "oci://"+reg.host()+"/acme/app", source.OCIRef{Tag: "v1"}, source.WithInsecure(true), source.WithArtifactLimits(64<<10, 0))
		if err == nil || !strings.Contains(err.Error(), "more than 65536 bytes") {
			t.Fatalf("err = %v, want the size cap", err)
		}
		assertEmptyDir(t, tmp)
	})

	t.Run("stalled registry", func(t *testing.T) {
		tmp := isolatedTemp(t)
		reg := newOCIRegistry(t, "", "")
		push(t, reg.host(), authn.Anonymous, "acme/app", fluxArtifact(t, tarGz(t, file("a.yaml", "a\n")), "r1"), "v1")
		reg.mu.Lock()
		reg.stall = true
		reg.mu.Unlock()
		start := time.Now()
		_, err := source.PullArtifact(context.Background(), "oci://"+reg.host()+"/acme/app", source.OCIRef{Tag: "v1"}, source.WithInsecure(true), source.WithArtifactTimeout(time.Second))
		if err == nil || !strings.Contains(err.Error(), "did not finish within 1s: the registry is too slow or stalled") {
			t.Fatalf("err = %v, want the deadline", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("the pull took %s past a 1s deadline", d)
		}
		assertEmptyDir(t, tmp)
	})

	t.Run("credentials in the URL are refused, not sent, not printed", func(t *testing.T) {
		tmp := isolatedTemp(t)
		reg := newOCIRegistry(t, "", "")
		var logs bytes.Buffer
		url := "oci://flux:url-secret-789@" + reg.host() + "/acme/app"
		_, err := source.PullArtifact(context.Background(), url, source.OCIRef{}, source.WithInsecure(true),
			source.WithArtifactLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
		if err == nil || !strings.Contains(err.Error(), "spec.secretRef") {
			t.Fatalf("err = %v, want advice to use spec.secretRef", err)
		}
		if strings.Contains(err.Error(), "url-secret-789") || strings.Contains(logs.String(), "url-secret-789") {
			t.Errorf("the password was printed: %v / %s", err, logs.String())
		}
		if n := reg.requestCount(); n != 0 {
			t.Errorf("the registry got %d requests; the URL should be refused before any", n)
		}
		assertEmptyDir(t, tmp)
	})

	t.Run("wrong registry password is not printed", func(t *testing.T) {
		tmp := isolatedTemp(t)
		reg := newOCIRegistry(t, "flux", "right-secret-1")
		push(t, reg.host(), reg.auth(), "acme/app", fluxArtifact(t, tarGz(t, file("a.yaml", "a\n")), "r1"), "v1")
		var logs bytes.Buffer
		_, err := source.PullArtifact(context.Background(), "oci://"+reg.host()+"/acme/app", source.OCIRef{Tag: "v1"}, source.WithInsecure(true),
			source.WithArtifactAuth("flux", "wrong-secret-2"), source.WithArtifactLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
		if err == nil || !strings.Contains(err.Error(), "refused the credentials") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "wrong-secret-2") || strings.Contains(logs.String(), "wrong-secret-2") {
			t.Errorf("the password was printed: %v / %s", err, logs.String())
		}
		assertEmptyDir(t, tmp)
	})
}

// assertNoCanary fails when a file whose name ends in "-canary" exists
// anywhere below root: a hostile entry got written.
func assertNoCanary(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(d.Name(), "-canary") {
			t.Errorf("hostile entry written: %s", p)
		}
		return nil
	})
}

// TestPullArtifactInsecureByName: spec.insecure reaches every request of
// a registry that go-containerregistry would otherwise speak HTTPS to
// (any name but localhost and loopback addresses).
func TestPullArtifactInsecureByName(t *testing.T) {
	reg := newOCIRegistry(t, "", "")
	layer := tarGz(t, file("a.yaml", "a: named\n"))
	digest := push(t, reg.host(), authn.Anonymous, "acme/app", fluxArtifact(t, layer, "r1"), "v1.0.0")
	// registry.test resolves nowhere: every connection goes to reg.
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, reg.host())
	}}
	url := "oci://registry.test:5000/acme/app"
	for _, ref := range []source.OCIRef{{Tag: "v1.0.0"}, {SemVer: "1.x"}, {Digest: digest}} {
		co, err := source.PullArtifact(context.Background(), url, ref, source.WithInsecure(true), source.WithArtifactTransport(tr))
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if read(t, filepath.Join(co.Dir, "a.yaml")) != "a: named\n" {
			t.Errorf("%s: wrong content", ref)
		}
		co.Close()
	}
	if _, err := source.PullArtifact(context.Background(), url, source.OCIRef{Tag: "v1.0.0"}, source.WithArtifactTransport(tr)); err == nil {
		t.Error("without spec.insecure the pull spoke plain HTTP")
	}
}
