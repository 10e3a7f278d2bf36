package policy

import (
	"errors"
	"fmt"
	"slices"

	"github.com/tidegate/tidegate/internal/markdown"
)

// Policer picks the tag to use from candidate tags. Implementations must
// not modify tags.
type Policer interface {
	Latest(tags []string) (string, error)
}

// ErrNoCandidate is returned when no tag satisfies the policy.
var ErrNoCandidate = errors.New("no tag matches the policy")

// InvalidError reports a policy that cannot be built from its spec.
type InvalidError struct {
	Field string // the spec field, e.g. "semver.range"
	Value string
	Err   error
}

// Error quotes the value and keeps the cause on one line: regexp and
// semver errors repeat the repository's text raw, newlines included.
func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Field, e.Value, markdown.Line(e.Err.Error()))
}

func (e *InvalidError) Unwrap() error { return e.Err }

// Top returns up to n tags in the policy's order of preference, the one
// Latest picks first. It asks p repeatedly, so it works for any Policer.
func Top(p Policer, tags []string, n int) ([]string, error) {
	rest := slices.Clone(tags)
	var out []string
	for len(out) < n && len(rest) > 0 {
		t, err := p.Latest(rest)
		if errors.Is(err, ErrNoCandidate) {
			break
		}
		if err != nil {
			return out, err
		}
		out = append(out, t)
		rest = slices.DeleteFunc(rest, func(s string) bool { return s == t })
	}
	return out, nil
}
