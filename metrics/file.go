package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tidegate/tidegate/internal/atomicfile"
)

// WriteFile writes the metrics for r to path, for node_exporter's textfile
// collector. The file is replaced atomically: the metrics are written to
// a temporary file in the same directory (named so the collector, which
// reads only *.prom, ignores it), synced, and renamed over path. A new
// file is readable by everyone (0644); an existing file keeps its mode.
//
// When r failed, the tidegate_last_success_timestamp_seconds of the same
// command and inventory is carried over from the file being replaced, so
// that the time since the last success keeps growing across failures.
func WriteFile(path string, r Run, version string) error {
	var last *float64
	switch fi, err := os.Stat(path); {
	case err == nil && fi.IsDir():
		return fmt.Errorf("write metrics file: %s is a directory; give a file name such as %s", path, filepath.Join(path, "tidegate.prom"))
	case err == nil:
		if !r.Success {
			old, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("read the previous metrics file to keep its last success time: %w; make %s readable by tidegate or remove it", err, path)
			}
			last = lastSuccess(old, r)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return fmt.Errorf("write metrics file: %w; check that tidegate can reach %s", err, path)
	}

	var buf bytes.Buffer
	if err := encode(&buf, r, families(r, version, last)); err != nil {
		return err
	}

	if err := atomicfile.Write(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write metrics file %s: %w; check that the directory exists, that tidegate can write to it and that it has free space", path, err)
	}
	return nil
}

// lastSuccess finds tidegate_last_success_timestamp_seconds for r's
// command and inventory in a previous metrics file. Lines it cannot read
// are skipped: a damaged file must not keep the new metrics from being
// written.
func lastSuccess(data []byte, r Run) *float64 {
	var found *float64
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		name, labels, value, ok := parseSample(sc.Text())
		if !ok || name != nameLastSuccess || labels[labelCommand] != r.Command || labels[labelInventory] != r.Inventory {
			continue
		}
		found = &value
	}
	return found
}

// parseSample parses one sample line of the text format: a metric name,
// optional labels in braces, a value and an optional timestamp. ok is
// false for comments, blank lines, malformed lines and values that are
// not finite numbers.
func parseSample(line string) (name string, labels map[string]string, value float64, ok bool) {
	s := strings.TrimLeft(line, " \t")
	i := 0
	for i < len(s) && isNameChar(s[i], i == 0, true) {
		i++
	}
	if i == 0 {
		return "", nil, 0, false
	}
	name, s = s[:i], strings.TrimLeft(s[i:], " \t")
	labels = map[string]string{}
	if strings.HasPrefix(s, "{") {
		s = s[1:]
		for {
			s = strings.TrimLeft(s, " \t")
			if strings.HasPrefix(s, "}") {
				s = s[1:]
				break
			}
			j := 0
			for j < len(s) && isNameChar(s[j], j == 0, false) {
				j++
			}
			if j == 0 {
				return "", nil, 0, false
			}
			lname := s[:j]
			s = strings.TrimLeft(s[j:], " \t")
			if !strings.HasPrefix(s, `="`) {
				return "", nil, 0, false
			}
			s = s[2:]
			var v strings.Builder
			closed := false
			for k := 0; k < len(s); k++ {
				c := s[k]
				if c == '"' {
					s, closed = s[k+1:], true
					break
				}
				if c == '\\' && k+1 < len(s) {
					k++
					switch s[k] {
					case 'n':
						v.WriteByte('\n')
					case '\\', '"':
						v.WriteByte(s[k])
					default:
						return "", nil, 0, false
					}
					continue
				}
				v.WriteByte(c)
			}
			if !closed {
				return "", nil, 0, false
			}
			labels[lname] = v.String()
			s = strings.TrimLeft(s, " \t")
			if strings.HasPrefix(s, ",") {
				s = s[1:]
			} else if !strings.HasPrefix(s, "}") {
				return "", nil, 0, false
			}
		}
	}
	fields := strings.Fields(s)
	if len(fields) < 1 || len(fields) > 2 {
		return "", nil, 0, false
	}
	value, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || math.IsNaN(value) || math.IsInf(value, 0) {
		return "", nil, 0, false
	}
	return name, labels, value, true
}

// isNameChar reports whether c may appear in a metric name (colons
// allowed) or a label name, at the first position or later.
func isNameChar(c byte, first, metric bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		return true
	case c == ':':
		return metric
	case c >= '0' && c <= '9':
		return !first
	}
	return false
}
