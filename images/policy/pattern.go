package policy

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/ryanuber/go-glob"

	"github.com/tidegate/tidegate/internal/markdown"
)

// PatternKind is the prefix of a Flux v1 tag pattern.
type PatternKind string

const (
	Glob   PatternKind = "glob"
	Semver PatternKind = "semver"
	Regex  PatternKind = "regex"
)

// Pattern is a Flux v1 tag filter as written in a fluxcd.io/tag.<container>
// or filter.fluxcd.io/<container> annotation: "semver:~3.1",
// "glob:master-*", "regex:^3.10.*" ("regexp:" too). Without a prefix the
// pattern is a glob, as in Flux v1.
type Pattern struct {
	Kind PatternKind
	Expr string

	constraint *semver.Constraints
	rx         *regexp.Regexp
}

// ParsePattern parses an annotation value. Flux v1 let an invalid pattern
// match every tag; tidegate refuses it instead, since bumping to an
// arbitrary tag is worse than not bumping.
func ParsePattern(s string) (Pattern, error) {
	kind, expr, found := strings.Cut(s, ":")
	if !found {
		kind, expr = string(Glob), s
	}
	switch PatternKind(kind) {
	case Semver:
		c, err := semver.NewConstraint(expr)
		if err != nil {
			return Pattern{}, &InvalidError{Field: "semver range", Value: expr, Err: err}
		}
		return Pattern{Kind: Semver, Expr: expr, constraint: c}, nil
	case Regex, "regexp":
		rx, err := regexp.Compile(expr)
		if err != nil {
			return Pattern{}, &InvalidError{Field: "regex", Value: expr, Err: err}
		}
		return Pattern{Kind: Regex, Expr: expr, rx: rx}, nil
	case Glob:
		return Pattern{Kind: Glob, Expr: expr}, nil
	}
	// "1.2:3" has a colon but no known prefix: a glob with a colon.
	return Pattern{Kind: Glob, Expr: s}, nil
}

// String returns the pattern with its prefix.
func (p Pattern) String() string { return string(p.Kind) + ":" + p.Expr }

// Matches reports whether tag passes the filter.
func (p Pattern) Matches(tag string) bool {
	switch p.Kind {
	case Semver:
		v, err := semver.NewVersion(tag)
		return err == nil && p.constraint.Check(v)
	case Regex:
		return p.rx.MatchString(tag)
	default:
		return glob.Glob(p.Expr, tag)
	}
}

// NeedsCreated reports whether choosing among matches needs each image's
// creation time: Flux v1 ordered glob and regex matches by it.
func (p Pattern) NeedsCreated() bool { return p.Kind != Semver }

// Policer returns the policy for this pattern. created holds the creation
// times of the candidates and is only read when NeedsCreated.
func (p Pattern) Policer(created map[string]time.Time) Policer {
	if p.Kind == Semver {
		return &lenientSemVer{p}
	}
	return &patternByCreated{p: p, by: ByCreated{Created: created}}
}

type lenientSemVer struct{ p Pattern }

// Latest uses Flux v1's lenient parsing: "1.2" is 1.2.0.
func (s *lenientSemVer) Latest(tags []string) (string, error) {
	var best *semver.Version
	for _, t := range tags {
		v, err := semver.NewVersion(t)
		if err != nil || !s.p.constraint.Check(v) {
			continue
		}
		if best == nil || v.GreaterThan(best) {
			best = v
		}
	}
	if best == nil {
		return "", fmt.Errorf("pattern %s: %w", markdown.Line(s.p.String()), ErrNoCandidate)
	}
	return best.Original(), nil
}

type patternByCreated struct {
	p  Pattern
	by ByCreated
}

func (f *patternByCreated) Latest(tags []string) (string, error) {
	var matched []string
	for _, t := range tags {
		if f.p.Matches(t) {
			matched = append(matched, t)
		}
	}
	t, err := f.by.Latest(matched)
	if err != nil {
		return "", fmt.Errorf("pattern %s: %w", markdown.Line(f.p.String()), err)
	}
	return t, nil
}

// ByCreated selects the most recently built image. Tags without a known
// creation time are not candidates; equal times go to the greater tag.
type ByCreated struct {
	Created map[string]time.Time
}

func (b ByCreated) Latest(tags []string) (string, error) {
	var best string
	var bestT time.Time
	found := false
	for _, t := range tags {
		c, ok := b.Created[t]
		if !ok {
			continue
		}
		if !found || c.After(bestT) || (c.Equal(bestT) && t > best) {
			best, bestT, found = t, c, true
		}
	}
	if !found {
		return "", ErrNoCandidate
	}
	return best, nil
}
