package flux

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// maxProblems bounds how many field problems one object reports: a
// hostile object with a thousand wrong fields gets a readable error.
const maxProblems = 10

// fields reads typed values out of an unstructured object and collects
// what is wrong instead of panicking or guessing: every reader returns the
// zero value on a problem and records it, so one parse reports all the
// problems of an object at once.
type fields struct {
	prefix   string
	problems *problems
}

type problems struct {
	list  []problem
	seen  map[string]bool
	count int
}

type problem struct {
	field string
	err   error
}

func newFields() fields { return fields{problems: &problems{seen: map[string]bool{}}} }

// ok says whether no problem has been found so far.
func (f fields) ok() bool { return f.problems.count == 0 }

func (f fields) name(path ...string) string {
	n := f.prefix
	for _, p := range path {
		if n != "" {
			n += "."
		}
		n += p
	}
	return n
}

// at is a reader of the mapping at the given field, for list items.
func (f fields) at(field string) fields { return fields{prefix: field, problems: f.problems} }

// fail records a problem with field; the first problem of a field is its
// problem (a string of the wrong type is not also reported missing).
// Problems past maxProblems are only counted.
func (f fields) fail(field string, format string, args ...any) {
	if f.problems.seen[field] {
		return
	}
	f.problems.seen[field] = true
	f.problems.count++
	if len(f.problems.list) < maxProblems {
		f.problems.list = append(f.problems.list, problem{field: field, err: fmt.Errorf(format, args...)})
	}
}

// errs turns the problems into Errors about obj, at most maxProblems of
// them and one that counts the rest.
func (f fields) errs(obj Ref, file string) error {
	var out []error
	for _, p := range f.problems.list {
		out = append(out, &Error{Object: obj, File: file, Field: p.field, Err: p.err})
	}
	if more := f.problems.count - len(f.problems.list); more > 0 {
		out = append(out, &Error{Object: obj, File: file, Err: fmt.Errorf("and %d more problems", more)})
	}
	return errors.Join(out...)
}

// get returns the value at path in m; a step through something that is
// not a mapping is a problem.
func (f fields) get(m map[string]any, path ...string) (any, bool) {
	var cur any = m
	for i, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			if cur == nil {
				return nil, false
			}
			f.fail(f.name(path[:i]...), "is %s, want a mapping", typeName(cur))
			return nil, false
		}
		cur, ok = mm[p]
		if !ok {
			return nil, false
		}
	}
	if cur == nil {
		// YAML's "key:" with nothing after it reads as absent, as
		// the API server reads it.
		return nil, false
	}
	return cur, true
}

func (f fields) str(m map[string]any, path ...string) string {
	v, ok := f.get(m, path...)
	if !ok {
		return ""
	}
	s, ok := v.(string)
	switch {
	case ok:
	case typeName(v) == "a boolean" || typeName(v) == "a number":
		f.fail(f.name(path...), "is %s, want a string: quote it (YAML reads yes, no, on, off, 1.0 unquoted as booleans and numbers)", typeName(v))
	default:
		f.fail(f.name(path...), "is %s, want a string", typeName(v))
	}
	return s
}

func (f fields) boolean(m map[string]any, path ...string) bool {
	v, ok := f.get(m, path...)
	if !ok {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		f.fail(f.name(path...), "is %s, want true or false (without quotes)", typeName(v))
	}
	return b
}

func (f fields) mapping(m map[string]any, path ...string) (map[string]any, bool) {
	v, ok := f.get(m, path...)
	if !ok {
		return nil, false
	}
	mm, ok := v.(map[string]any)
	if !ok {
		f.fail(f.name(path...), "is %s, want a mapping", typeName(v))
		return nil, false
	}
	return mm, true
}

func (f fields) list(m map[string]any, path ...string) []any {
	v, ok := f.get(m, path...)
	if !ok {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		f.fail(f.name(path...), "is %s, want a list", typeName(v))
	}
	return l
}

// items calls fn with a reader and the mapping of each item of the list
// at path, naming items field[i] in problems.
func (f fields) items(m map[string]any, fn func(f fields, item map[string]any), path ...string) {
	for i, v := range f.list(m, path...) {
		name := f.name(path...) + "[" + strconv.Itoa(i) + "]"
		item, ok := v.(map[string]any)
		if !ok {
			f.fail(name, "is %s, want a mapping", typeName(v))
			continue
		}
		fn(f.at(name), item)
	}
}

func (f fields) strings(m map[string]any, path ...string) []string {
	var out []string
	for i, v := range f.list(m, path...) {
		s, ok := v.(string)
		if !ok {
			f.fail(f.name(path...)+"["+strconv.Itoa(i)+"]", "is %s, want a string", typeName(v))
			continue
		}
		out = append(out, s)
	}
	return out
}

func (f fields) stringMap(m map[string]any, path ...string) map[string]string {
	mm, ok := f.mapping(m, path...)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(mm))
	keys := make([]string, 0, len(mm))
	for k := range mm {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := mm[k].(string)
		if !ok {
			f.fail(f.name(path...)+"."+quote(k), "is %s, want a string (quote numbers and booleans)", typeName(mm[k]))
			continue
		}
		out[k] = s
	}
	return out
}

// durationPattern is the pattern Flux's CRDs give every duration field.
var durationPattern = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`)

// duration reads a Flux duration (such as 10m or 1h30m); set says whether
// the field was given.
func (f fields) duration(m map[string]any, path ...string) (d time.Duration, set bool) {
	v, ok := f.get(m, path...)
	if !ok {
		return 0, false
	}
	s, ok := v.(string)
	if !ok {
		f.fail(f.name(path...), "is %s, want a duration such as 10m or 1h30m", typeName(v))
		return 0, false
	}
	if !durationPattern.MatchString(s) {
		f.fail(f.name(path...), "%s is not a duration: write it as Flux does, such as 30s, 10m or 1h30m", quote(s))
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		f.fail(f.name(path...), "%s is not a duration: %w", quote(s), err)
		return 0, false
	}
	return d, true
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int32, int64, float32, float64:
		return "a number"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("a %T", v)
	}
}
