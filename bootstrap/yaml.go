package bootstrap

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// plainScalar matches strings YAML reads back as the same string when
// written bare in block context: no leading indicator, no ": " or " #".
var plainScalar = regexp.MustCompile(`^(?:[A-Za-z0-9_./]|-[^ ])[A-Za-z0-9_./@:=,+~ -]*$`)

// yamlScalar writes s as a YAML string: bare when that cannot be read as
// anything else (a number, a boolean, null), else JSON-quoted, which YAML
// reads as a double-quoted string.
func yamlScalar(s string) string {
	_, numErr := strconv.ParseFloat(s, 64)
	if plainScalar.MatchString(s) && s == strings.TrimSpace(s) && !strings.Contains(s, ": ") && !strings.Contains(s, " #") && numErr != nil &&
		!slices.Contains([]string{"true", "false", "yes", "no", "on", "off", "y", "n", "null"}, strings.ToLower(s)) {
		return s
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// singleQuoted is a YAML single-quoted string, which escapes a quote by
// doubling it (as GitHub expressions do).
func singleQuoted(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
