package notify

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// The kinds of target, each a payload format.
const (
	KindSlack   = "slack"   // Slack incoming webhook
	KindDiscord = "discord" // Discord channel webhook
	KindTeams   = "teams"   // Microsoft Teams Workflows (Power Automate) webhook
	KindJSON    = "json"    // any endpoint: the Event as JSON
)

// targetForms is what ParseTarget accepts, for error messages.
const targetForms = "slack=URL, discord=URL, teams=URL, json=URL, or a bare https:// URL (sent as JSON)"

// Target is one webhook: which payload format to send, and where.
//
// URL is a secret (chat services put the token in it). Target's String
// and GoString print only the kind and host, so that a Target in a log
// line or an error message does not leak it.
type Target struct {
	Kind string
	URL  string
}

// ParseTarget reads a target in the form KIND=URL, where KIND is slack,
// discord, teams or json, or a bare http(s) URL, which means json. It is
// meant for flag and environment values.
//
// Errors never repeat the URL: a typo must not print the token into a CI
// log.
func ParseTarget(s string) (Target, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Target{}, fmt.Errorf("empty notification target; use %s", targetForms)
	}
	t := Target{Kind: KindJSON, URL: s}
	if !hasHTTPScheme(s) {
		kind, u, ok := strings.Cut(s, "=")
		if !ok {
			return Target{}, fmt.Errorf("notification target is neither KIND=URL nor an http(s) URL; use %s", targetForms)
		}
		t = Target{Kind: strings.ToLower(strings.TrimSpace(kind)), URL: strings.TrimSpace(u)}
	}
	if err := t.validate(); err != nil {
		return Target{}, err
	}
	return t, nil
}

// UnmarshalText parses a target with ParseTarget, so that a Target (or a
// slice of them) can be a command-line flag or an environment variable.
func (t *Target) UnmarshalText(b []byte) error {
	p, err := ParseTarget(string(b))
	if err != nil {
		return err
	}
	*t = p
	return nil
}

// String names the target without its secret: kind and host.
func (t Target) String() string {
	return t.Kind + " (" + host(t.URL) + ")"
}

// GoString keeps %#v from printing the URL.
func (t Target) GoString() string {
	return fmt.Sprintf("notify.Target{Kind: %q, URL: %q}", t.Kind, Redact(t.URL))
}

func (t Target) validate() error {
	switch t.Kind {
	case KindSlack, KindDiscord, KindTeams, KindJSON:
	default:
		kind := t.Kind
		if !isWord(kind) {
			// It may be part of a mistyped URL; don't echo it.
			kind = "?"
		}
		return fmt.Errorf("unknown notification kind %q; use %s", kind, targetForms)
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		// url.Parse's error quotes the URL; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s notification URL is not a valid URL (%v); use %s", t.Kind, err, targetForms)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("%s notification URL must start with https:// (or http://); use %s", t.Kind, targetForms)
	}
	if u.Host == "" {
		return fmt.Errorf("%s notification URL has no host; use %s", t.Kind, targetForms)
	}
	return nil
}

// Redact returns what of a webhook URL is safe to print: its scheme and
// host (with port). Paths, queries and user info carry the tokens.
func Redact(rawURL string) string {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}

// host is the host (with port) of a URL, for naming a target in errors.
func host(rawURL string) string {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || u.Host == "" {
		return "invalid URL"
	}
	return u.Host
}

func hasHTTPScheme(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://")
}

func isWord(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_' {
			return false
		}
	}
	return true
}
