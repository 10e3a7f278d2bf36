package flux

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func gitRepo(version, spec string) string {
	return `apiVersion: source.toolkit.fluxcd.io/` + version + `
kind: GitRepository
metadata: {name: repo, namespace: flux-system}
spec:
  interval: 1m
  url: https://git.example.invalid/fleet.git
` + spec
}

func ociRepo(version, spec string) string {
	return `apiVersion: source.toolkit.fluxcd.io/` + version + `
kind: OCIRepository
metadata: {name: art, namespace: flux-system}
spec:
  interval: 1m
  url: oci://registry.example.invalid/manifests/app
` + spec
}

func TestParseGitRepository(t *testing.T) {
	base := GitRepository{Namespace: "flux-system", Name: "repo", File: "f.yaml", URL: "https://git.example.invalid/fleet.git", Ref: GitRef{Branch: "master"}, Timeout: time.Minute}
	for _, tc := range []struct {
		name string
		spec string
		edit func(*GitRepository)
	}{
		{"defaults: branch master, 60s", "", func(*GitRepository) {}},
		{"branch", "  ref: {branch: main}\n", func(g *GitRepository) { g.Ref = GitRef{Branch: "main"} }},
		{"tag", "  ref: {tag: v1.0.0}\n", func(g *GitRepository) { g.Ref = GitRef{Tag: "v1.0.0"} }},
		{"semver", "  ref: {semver: '>=1.0.0 <2.0.0'}\n", func(g *GitRepository) { g.Ref = GitRef{SemVer: ">=1.0.0 <2.0.0"} }},
		{"name", "  ref: {name: refs/pull/1/head}\n", func(g *GitRepository) { g.Ref = GitRef{Name: "refs/pull/1/head"} }},
		{"commit with branch", "  ref: {branch: main, commit: 0123456789abcdef0123456789abcdef01234567}\n", func(g *GitRepository) {
			g.Ref = GitRef{Branch: "main", Commit: "0123456789abcdef0123456789abcdef01234567"}
		}},
		{"ignore, secret, timeout", "  ignore: '/*\n    !/deploy'\n  secretRef: {name: creds}\n  timeout: 2m\n", func(g *GitRepository) {
			g.Ignore, g.IgnoreSet, g.SecretName, g.Timeout = "/* !/deploy", true, "creds", 2*time.Minute
		}},
		{"empty ignore is set", "  ignore: ''\n", func(g *GitRepository) { g.IgnoreSet = true }},
		{"ssh", "  url: ssh://git@git.example.invalid/fleet\n", func(g *GitRepository) { g.URL = "ssh://git@git.example.invalid/fleet" }},
		{"features to refuse", "  recurseSubmodules: true\n  include: [{repository: {name: other}}]\n  verify: {mode: HEAD, secretRef: {name: keys}}\n  provider: github\n", func(g *GitRepository) {
			g.RecurseSubmodules, g.Include, g.Verify, g.Provider = true, []string{"other"}, true, "github"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseGitRepository(obj(t, gitRepo("v1", tc.spec)), "f.yaml")
			if err != nil {
				t.Fatal(err)
			}
			want := base
			tc.edit(&want)
			if diff := cmp.Diff(&want, got, cmpopts.IgnoreFields(GitRepository{}, "Object")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, v := range []string{"v1", "v1beta2", "v1beta1"} {
		t.Run("version "+v, func(t *testing.T) {
			g, err := ParseGitRepository(obj(t, gitRepo(v, "  ref: {tag: v1}\n")), "f.yaml")
			if err != nil || g.Ref.Tag != "v1" {
				t.Errorf("%s: %+v, %v", v, g, err)
			}
		})
	}
}

func TestParseGitRepositoryErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"no url", strings.Replace(gitRepo("v1", ""), "  url: https://git.example.invalid/fleet.git\n", "", 1), []string{"GitRepository/flux-system/repo (f.yaml): spec.url: is missing"}},
		{"scp-style url", gitRepo("v1", "  url: git@github.com:org/repo\n"), []string{"spec.url: ", "ssh://git@host/repo"}},
		{"password in url is not echoed", gitRepo("v1", "  url: ftp://user:hunter2@host/repo\n"), []string{"spec.url: ", "***@host/repo"}},
		{"version", gitRepo("v2", ""), []string{"apiVersion: ", "v1, v1beta2, v1beta1"}},
		{"ref type", gitRepo("v1", "  ref: main\n"), []string{"spec.ref: is a string, want a mapping"}},
		{"secretRef without name", gitRepo("v1", "  secretRef: {}\n"), []string{"spec.secretRef.name: is missing"}},
		{"timeout", gitRepo("v1", "  timeout: 1 minute\n"), []string{"spec.timeout: "}},
		{"provider", gitRepo("v1", "  provider: gitlab\n"), []string{"spec.provider: is gitlab"}},
		{"no interval", strings.Replace(gitRepo("v1", ""), "  interval: 1m\n", "", 1), []string{"spec.interval: is missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGitRepository(obj(t, tc.doc), "f.yaml")
			if g != nil {
				t.Errorf("returned %+v with an error", g)
			}
			wantErr(t, err, tc.want...)
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error echoes the password: %v", err)
			}
		})
	}
}

