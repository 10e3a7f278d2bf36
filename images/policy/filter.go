package policy

import (
	"fmt"
	"regexp"
	"slices"
)

// Filter restricts the candidates to tags matching Pattern. With Extract
// (a regexp.Expand template such as "$ts") the inner policy compares the
// expanded value, and the original tag is returned.
type Filter struct {
	Pattern *regexp.Regexp
	Extract string
	Inner   Policer
}

// NewFilter compiles pattern. An empty pattern lets every tag through.
func NewFilter(pattern, extract string, inner Policer) (*Filter, error) {
	if pattern == "" {
		pattern = ".*"
	}
	rx, err := regexp.Compile(pattern)
	if err != nil {
		return nil, &InvalidError{Field: "filterTags.pattern", Value: pattern, Err: err}
	}
	return &Filter{Pattern: rx, Extract: extract, Inner: inner}, nil
}

// Latest applies the filter, asks the inner policy and maps its answer
// back to the tag it came from.
func (f *Filter) Latest(tags []string) (string, error) {
	original := map[string]string{}
	var values []string
	for _, t := range tags {
		m := f.Pattern.FindStringSubmatchIndex(t)
		if m == nil {
			continue
		}
		v := t
		if f.Extract != "" {
			v = string(f.Pattern.ExpandString(nil, f.Extract, t, m))
		}
		if _, dup := original[v]; !dup {
			values = append(values, v)
		}
		// Two tags extracting to the same value: the greater tag wins so
		// that the answer does not depend on the registry's order.
		if prev, dup := original[v]; !dup || t > prev {
			original[v] = t
		}
	}
	if len(values) == 0 {
		return "", fmt.Errorf("filterTags pattern %q: %w", f.Pattern, ErrNoCandidate)
	}
	v, err := f.Inner.Latest(values)
	if err != nil {
		return "", err
	}
	return original[v], nil
}

// Exclude drops every tag matching one of the expressions, like an
// ImageRepository's spec.exclusionList.
type Exclude []*regexp.Regexp

// DefaultExclusion is Flux's exclusion list when none is given: cosign
// signature tags.
const DefaultExclusion = `^.*\.sig$`

// NewExclude compiles the list; an empty list means DefaultExclusion.
func NewExclude(patterns []string) (Exclude, error) {
	if len(patterns) == 0 {
		patterns = []string{DefaultExclusion}
	}
	var ex Exclude
	for _, p := range patterns {
		rx, err := regexp.Compile(p)
		if err != nil {
			return nil, &InvalidError{Field: "exclusionList", Value: p, Err: err}
		}
		ex = append(ex, rx)
	}
	return ex, nil
}

// Apply returns the tags no expression matches.
func (ex Exclude) Apply(tags []string) []string {
	return slices.DeleteFunc(slices.Clone(tags), func(t string) bool {
		return slices.ContainsFunc(ex, func(rx *regexp.Regexp) bool { return rx.MatchString(t) })
	})
}
