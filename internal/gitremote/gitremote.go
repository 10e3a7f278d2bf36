// Package gitremote parses a Git remote once into the parts that init,
// forge and source need: the clone URL without credentials, its HTTPS and
// SSH forms, the forge's web location and a display string that never
// shows a credential.
package gitremote

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Remote is a parsed Git remote: an scp-like user@host:path, a URL
// (https, ssh://, file://…) or a local path.
type Remote struct {
	raw    string
	u      *url.URL // nil for scp-like remotes and local paths
	SCP    bool     // git's [user@]host:path form
	Scheme string   // URL scheme; "" for scp-like remotes and paths
	User   string   // user name; never printed by String
	Host   string   // host name without port
	Port   string
	// Path is the repository path without surrounding slashes and ".git".
	Path string
}

// scpForm is git's [user@]host:path, which url.Parse rejects.
var scpForm = regexp.MustCompile(`^(?:([^@/:]+)@)?([^@/:]+):(.+)$`)

// Parse splits a remote. Anything that is neither a URL nor scp-like is a
// local path; the error is for a URL that does not parse, and it never
// repeats the URL, which may hold a credential.
func Parse(s string) (Remote, error) {
	r := Remote{raw: s}
	if !strings.Contains(s, "://") {
		if m := scpForm.FindStringSubmatch(s); m != nil {
			r.SCP, r.User, r.Host, r.Path = true, m[1], m[2], trimPath(m[3])
		} else {
			r.Path = s
		}
		return r, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return Remote{raw: s}, fmt.Errorf("remote %q is not a URL: %w", Redact(s), errors.Unwrap(err))
	}
	r.u, r.Scheme, r.Host, r.Port, r.Path = u, u.Scheme, u.Hostname(), u.Port(), trimPath(u.Path)
	if u.User != nil {
		r.User = u.User.Username()
	}
	return r, nil
}

func trimPath(p string) string { return strings.TrimSuffix(strings.Trim(p, "/"), ".git") }

// IsLocal reports a path or file:// URL, which a pod or a forge cannot reach.
func (r Remote) IsLocal() bool {
	return !r.SCP && (r.u == nil || r.u.Host == "" || r.Scheme == "file")
}

// Web reports whether the remote is an http(s) URL.
func (r Remote) Web() bool { return r.Scheme == "http" || r.Scheme == "https" }

// SSH reports an scp-like remote or an SSH URL.
func (r Remote) SSH() bool {
	switch r.Scheme {
	case "ssh", "git", "git+ssh", "ssh+git":
		return true
	}
	return r.SCP
}

// CloneURL is the remote without the user and password of an http(s)
// URL: it goes into Git and into the cluster. An SSH URL keeps its user,
// which a key authenticates; scp-like remotes and paths are kept as given.
func (r Remote) CloneURL() string {
	if r.u == nil {
		return r.raw
	}
	u := *r.u
	if r.Web() {
		u.User = nil
	}
	return u.String()
}

// SSHForm is git@host:path.git for an http(s) remote, the form a deploy
// key authenticates; other remotes are their CloneURL.
func (r Remote) SSHForm() string {
	if !r.Web() {
		return r.CloneURL()
	}
	return "git@" + r.Host + ":" + r.Path + ".git"
}

// HTTPSForm is https://host/path.git for an scp-like or ssh:// remote,
// which a public repository can be cloned from with no credential; other
// remotes are their CloneURL.
func (r Remote) HTTPSForm() string {
	if r.IsLocal() || (!r.SCP && r.Scheme != "ssh") {
		return r.CloneURL()
	}
	return "https://" + r.Host + "/" + r.Path + ".git"
}

// WebLocation is the scheme and host[:port] of the forge's web UI and API:
// an http(s) remote's own, or https on the default port for SSH remotes
// (the SSH port is not the web port).
func (r Remote) WebLocation() (scheme, host string, err error) {
	switch {
	case r.Web():
		return r.Scheme, r.u.Host, nil
	case r.SSH():
		return "https", r.Host, nil
	case r.Scheme != "":
		return "", "", fmt.Errorf("remote %s: scheme %q has no forge (use an https or ssh remote)", r, r.Scheme)
	}
	return "", "", fmt.Errorf("remote %q is neither a URL nor user@host:path", r)
}

// String is the remote as it may be printed: see Redact.
func (r Remote) String() string { return Redact(r.raw) }

// Local is a remote taken as a local path without parsing, for a caller
// that leaves a remote it cannot parse to Git.
func Local(path string) Remote { return Remote{raw: path, Path: path} }
