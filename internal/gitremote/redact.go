package gitremote

import (
	"net/url"
	"regexp"
	"strings"
)

// Redact returns what of a repository URL is safe to print. Passwords are
// always masked, and so is a user name, because a token is often sent as
// the user (https://TOKEN@host/…, https://TOKEN:x-oauth-basic@host/…).
// Only user names that are known placeholders (git, oauth2,
// x-access-token, …) and the users of SSH URLs, which authenticate with a
// key, are kept so the reader still sees how tidegate logged in.
//
// A string that does not parse as a URL is never returned as it was: it
// may be a URL with a credential that url.Parse refused (a stray %, a
// control character), so everything after its scheme is masked.
func Redact(raw string) string {
	if m := scpLike.FindStringSubmatch(raw); m != nil {
		return maskUser(m[1], "ssh") + "@" + m[2]
	}
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.Index(raw, "://"); i > 0 && validScheme.MatchString(raw[:i]) {
			return raw[:i] + "://" + unparsable
		}
		return unparsable
	}
	if u.User == nil && !strings.Contains(u.Opaque, "@") {
		return raw
	}
	if u.User == nil {
		// https:TOKEN@host is opaque to url.Parse; drop all but the host.
		at := strings.LastIndex(u.Opaque, "@")
		return u.Scheme + ":***" + u.Opaque[at:]
	}
	info := maskUser(u.User.Username(), u.Scheme)
	if _, has := u.User.Password(); has {
		info += ":***"
	}
	// A stand-in of unreserved characters comes through String unescaped,
	// and String puts the "//" before it even when the host is empty.
	const standIn = "tidegate-redacted-userinfo"
	u.User = url.User(standIn)
	return strings.Replace(u.String(), standIn+"@", info+"@", 1)
}

// unparsable stands for a URL, or the part after its scheme, that could
// not be parsed and so could not be redacted piecemeal.
const unparsable = "(unparsable URL, hidden)"

var (
	// scpLike is git's user@host:path form, which url.Parse rejects.
	scpLike     = regexp.MustCompile(`^([A-Za-z0-9._~-]+)@([A-Za-z0-9.-]+:[^\x00-\x1f\x7f]*)$`)
	validScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)
)

// maskUser keeps a user name that cannot be a secret and masks any other.
func maskUser(user, scheme string) string {
	switch {
	case user == "":
		return ""
	case strings.HasPrefix(scheme, "ssh") || strings.HasSuffix(scheme, "+ssh"):
		if plainUser.MatchString(user) {
			return user
		}
	case placeholderUsers[strings.ToLower(user)]:
		return user
	}
	return "***"
}

// plainUser is a Unix-style login name: what SSH URLs carry.
var plainUser = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)

// placeholderUsers are the user names forges document for token
// authentication, with the token as the password.
var placeholderUsers = map[string]bool{
	"git": true, "oauth2": true, "x-access-token": true, "gitlab-ci-token": true,
	"x-token-auth": true, "token": true, "oauth": true, "pat": true,
}
