package scan

import (
	"fmt"
	"strings"
)

// maxTagLen is the reference grammar's limit: one word character, then
// at most 127 of [A-Za-z0-9._-].
const maxTagLen = 128

// ValidTag reports whether tag matches the OCI distribution (and Docker)
// reference grammar for tags, [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. A
// registry's tag list is data from outside: anything else (a newline, a
// control character, "@sha256:…", 5,000 characters) could break a
// manifest, a branch name, a pull request title or a table, so it is
// never a candidate.
func ValidTag(tag string) bool {
	if tag == "" || len(tag) > maxTagLen {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// validTags splits a registry's answer into the valid tags and a few of
// the others, quoted and cut short for a debug line.
func validTags(tags []string) (valid []string, invalid int, examples []string) {
	valid = tags[:0:0]
	for _, t := range tags {
		if ValidTag(t) {
			valid = append(valid, t)
			continue
		}
		invalid++
		if len(examples) < 3 {
			examples = append(examples, quoteShort(t))
		}
	}
	return valid, invalid, examples
}

// quoteShort quotes s with Go escapes (no control character reaches a
// terminal or log) after cutting it to 64 bytes.
func quoteShort(s string) string {
	if len(s) <= 64 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q…(%d bytes)", strings.ToValidUTF8(s[:64], ""), len(s))
}