func TestParseOCIRepository(t *testing.T) {
	base := OCIRepository{Namespace: "flux-system", Name: "art", File: "f.yaml", URL: "oci://registry.example.invalid/manifests/app", Ref: OCIRef{Tag: "latest"}, Operation: "extract", Timeout: time.Minute}
	for _, tc := range []struct {
		name string
		spec string
		edit func(*OCIRepository)
	}{
		{"defaults: tag latest, extract, 60s", "", func(*OCIRepository) {}},
		{"tag", "  ref: {tag: '1.0'}\n", func(o *OCIRepository) { o.Ref = OCIRef{Tag: "1.0"} }},
		{"semver with filter", "  ref: {semver: '>=1.0.0', semverFilter: '.*-rc.*'}\n", func(o *OCIRepository) { o.Ref = OCIRef{SemVer: ">=1.0.0", SemverFilter: ".*-rc.*"} }},
		{"digest", "  ref: {digest: 'sha256:0000000000000000000000000000000000000000000000000000000000000000'}\n", func(o *OCIRepository) {
			o.Ref = OCIRef{Digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}
		}},
		{"layerSelector copy", "  layerSelector: {mediaType: application/x-tar, operation: copy}\n", func(o *OCIRepository) { o.MediaType, o.Operation = "application/x-tar", "copy" }},
		{"insecure, secret, provider, ignore, timeout", "  insecure: true\n  secretRef: {name: pull}\n  provider: aws\n  ignore: '*.md'\n  timeout: 30s\n  verify: {provider: cosign}\n", func(o *OCIRepository) {
			o.Insecure, o.SecretName, o.Provider, o.Ignore, o.IgnoreSet, o.Timeout, o.Verify = true, "pull", "aws", "*.md", true, 30*time.Second, true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOCIRepository(obj(t, ociRepo("v1", tc.spec)), "f.yaml")
			if err != nil {
				t.Fatal(err)
			}
			want := base
			tc.edit(&want)
			if diff := cmp.Diff(&want, got, cmpopts.IgnoreFields(OCIRepository{}, "Object")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("v1beta2", func(t *testing.T) {
		if _, err := ParseOCIRepository(obj(t, ociRepo("v1beta2", "")), "f.yaml"); err != nil {
			t.Fatal(err)
		}
	})
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"v1beta1 has no OCIRepository", ociRepo("v1beta1", ""), []string{"OCIRepository/flux-system/art (f.yaml): apiVersion: ", "v1, v1beta2"}},
		{"https url", strings.Replace(ociRepo("v1", ""), "oci://", "https://", 1), []string{"spec.url: ", "oci://registry/repository"}},
		{"operation", ociRepo("v1", "  layerSelector: {operation: unpack}\n"), []string{"spec.layerSelector.operation: is unpack"}},
		{"insecure type", ociRepo("v1", "  insecure: 'true'\n"), []string{"spec.insecure: is a string, want true or false"}},
		{"a GitRepository", gitRepo("v1", ""), []string{"is not a Flux OCIRepository"}},
		{"null spec", "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata: {name: a, namespace: ns}\nspec: null\n", []string{"OCIRepository/ns/a (f.yaml): spec: is missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOCIRepository(obj(t, tc.doc), "f.yaml")
			wantErr(t, err, tc.want...)
		})
	}
}

func TestUnsupported(t *testing.T) {
	for kind, want := range map[string]string{
		"GitRepository":     "",
		"OCIRepository":     "",
		"Bucket":            "Bucket sources are not supported",
		"ExternalArtifact":  "ExternalArtifact sources are not supported",
		"ArtifactGenerator": "ArtifactGenerator sources are not supported",
		"HelmChart":         "sourceRef kind HelmChart is unknown",
		"":                  `sourceRef kind "" is unknown`,
	} {
		got := Unsupported(kind)
		if want == "" && got != "" || want != "" && !strings.HasPrefix(got, want) {
			t.Errorf("Unsupported(%q) = %q, want prefix %q", kind, got, want)
		}
	}
}

func TestIsSource(t *testing.T) {
	for _, tc := range []struct {
		doc      string
		git, oci bool
	}{
		{gitRepo("v1beta1", ""), true, false},
		{ociRepo("v1", ""), false, true},
		{"apiVersion: example.com/v1\nkind: GitRepository\n", false, false},
		{"apiVersion: source.toolkit.fluxcd.io/v1\nkind: Bucket\n", false, false},
		{"apiVersion: 1\nkind: [OCIRepository]\n", false, false},
	} {
		u := obj(t, tc.doc)
		if IsGitRepository(u) != tc.git || IsOCIRepository(u) != tc.oci {
			t.Errorf("%q: IsGitRepository = %v, IsOCIRepository = %v", tc.doc, IsGitRepository(u), IsOCIRepository(u))
		}
	}
	if IsGitRepository(nil) || IsOCIRepository(nil) {
		t.Error("nil is a source")
	}
	k, err := ParseKustomization(obj(t, ks("v1", "  sourceRef: {kind: Bucket, name: b}\n")), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.Unsupported(), "Bucket sources are not supported") {
		t.Errorf("Unsupported() = %q", k.Unsupported())
	}
}
