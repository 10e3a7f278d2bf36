package main

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/alecthomas/kong"
)

// pathsMapper decodes --path and TIDEGATE_PATHS (the field tagged
// type:"paths") like kong's own slice decoder, except that it keeps
// what kong drops without a word: an empty value among others
// (--path a --path "", which kong reads as --path a) and a trailing
// comma (--path a,). The first is refused here, the second becomes an
// empty entry that SourceFlags.Validate refuses with the others.
type pathsMapper struct{}

// pathsOption registers pathsMapper; every parser of tidegate's command
// line uses it, so that the help and the flag reference are the same.
func pathsOption() kong.Option { return kong.NamedMapper("paths", pathsMapper{}) }

// PlaceHolder keeps the placeholder kong gives a list (DIR,...), which
// it leaves out for a field with its own mapper.
func (pathsMapper) PlaceHolder(f *kong.Flag) string { return f.PlaceHolder + ",..." }

func (pathsMapper) Decode(ctx *kong.DecodeContext, target reflect.Value) error {
	t := ctx.Scan.Pop()
	if t.IsEOL() {
		return fmt.Errorf(`missing value, expecting "DIR,..."`)
	}
	v, ok := t.Value.(string)
	if !ok {
		return fmt.Errorf("--path %v: expected directories separated by commas", t.Value)
	}
	if strings.TrimSpace(v) == "" {
		//nolint:staticcheck // ST1005: the message ends with the default path ".", not punctuation
		return fmt.Errorf(`--path %q (or TIDEGATE_PATHS=%q): an empty path list; give at least one directory inside the repository, e.g. --path . for its root, or leave --path and TIDEGATE_PATHS unset for the default .`, v, v)
	}
	parts := kong.SplitEscaped(v, ',')
	empty := false
	for _, p := range parts {
		empty = empty || p == ""
	}
	if !empty && strings.HasSuffix(v, ",") && !strings.HasSuffix(v, `\,`) {
		parts = append(parts, "")
	}
	for _, p := range parts {
		target.Set(reflect.Append(target, reflect.ValueOf(p)))
	}
	return nil
}
