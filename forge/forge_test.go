package forge

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		remote string
		want   Provider
		err    bool
	}{
		{"https://github.com/acme/fleet.git", GitHub, false},
		{"git@github.com:acme/fleet.git", GitHub, false},
		{"ssh://git@github.com/acme/fleet", GitHub, false},
		{"https://gitlab.com/acme/platform/fleet.git", GitLab, false},
		{"git@gitlab.example.org:acme/fleet.git", GitLab, false},
		{"ssh://git@gitlab.internal:2222/a/b/c.git", GitLab, false},
		{"https://codeberg.org/acme/fleet.git", Gitea, false},
		{"https://gitea.example.com/acme/fleet", Gitea, false},
		{"https://forgejo.example.com/acme/fleet", Gitea, false},
		{"https://git.example.com/acme/fleet.git", "", true},
		{"/srv/git/fleet", "", true},
		{"", "", true},
	} {
		t.Run(tc.remote, func(t *testing.T) {
			got, err := Detect(tc.remote)
			if (err != nil) != tc.err {
				t.Fatalf("Detect(%q) error = %v, want error %v", tc.remote, err, tc.err)
			}
			if got != tc.want {
				t.Errorf("Detect(%q) = %q, want %q", tc.remote, got, tc.want)
			}
		})
	}
}

func TestParseRemote(t *testing.T) {
	for _, tc := range []struct {
		remote string
		want   remote
		owner  string
		repo   string
		prefix string
	}{
		{"https://github.com/acme/fleet.git", remote{"https", "github.com", "acme/fleet"}, "acme", "fleet", ""},
		{"https://user:secret@gitlab.example.com/g/sub/proj.git", remote{"https", "gitlab.example.com", "g/sub/proj"}, "sub", "proj", "/g"},
		{"git@gitlab.com:g/sub/proj.git", remote{"https", "gitlab.com", "g/sub/proj"}, "sub", "proj", "/g"},
		{"ssh://git@gitea.local:2222/o/r.git", remote{"https", "gitea.local", "o/r"}, "o", "r", ""},
		{"http://127.0.0.1:3000/gitea/o/r", remote{"http", "127.0.0.1:3000", "gitea/o/r"}, "o", "r", "/gitea"},
	} {
		t.Run(tc.remote, func(t *testing.T) {
			got, err := parseRemote(tc.remote)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(remote{})); diff != "" {
				t.Errorf("parseRemote (-want +got):\n%s", diff)
			}
			o, r, err := got.ownerRepo()
			if err != nil || o != tc.owner || r != tc.repo {
				t.Errorf("ownerRepo = %q, %q, %v; want %q, %q", o, r, err, tc.owner, tc.repo)
			}
			if p := got.prefix(); p != tc.prefix {
				t.Errorf("prefix = %q, want %q", p, tc.prefix)
			}
		})
	}
}

func TestNewRedactsRemoteCredentials(t *testing.T) {
	_, err := New(Config{Provider: GitHub, RemoteURL: "https://x:hunter2@github.com/only-owner"})
	if err == nil {
		t.Fatal("New accepted a remote without a repository")
	}
	_, err = New(Config{Provider: Gitea, RemoteURL: "https://g.example/o/r", APIURL: "ftp://tok:hunter2@x/"})
	if err == nil {
		t.Fatal("New accepted an ftp API URL")
	}
	if got := err.Error(); strings.Contains(got, "hunter2") {
		t.Errorf("error leaks the password: %s", got)
	}
}

func TestGitLabMessage(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"message":"404 Project Not Found"}`, "404 Project Not Found"},
		{`{"message":["Another open merge request already exists for this source branch: !1"]}`, "Another open merge request already exists for this source branch: !1"},
		{`{"message":{"title":["is too long"],"base":["is invalid"]}}`, "base is invalid; title is too long"},
		{`{"error":"title is missing"}`, "title is missing"},
		{"Retry later\n", "Retry later"},
	} {
		if got := glMessage([]byte(tc.body)); got != tc.want {
			t.Errorf("glMessage(%s) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

// TestEveryForgeAddsDeployKeys: tidegate init type-asserts the forge to
// DeployKeyAdder, so a provider without it would fail only at run time.
func TestEveryForgeAddsDeployKeys(t *testing.T) {
	for _, p := range []Provider{GitHub, GitLab, Gitea} {
		f, err := New(Config{Provider: p, RemoteURL: "https://example.com/acme/fleet.git", Token: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.(DeployKeyAdder); !ok {
			t.Errorf("%s: %T does not implement DeployKeyAdder", p, f)
		}
	}
}

// TestHostileRedact: credentials in a URL that does not parse, or that
// url.Parse reads as opaque, never reach an error message.
func TestHostileRedact(t *testing.T) {
	for _, in := range []string{
		"https://hunter2sekret@github.com/%zz",
		"https://x:hunter2sekret@github.com/a\x7f",
		"https:hunter2sekret@github.com/o/r",
		"https://hunter2sekret@github.com/o/r",
	} {
		if got := redact(in); strings.Contains(got, "hunter2sekret") {
			t.Errorf("redact(%q) = %q keeps the token", in, got)
		}
	}
}
