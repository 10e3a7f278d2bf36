package e2e_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"
)

// The version and commit the test's release binary is stamped with, as
// GoReleaser stamps a release (.goreleaser.yaml ldflags).
const (
	e2eVersion = "v0.0.1-e2e"
	e2eCommit  = "e2e-release-commit"
)

// archiveName is GoReleaser's archive name_template of .goreleaser.yaml,
// the name action.yml downloads: no v, then the platform.
func archiveName(version, goos, goarch string) string {
	return fmt.Sprintf("tidegate_%s_%s_%s.tar.gz", strings.TrimPrefix(version, "v"), goos, goarch)
}

// releaseHost stands in for GitHub releases on loopback:
// /<tag>/<file>, as github.com/OWNER/REPO/releases/download/<tag>/<file>
// lays them out. It records every request.
type releaseHost struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string][]byte
	requests []string
}

func newReleaseHost(t *testing.T) *releaseHost {
	t.Helper()
	h := &releaseHost{files: map[string][]byte{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.requests = append(h.requests, r.Method+" "+r.URL.Path)
		data, ok := h.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *releaseHost) put(path string, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.files[path] = data
}

func (h *releaseHost) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.requests)
}

// releaseBinary builds tidegate as a release build is: static, stamped.
func releaseBinary(t *testing.T) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tidegate")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "-ldflags",
		"-s -w -X github.com/tidegate/tidegate/internal/version.version="+e2eVersion+
			" -X github.com/tidegate/tidegate/internal/version.commit="+e2eCommit, ".")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// tarGz is an archive as GoReleaser writes one: the binary and README.md
