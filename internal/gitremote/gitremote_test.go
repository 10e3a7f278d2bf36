package gitremote

import (
	"net/url"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in                             string
		scp, local, web, ssh           bool
		scheme, user, host, port, path string
		clone, sshForm, https          string
		shown                          string
	}{
		{in: "https://github.com/acme/fleet.git", web: true, scheme: "https", host: "github.com", path: "acme/fleet",
			clone: "https://github.com/acme/fleet.git", sshForm: "git@github.com:acme/fleet.git", https: "https://github.com/acme/fleet.git", shown: "https://github.com/acme/fleet.git"},
		{in: "https://ci:hunter2@git.example.com:8443/g/sub/p/", web: true, scheme: "https", user: "ci", host: "git.example.com", port: "8443", path: "g/sub/p",
			clone: "https://git.example.com:8443/g/sub/p/", sshForm: "git@git.example.com:g/sub/p.git", https: "https://git.example.com:8443/g/sub/p/", shown: "https://***:***@git.example.com:8443/g/sub/p/"},
		{in: "git@gitlab.com:g/proj.git", scp: true, ssh: true, user: "git", host: "gitlab.com", path: "g/proj",
			clone: "git@gitlab.com:g/proj.git", sshForm: "git@gitlab.com:g/proj.git", https: "https://gitlab.com/g/proj.git", shown: "git@gitlab.com:g/proj.git"},
		{in: "host.example:o/r", scp: true, ssh: true, host: "host.example", path: "o/r",
			clone: "host.example:o/r", sshForm: "host.example:o/r", https: "https://host.example/o/r.git", shown: "host.example:o/r"},
		{in: "ssh://git@gitea.local:2222/o/r.git", ssh: true, scheme: "ssh", user: "git", host: "gitea.local", port: "2222", path: "o/r",
			clone: "ssh://git@gitea.local:2222/o/r.git", sshForm: "ssh://git@gitea.local:2222/o/r.git", https: "https://gitea.local/o/r.git", shown: "ssh://git@gitea.local:2222/o/r.git"},
		{in: "/srv/git/fleet", local: true, path: "/srv/git/fleet",
			clone: "/srv/git/fleet", sshForm: "/srv/git/fleet", https: "/srv/git/fleet", shown: "/srv/git/fleet"},
		{in: "file:///srv/git/fleet.git", local: true, scheme: "file", path: "srv/git/fleet",
			clone: "file:///srv/git/fleet.git", sshForm: "file:///srv/git/fleet.git", https: "file:///srv/git/fleet.git", shown: "file:///srv/git/fleet.git"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.SCP != tc.scp || r.IsLocal() != tc.local || r.Web() != tc.web || r.SSH() != tc.ssh {
				t.Errorf("SCP, IsLocal, Web, SSH = %v %v %v %v; want %v %v %v %v", r.SCP, r.IsLocal(), r.Web(), r.SSH(), tc.scp, tc.local, tc.web, tc.ssh)
			}
			if r.Scheme != tc.scheme || r.User != tc.user || r.Host != tc.host || r.Port != tc.port || r.Path != tc.path {
				t.Errorf("parts = %q %q %q %q %q; want %q %q %q %q %q", r.Scheme, r.User, r.Host, r.Port, r.Path, tc.scheme, tc.user, tc.host, tc.port, tc.path)
			}
			for _, c := range []struct{ name, got, want string }{
				{"CloneURL", r.CloneURL(), tc.clone}, {"SSHForm", r.SSHForm(), tc.sshForm},
				{"HTTPSForm", r.HTTPSForm(), tc.https}, {"String", r.String(), tc.shown},
			} {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
				}
			}
		})
	}
}

func TestWebLocation(t *testing.T) {
	for _, tc := range []struct{ in, scheme, host, err string }{
		{in: "http://127.0.0.1:3000/gitea/o/r", scheme: "http", host: "127.0.0.1:3000"},
		{in: "ssh://git@gitea.local:2222/o/r.git", scheme: "https", host: "gitea.local"},
		{in: "git@gitlab.com:g/p.git", scheme: "https", host: "gitlab.com"},
		{in: "file:///srv/git/r", err: `scheme "file" has no forge`},
		{in: "/srv/git/r", err: "neither a URL nor user@host:path"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			scheme, host, err := r.WebLocation()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("WebLocation error = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil || scheme != tc.scheme || host != tc.host {
				t.Errorf("WebLocation = %q, %q, %v; want %q, %q", scheme, host, err, tc.scheme, tc.host)
			}
		})
	}
}

// TestHostileParseError: a URL that does not parse is refused without
// repeating the token it may carry.
func TestHostileParseError(t *testing.T) {
	const token = "ghp_s3cr3tTOKEN"
	for _, in := range []string{
		"https://" + token + "@host/%zz",
		"https://x:" + token + "@host/\x7f",
		"ssh://" + token + "@[::1/x",
	} {
		_, err := Parse(in)
		if err == nil {
			t.Fatalf("Parse(%q) accepted a URL that url.Parse refuses", in)
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("Parse(%q) error repeats the token: %v", in, err)
		}
	}
}

// FuzzParseString: whatever parses, neither String nor a parse error shows
// a URL's user name or password unless it is a known placeholder or an
// SSH login, and CloneURL of an http(s) remote never carries userinfo.
func FuzzParseString(f *testing.F) {
	for _, s := range []string{
		"https://tok@github.com/a/b.git", "https://u:p@h:1/x", "git@h:o/r.git",
		"ssh://me@h:22/o/r", "http://x-access-token:abc@h/o", "/local/path", "file:///x",
		"https://a%40b:c@h/", "tok@h:p", "git+ssh://u@h/p",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if u, perr := url.Parse(s); perr == nil && u.User != nil {
				t.Fatalf("Parse(%q) failed although url.Parse accepts it: %v", s, err)
			}
			assertHidden(t, s, err.Error())
			return
		}
		assertHidden(t, s, r.String())
		if r.Web() {
			for name, got := range map[string]string{"CloneURL": r.CloneURL(), "HTTPSForm": r.HTTPSForm()} {
				if u, perr := url.Parse(got); perr != nil || u.User != nil {
					t.Errorf("%s(%q) = %q keeps userinfo or does not parse (%v)", name, s, got, perr)
				}
			}
		}
	})
}

// assertHidden fails when shown contains a secret userinfo part of s.
func assertHidden(t *testing.T, s, shown string) {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return
	}
	if p, ok := u.User.Password(); ok && len(p) >= 4 && strings.Contains(shown, p) && !strings.Contains(stripUserinfo(s), p) {
		t.Errorf("%q shows the password of %q", shown, s)
	}
	name := u.User.Username()
	if len(name) >= 4 && maskUser(name, u.Scheme) == "***" && strings.Contains(shown, name) && !strings.Contains(stripUserinfo(s), name) {
		t.Errorf("%q shows the user name of %q", shown, s)
	}
}

// stripUserinfo is s without its userinfo, so a secret that also appears
// in the host or path (where it is not a secret) does not fail the check.
func stripUserinfo(s string) string {
	i := strings.Index(s, "//")
	if i < 0 {
		return s
	}
	rest := s[i+2:]
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		rest = rest[:end]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	return s[:i+2] + s[i+2+at+1:]
}
