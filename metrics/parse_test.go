package metrics

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// exposition is a parsed Prometheus text exposition (format 0.0.4).
type exposition struct {
	help, typ map[string]string // by family name
	samples   []parsedSample
}

type parsedSample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseExposition parses text strictly: every line is a HELP, TYPE or
// other comment, or a sample; TYPE comes before its family's samples and
// at most once; a family's samples are contiguous; label values use only
// the three escapes; no series appears twice; the text ends in a newline.
func parseExposition(t *testing.T, text string) exposition {
	t.Helper()
	e, err := parseExpositionErr(text)
	if err != nil {
		t.Fatalf("invalid exposition format: %v\n%s", err, text)
	}
	return e
}

func parseExpositionErr(text string) (exposition, error) {
	e := exposition{help: map[string]string{}, typ: map[string]string{}}
	if text != "" && !strings.HasSuffix(text, "\n") {
		return e, fmt.Errorf("text does not end in a newline")
	}
	seenSeries := map[string]bool{}
	done := map[string]bool{} // families whose samples are over
	current := ""
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		n++
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			f := strings.SplitN(line, " ", 4)
			if len(f) >= 3 && (f[1] == "HELP" || f[1] == "TYPE") {
				name := f[2]
				if !validMetricName(name) {
					return e, fmt.Errorf("line %d: bad metric name %q", n, name)
				}
				rest := ""
				if len(f) == 4 {
					rest = f[3]
				}
				m := e.help
				if f[1] == "TYPE" {
					m = e.typ
					switch rest {
					case "counter", "gauge", "summary", "histogram", "untyped":
					default:
						return e, fmt.Errorf("line %d: bad type %q", n, rest)
					}
					if current == name || done[name] {
						return e, fmt.Errorf("line %d: TYPE of %s after its samples", n, name)
					}
				} else {
					h, err := unescapeHelp(rest)
					if err != nil {
						return e, fmt.Errorf("line %d: %v", n, err)
					}
					rest = h
				}
				if _, dup := m[name]; dup {
					return e, fmt.Errorf("line %d: second %s for %s", n, f[1], name)
				}
				m[name] = rest
			}
			continue
		}
		s, err := parseSampleLine(line)
		if err != nil {
			return e, fmt.Errorf("line %d: %v", n, err)
		}
		fam := s.name
		for _, suffix := range []string{"_sum", "_count", "_bucket"} {
			base := strings.TrimSuffix(s.name, suffix)
			if base != s.name && (e.typ[base] == "summary" || e.typ[base] == "histogram") {
				fam = base
			}
		}
		if fam != current {
			if done[fam] {
				return e, fmt.Errorf("line %d: samples of %s are not contiguous", n, fam)
			}
			if current != "" {
				done[current] = true
			}
			current = fam
		}
		key := seriesKey(s.name, s.labels)
		if seenSeries[key] {
			return e, fmt.Errorf("line %d: duplicate series %s", n, key)
		}
		seenSeries[key] = true
		e.samples = append(e.samples, s)
	}
	return e, nil
}

func parseSampleLine(line string) (parsedSample, error) {
	s := parsedSample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.name = line[:i]
	if !validMetricName(s.name) {
		return s, fmt.Errorf("bad metric name %q", s.name)
	}
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq < 0 {
				return s, fmt.Errorf("bad label in %q", line)
			}
			name := rest[:eq]
			if !validLabelName(name) && name != "__name__" {
				return s, fmt.Errorf("bad label name %q", name)
			}
			if _, dup := s.labels[name]; dup {
				return s, fmt.Errorf("label %s twice in %q", name, line)
			}
			rest = rest[eq+2:]
			var v strings.Builder
			closed := false
			for k := 0; k < len(rest); k++ {
				switch c := rest[k]; c {
				case '"':
					rest, closed = rest[k+1:], true
				case '\\':
					if k+1 == len(rest) {
						return s, fmt.Errorf("dangling backslash in %q", line)
					}
					k++
					switch rest[k] {
					case '\\':
						v.WriteByte('\\')
					case '"':
						v.WriteByte('"')
					case 'n':
						v.WriteByte('\n')
					default:
						return s, fmt.Errorf("bad escape \\%c in %q", rest[k], line)
					}
				case '\n':
					return s, fmt.Errorf("raw newline in label value")
				default:
					v.WriteByte(c)
				}
				if closed {
					break
				}
			}
			if !closed {
				return s, fmt.Errorf("unterminated label value in %q", line)
			}
			s.labels[name] = v.String()
			if strings.HasPrefix(rest, ",") {
				rest = rest[1:]
			} else if !strings.HasPrefix(rest, "}") {
				return s, fmt.Errorf("expected , or } in %q", line)
			}
		}
	}
	if !strings.HasPrefix(rest, " ") {
		return s, fmt.Errorf("no space before value in %q", line)
	}
	f := strings.Split(rest[1:], " ")
	if len(f) > 2 {
		return s, fmt.Errorf("trailing text in %q", line)
	}
	v, err := parseValue(f[0])
	if err != nil {
		return s, fmt.Errorf("bad value in %q: %v", line, err)
	}
	s.value = v
	if len(f) == 2 {
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			return s, fmt.Errorf("bad timestamp in %q", line)
		}
	}
	return s, nil
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	if strings.ContainsAny(s, "iInN") { // only the spellings above
		return 0, fmt.Errorf("%q", s)
	}
	return strconv.ParseFloat(s, 64)
}