// at the top level.
func tarGz(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[name])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// runDownload runs a workflow of testdata/github under act with the
// release host, and act's cache in actCache: the host executor's tool
// cache is actCache/tool_cache.
func runDownload(t *testing.T, act, workflow, releaseURL, version, actCache string, flags ...string) (string, error) {
	t.Helper()
	work := t.TempDir()
	git(t, work, "init", "-q")
	git(t, work, "commit", "-q", "--allow-empty", "-m", "event")
	args := []string{"push", "-W", filepath.Join(repoRoot(t), "testdata", "github", workflow),
		"-P", "ubuntu-latest=-self-hosted", "--env", "TIDEGATE_REPO=" + repoRoot(t),
		"--env", "TIDEGATE_TEST_RELEASE_URL=" + releaseURL, "--env", "TIDEGATE_TEST_VERSION=" + version,
		"--action-cache-path", actCache}
	args = append(args, flags...)
	cmd := exec.Command(act, args...)
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestGitHubActionDownloadsRelease: with a version, the action installs
// the release archive for this machine from the release host (checked
// against checksums.txt) instead of compiling, runs it, and downloads it
// only once.
func TestGitHubActionDownloadsRelease(t *testing.T) {
	act := tool(t, "TIDEGATE_ACT")
	bin := releaseBinary(t)
	archive := archiveName(e2eVersion, runtime.GOOS, runtime.GOARCH)
	data := tarGz(t, map[string][]byte{"tidegate": bin, "README.md": []byte("# tidegate\n")})
	host := newReleaseHost(t)
	host.put("/"+e2eVersion+"/"+archive, data)
	other := tarGz(t, map[string][]byte{"tidegate": []byte("other platform")})
	host.put("/"+e2eVersion+"/checksums.txt", []byte(fmt.Sprintf("%s  %s\n%s  %s\n",
		sha256Hex(other), archiveName(e2eVersion, "darwin", "arm64"), sha256Hex(data), archive)))

	cache := t.TempDir()
	out, err := runDownload(t, act, "download.yml", host.URL, e2eVersion, cache)
	if err != nil {
		t.Fatalf("act: %v\n%s", err, out)
	}
	for _, want := range []string{"DOWNLOAD-OK", "Job succeeded", "tidegate " + e2eVersion} {
		if !strings.Contains(out, want) {
			t.Errorf("act output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "building tidegate from the action's checkout") {
		t.Errorf("the action built from source although a release was given:\n%s", out)
	}
	// Once each: the second use of the action found the tool cache.
	want := []string{"GET /" + e2eVersion + "/checksums.txt", "GET /" + e2eVersion + "/" + archive}
	if got := host.got(); !slices.Equal(got, want) {
		t.Errorf("requests to the release host = %q, want %q", got, want)
	}
	cached, err := os.ReadFile(filepath.Join(cache, "tool_cache", "tidegate", strings.TrimPrefix(e2eVersion, "v"), runtime.GOARCH, "tidegate"))
	if err != nil || !bytes.Equal(cached, bin) {
		t.Errorf("tool cache does not hold the release binary: %v\n%s", err, out)
	}

	// uses: tidegate/tidegate@v0.0.1-e2e without a version: the tag is the
	// release (act maps the tag to this checkout).
	cache = t.TempDir()
	out, err = runDownload(t, act, "download-tag.yml", host.URL, "", cache, "--local-repository", "tidegate/tidegate@"+e2eVersion+"="+repoRoot(t))
	if err != nil || !strings.Contains(out, "TAG-DOWNLOAD-OK") || strings.Contains(out, "building tidegate from the action's checkout") {
		t.Errorf("the action at tag %s did not run its release: %v\n%s", e2eVersion, err, out)
	}
	if _, err := os.Stat(filepath.Join(cache, "tool_cache", "tidegate", strings.TrimPrefix(e2eVersion, "v"), runtime.GOARCH, "tidegate")); err != nil {
		t.Errorf("the tag's release is not in the tool cache: %v", err)
	}
}

// TestHostileActionDownload: an archive that does not match checksums.txt,
// a checksums.txt without the archive, a version that is no release and a
// release that does not exist all fail the step with a message saying so,
// and nothing is installed or run.
func TestHostileActionDownload(t *testing.T) {
	act := tool(t, "TIDEGATE_ACT")
	archive := archiveName(e2eVersion, runtime.GOOS, runtime.GOARCH)
	genuine := tarGz(t, map[string][]byte{"tidegate": []byte("#!/bin/sh\necho genuine\n")})
	for _, tc := range []struct {
		name    string
		version string
		// files on the release host; CANARY in them is replaced with the
		// canary path.
		files    map[string]string
		want     string
		requests []string
	}{
		{
			name:    "tampered archive",
			version: e2eVersion,
			files: map[string]string{
				"/" + e2eVersion + "/checksums.txt": sha256Hex(genuine) + "  " + archive + "\n",
				"/" + e2eVersion + "/" + archive:    "tampered",
			},
			want:     archive + " does not match checksums.txt of " + e2eVersion,
			requests: []string{"GET /" + e2eVersion + "/checksums.txt", "GET /" + e2eVersion + "/" + archive},
		},
		{
			name:    "archive missing from checksums.txt",
			version: e2eVersion,
			files: map[string]string{
				"/" + e2eVersion + "/checksums.txt": sha256Hex(genuine) + "  tidegate_0.0.1-e2e_plan9_386.tar.gz\n",
				"/" + e2eVersion + "/" + archive:    "tampered",
			},
			want:     "checksums.txt of " + e2eVersion + " has no sha256 for " + archive,
			requests: []string{"GET /" + e2eVersion + "/checksums.txt"},
		},
		{
			name:     "version with a path in it",
			version:  "v1.2.3/../../../evil",
			files:    map[string]string{},
			want:     "version 'v1.2.3/../../../evil' is not a release (vX.Y.Z) or 'source'",
			requests: nil,
		},
		{
			name:     "no such release",
			version:  "v9.9.9",
			files:    map[string]string{},
			want:     "could not download " + "RELEASE/v9.9.9/checksums.txt: is v9.9.9 a tidegate release?",
			requests: []string{"GET /v9.9.9/checksums.txt"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			canary := filepath.Join(t.TempDir(), "canary")
			host := newReleaseHost(t)
			for p, content := range tc.files {
				if content == "tampered" {
					// What an attacker would serve: a "tidegate" that runs
					// its own code.
					host.put(p, tarGz(t, map[string][]byte{"tidegate": []byte("#!/bin/sh\ntouch " + canary + "\n")}))
					continue
				}
				host.put(p, []byte(content))
			}
			cache := t.TempDir()
			out, err := runDownload(t, act, "download.yml", host.URL, tc.version, cache)
			if err == nil {
				t.Fatalf("act succeeded; want the install step to fail:\n%s", out)
			}
			if want := strings.ReplaceAll(tc.want, "RELEASE", host.URL); !strings.Contains(out, want) {
				t.Errorf("act output lacks %q:\n%s", want, out)
			}
			if strings.Contains(out, "DOWNLOAD-OK") || strings.Contains(out, "building tidegate from the action's checkout") {
				t.Errorf("the job went on past the failed install:\n%s", out)
			}
			if got := host.got(); !slices.Equal(got, tc.requests) {
				t.Errorf("requests to the release host = %q, want %q", got, tc.requests)
			}
			if _, err := os.Stat(canary); err == nil {
				t.Error("the tampered archive's binary ran")
			}
			var installed []string
			filepath.WalkDir(filepath.Join(cache, "tool_cache"), func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					installed = append(installed, p)
				}
				return nil
			})
			if len(installed) > 0 {
				t.Errorf("the tool cache got %v", installed)
			}
		})
	}
}

// TestReleaseSnapshot runs the real GoReleaser pipeline of .goreleaser.yaml
// (build, archive, SBOM, checksums; signing needs the release workflow's
// OIDC token and is skipped) for this machine's platform only, the part of
// a release make test can afford, and checks what a user downloads:
// the archive name action.yml expects, checksums that verify, a CycloneDX
// SBOM of the modules linked in, and a static binary whose `version`
// names the snapshot and the commit. make release-snapshot builds every
// platform.
func TestReleaseSnapshot(t *testing.T) {
	goreleaser := tool(t, "TIDEGATE_GORELEASER")
	cyclonedx := tool(t, "TIDEGATE_CYCLONEDX_GOMOD")
	root := repoRoot(t)
	check := exec.Command(goreleaser, "check")
	check.Dir = root
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("goreleaser check: %v\n%s", err, out)
	}

	// The release runs in a clone of the working tree as it is, committed,
	// with an origin: what a tag's checkout looks like, without writing
	// dist/ into this repository (and go-git, which cyclonedx-gomod reads
	// the main module's version with, cannot read a linked worktree).
	src := snapshotClone(t, root)
	raw, err := os.ReadFile(filepath.Join(src, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, b := range cfg["builds"].([]any) {
		b.(map[string]any)["goos"] = []string{runtime.GOOS}
		b.(map[string]any)["goarch"] = []string{runtime.GOARCH}
	}
	derived, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, ".goreleaser.yaml"), derived, 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, src, "commit", "-qam", "one platform")
	cmd := exec.Command(goreleaser, "release", "--snapshot", "--clean", "--skip=sign")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(cyclonedx)+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goreleaser release --snapshot: %v\n%s", err, out)
	} else {
		t.Logf("goreleaser release --snapshot:\n%s", out)
	}
	dist := filepath.Join(src, "dist")
	tmp := t.TempDir()

	var meta struct {
		Version string `json:"version"`
		Commit  string `json:"commit"`
	}
	readJSON(t, filepath.Join(dist, "metadata.json"), &meta)
	head, err := exec.Command("git", "-C", src, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	if meta.Commit != strings.TrimSpace(string(head)) || !strings.Contains(meta.Version, "-SNAPSHOT-") {
		t.Errorf("metadata.json: %+v, HEAD %s", meta, head)
	}
	archive := archiveName(meta.Version, runtime.GOOS, runtime.GOARCH)
	sbom := archive + ".sbom.json"

	// checksums.txt covers the archive and its SBOM, and both verify.
	sums, err := os.ReadFile(filepath.Join(dist, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, file, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("checksums.txt line %q", line)
		}
		listed[file] = sum
	}
	for _, f := range []string{archive, sbom} {
		data, err := os.ReadFile(filepath.Join(dist, f))
		if err != nil {
			t.Fatalf("%s: %v (dist has %v)", f, err, ls(dist))
		}
		if listed[f] != sha256Hex(data) {
			t.Errorf("checksums.txt: %s has %q, the file %s", f, listed[f], sha256Hex(data))
		}
	}

	var bom struct {
		BOMFormat  string `json:"bomFormat"`
		Components []struct {
			Name     string `json:"name"`
			Licenses []any  `json:"licenses"`
		} `json:"components"`
	}
	readJSON(t, filepath.Join(dist, sbom), &bom)
	var names []string
	for _, c := range bom.Components {
		names = append(names, c.Name)
	}
	if bom.BOMFormat != "CycloneDX" || !slices.Contains(names, "k8s.io/client-go") || !slices.Contains(names, "github.com/go-git/go-git/v5") {
		t.Errorf("SBOM %s: format %q, %d components (want k8s.io/client-go and go-git among them)", sbom, bom.BOMFormat, len(names))
	}

	// The binary in the archive: static and stamped.
	bin := filepath.Join(tmp, "tidegate")
	if err := os.WriteFile(bin, fileInArchive(t, filepath.Join(dist, archive), "tidegate"), 0o755); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("the release binary is dynamically linked (has an ELF interpreter)")
			}
		}
		f.Close()
	}
	out, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("tidegate version: %v", err)
	}
	var v struct{ Version, Commit, Date, Go, Platform string }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("tidegate version -o json: %v\n%s", err, out)
	}
	if v.Version != "v"+meta.Version || v.Commit != meta.Commit || v.Date == "" || v.Go != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("tidegate version -o json = %s (metadata %+v)", out, meta)
	}
}

// snapshotClone is a new repository holding root's working tree (tracked
// and untracked files, not ignored ones) in one commit, with an origin.
func snapshotClone(t *testing.T, root string) string {
	t.Helper()
	list, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		fi, err := os.Lstat(filepath.Join(root, f))
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or a symlink
		}
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, f), data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	git(t, src, "init", "-q", "-b", "main")
	git(t, src, "add", "-A")
	git(t, src, "commit", "-qm", "snapshot of the working tree")
	git(t, src, "remote", "add", "origin", "https://github.com/tidegate/tidegate.git")
	return src
}

func readJSON(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func ls(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func fileInArchive(t *testing.T, archive, name string) []byte {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s has no %s: %v", archive, name, err)
		}
		if h.Name == name {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
	}
}
