package policy

import (
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// SemVer selects the highest version inside a range.
type SemVer struct {
	Range      string
	constraint *semver.Constraints
}

// NewSemVer parses a Masterminds/semver range such as ">=1.0.0 <2.0.0",
// "~3.1" or "^1.2.x".
func NewSemVer(r string) (*SemVer, error) {
	c, err := semver.NewConstraint(r)
	if err != nil {
		return nil, &InvalidError{Field: "semver range", Value: r, Err: err}
	}
	return &SemVer{Range: r, constraint: c}, nil
}

// Latest returns the highest tag that is a full semantic version inside
// the range. Equal versions ("1.0.0" and "v1.0.0") resolve to the first
// one listed.
func (p *SemVer) Latest(tags []string) (string, error) {
	var best *semver.Version
	for _, t := range tags {
		v, ok := parseStrict(t)
		if !ok || !p.constraint.Check(v) {
			continue
		}
		if best == nil || v.GreaterThan(best) {
			best = v
		}
	}
	if best == nil {
		return "", fmt.Errorf("semver range %q: %w", p.Range, ErrNoCandidate)
	}
	return best.Original(), nil
}

// parseStrict accepts what Flux v2 accepts: a complete MAJOR.MINOR.PATCH
// version, optionally prefixed with "v". The returned version keeps the
// tag as written in Original.
func parseStrict(tag string) (*semver.Version, bool) {
	if _, err := semver.StrictNewVersion(strings.TrimPrefix(tag, "v")); err != nil {
		return nil, false
	}
	v, err := semver.NewVersion(tag)
	if err != nil {
		return nil, false
	}
	return v, true
}