func unescapeHelp(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return "", fmt.Errorf("dangling backslash in HELP")
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		default:
			return "", fmt.Errorf("bad escape \\%c in HELP", s[i])
		}
	}
	return b.String(), nil
}

func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameChar(s[i], i == 0, true) {
			return false
		}
	}
	return true
}

func seriesKey(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name + "{")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q,", k, labels[k])
	}
	b.WriteString("}")
	return b.String()
}

// series returns the samples of family name.
func (e exposition) series(name string) []parsedSample {
	var out []parsedSample
	for _, s := range e.samples {
		if s.name == name {
			out = append(out, s)
		}
	}
	return out
}

// value returns the value of the series name{labels}, labels matching
// exactly.
func (e exposition) value(name string, labels map[string]string) (float64, bool) {
	key := seriesKey(name, labels)
	for _, s := range e.samples {
		if seriesKey(s.name, s.labels) == key {
			return s.value, true
		}
	}
	return 0, false
}

func TestParserIsStrict(t *testing.T) {
	for _, bad := range []string{
		"x 1",                              // no newline at the end
		"x{a=\"b\"} 1\n# TYPE x gauge\n",   // TYPE after samples
		"x{a=\"\\t\"} 1\n",                 // unknown escape
		"x{a=\"b\",a=\"c\"} 1\n",           // label twice
		"x{a=\"b\"} 1\nx{a=\"b\"} 2\n",     // series twice
		"x 1\ny 1\nx{a=\"b\"} 1\n",         // not contiguous
		"x{a=\"b} 1\n",                     // unterminated
		"x  1\n",                           // two spaces
		"x 1 2 3\n",                        // trailing text
		"x inf\n",                          // lower-case inf
		"1x 1\n",                           // bad name
		"# TYPE x gaug\n",                  // bad type
		"# HELP x a\n# HELP x b\nx 1\n",    // HELP twice
		"x{a=\"b\"}1\n",                    // no space
		"x{0a=\"b\"} 1\n",                  // bad label name
		"# HELP x trailing \\\nx 1\n",      // dangling escape in HELP
		"x{a=\"b\"} 1 notatimestamp\n",     // bad timestamp
		"x{a=\"b\" 1\n",                    // no closing brace
		"x{a=\"b\"c=\"d\"} 1\n",            // no comma
		"x{a=b} 1\n",                       // unquoted
		"x{a=\"b\\\"} 1\n",                 // escaped closing quote
		"x{a=\"b\"} 0x1g\n",                // bad number
		"x{a=\"b\"} 1\n# TYPE x counter\n", // TYPE after samples
	} {
		if _, err := parseExpositionErr(bad); err == nil {
			t.Errorf("parser accepted %q", bad)
		}
	}
	good := "# HELP x a \\\\ b\\nc\n# TYPE x gauge\nx{a=\"\\\\\\\"\\n\",b=\"\"} -1.5e+09\nx +Inf 123\n"
	e, err := parseExpositionErr(good)
	if err != nil {
		t.Fatal(err)
	}
	if e.help["x"] != "a \\ b\nc" {
		t.Errorf("help = %q", e.help["x"])
	}
	if v, ok := e.value("x", map[string]string{"a": "\\\"\n", "b": ""}); !ok || v != -1.5e9 {
		t.Errorf("x = %v, %v; samples %+v", v, ok, e.samples)
	}
}
