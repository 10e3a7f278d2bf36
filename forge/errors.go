package forge

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const defaultTimeout = 60 * time.Second

// Sentinel errors an *Error matches with errors.Is, one per kind of
// failure the user fixes differently.
var (
	// ErrUnauthorized: the token is missing, expired or revoked (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the token is valid but lacks a scope or permission (403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: the repository, branch or pull request does not exist,
	// or the token cannot see it (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the forge refused the request's content (422, 400, 409),
	// for example a head branch that does not exist.
	ErrInvalid = errors.New("invalid request")
	// ErrRateLimited: too many requests; try again after the reset.
	ErrRateLimited = errors.New("rate limited")
)

// Error is a failed forge API call.
type Error struct {
	Provider Provider
	// Op says what tidegate was doing ("create pull request").
	Op string
	// Repo is the repository (owner/name or GitLab project path).
	Repo string
	// Status is the HTTP status code, 0 when no response arrived.
	Status int
	// Message is the forge's own explanation, if it gave one.
	Message string
	// Reset is when a rate limit ends, zero when unknown.
	Reset time.Time
	kind  error
	err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", e.Provider, e.Repo, e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	} else if e.err != nil && (e.Status == 0 || e.Status/100 == 2) {
		// No answer, or a good status whose body could not be read
		// (cut at the size cap, stalled): the cause is the only news.
		fmt.Fprintf(&b, ": %v", e.err)
	}
	if h := e.hint(); h != "" {
		fmt.Fprintf(&b, " (%s)", h)
	}
	return b.String()
}

// Is matches the sentinel errors.
func (e *Error) Is(target error) bool { return e.kind != nil && target == e.kind }

// Unwrap returns the transport or client library error.
func (e *Error) Unwrap() error { return e.err }

func (e *Error) hint() string {
	switch e.kind {
	case ErrUnauthorized:
		return "the token is missing, expired or revoked: set --forge-token or TIDEGATE_FORGE_TOKEN"
	case ErrForbidden:
		if strings.Contains(e.Op, "deploy key") {
			// Keys are repository settings: pull request rights are not enough.
			switch e.Provider {
			case GitHub:
				return "managing deploy keys needs admin rights on the repository: a fine-grained token with Administration: write, or a classic token with the repo scope"
			case GitLab:
				return "managing deploy keys needs the api scope and at least the Maintainer role on the project"
			default:
				return "managing deploy keys needs the write:repository scope and admin rights on the repository"
			}
		}
		switch e.Provider {
		case GitHub:
			return "the token lacks permission: a fine-grained token needs Pull requests: write (and Contents: write to push), a classic token the repo scope"
		case GitLab:
			return "the token lacks permission: it needs the api scope and at least the Developer role on the project"
		default:
			return "the token lacks permission: it needs the write:repository and write:issue scopes and write access to the repository"
		}
	case ErrNotFound:
		return "the repository does not exist or the token cannot see it: check the remote URL, --forge-url and the token's access"
	case ErrRateLimited:
		if !e.Reset.IsZero() {
			return "rate limit exceeded, resets at " + e.Reset.UTC().Format(time.RFC3339)
		}
		return "rate limit exceeded: try again later"
	}
	return ""
}

// apiError classifies a failed call; token is scrubbed from every text
// that ends up in the error.
func apiError(p Provider, repo, op string, status int, message string, reset time.Time, err error, token string) *Error {
	e := &Error{Provider: p, Repo: repo, Op: op, Status: status, Message: scrub(strings.TrimSpace(message), token), Reset: reset, err: err}
	if token != "" && err != nil && strings.Contains(err.Error(), token) {
		e.err = errors.New(scrub(err.Error(), token))
	}
	switch {
	case !reset.IsZero() || status == http.StatusTooManyRequests:
		e.kind = ErrRateLimited
	case status == http.StatusUnauthorized:
		e.kind = ErrUnauthorized
	case status == http.StatusForbidden:
		e.kind = ErrForbidden
	case status == http.StatusNotFound:
		e.kind = ErrNotFound
	case status == http.StatusUnprocessableEntity, status == http.StatusBadRequest, status == http.StatusConflict:
		e.kind = ErrInvalid
	}
	return e
}

func scrub(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "REDACTED")
}

func statusOf(r *http.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}
