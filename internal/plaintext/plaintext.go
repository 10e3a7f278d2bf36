// Package plaintext remembers every value a run decrypted, so that no
// output channel prints one: stdout, stderr, logs, JSON, CI annotations,
// step summaries, webhooks, metrics, pull-request bodies and commit
// messages all pass through a Set's scrubber.
//
// A Set matches values in two ways:
//
//   - exactly (Has), whatever their length: a field of an object that came
//     from a decrypted file is masked when it equals a decrypted value,
//     even "1" or "on". This is what masking by provenance uses (package
//     render), and it is what keeps short values out of output.
//   - inside text (Scrub, Writer), only for values of at least MinScrub
//     bytes. Shorter values ("1", "dev", "yes") occur in every report by
//     chance; replacing them everywhere would make output unreadable
//     without hiding anything a reader could not guess. Booleans are never
//     scrubbed from text for the same reason.
//
// Each value is recorded with the forms it takes in output: as it is, in
// base64 (Secret data, live objects), JSON- and Go-quoted, YAML
// single-quoted, and, for a multi-line value, each significant line, one
// of at least MinLine bytes once trimmed (diffs and YAML block scalars
// print a value line by line). Shorter lines of a multi-line value
// ("apiVersion: v1", "}", "[server]") are structure more than secret,
// and would mask the same line of every object printed.
package plaintext

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MinScrub is the shortest value Scrub replaces inside text.
const MinScrub = 4

// MinLine is the shortest line of a multi-line value that Scrub
// replaces on its own.
const MinLine = 16

// Mask is what Scrub puts where a value was.
const Mask = "***"

// Set is the plaintext decrypted in one run. A nil *Set holds nothing and
// scrubs nothing. A Set is safe for concurrent use.
type Set struct {
	mu    sync.RWMutex
	exact map[string]bool
	text  map[string]bool
	rep   *strings.Replacer // built on first Scrub after an Add
}

// New returns an empty Set.
func New() *Set { return &Set{exact: map[string]bool{}, text: map[string]bool{}} }

// Add records a decrypted value: a string, []byte, int, float64, bool or
// time.Time, the types sops decrypts to. Other types are recorded by
// their JSON form.
func (s *Set) Add(v any) { s.add(v, true) }

// AddWhole records a value that is only ever used whole: a decrypted
// file that a generator (secretGenerator files:) turns into one value.
// Its lines are not recorded: they include the file's unencrypted keys
// and structure, and its values are recorded one by one with Add.
func (s *Set) AddWhole(v string) { s.add(v, false) }

func (s *Set) add(v any, lines bool) {
	if s == nil {
		return
	}
	var forms []string
	textual := true
	switch t := v.(type) {
	case nil:
		return
	case string:
		forms = []string{t}
	case []byte:
		forms = []string{string(t)}
	case bool:
		forms, textual = []string{strconv.FormatBool(t)}, false
	case int:
		forms = []string{strconv.Itoa(t)}
	case int64:
		forms = []string{strconv.FormatInt(t, 10)}
	case float64:
		forms = []string{strconv.FormatFloat(t, 'g', -1, 64), strconv.FormatFloat(t, 'f', -1, 64)}
	case time.Time:
		forms = []string{t.Format(time.RFC3339), t.Format(time.RFC3339Nano), t.UTC().Format(time.RFC3339)}
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return
		}
		forms = []string{string(b)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range forms {
		for _, g := range variants(f) {
			if g == "" {
				continue
			}
			s.exact[g] = true
			if textual && len(g) >= MinScrub && !s.text[g] {
				s.text[g] = true
				s.rep = nil
			}
		}
		if lines && textual && strings.Contains(f, "\n") {
			for _, line := range strings.Split(f, "\n") {
				if line = strings.TrimSpace(line); len(line) >= MinLine && !s.text[line] {
					s.text[line] = true
					s.rep = nil
				}
			}
		}
	}
}

// variants are the forms a value takes once printed.
func variants(v string) []string {
	out := []string{v, base64.StdEncoding.EncodeToString([]byte(v))}
	if j, err := json.Marshal(v); err == nil {
		out = append(out, string(j[1:len(j)-1]))
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) == nil {
		j := strings.TrimSuffix(b.String(), "\n")
		out = append(out, j[1:len(j)-1])
	}
	q := strconv.Quote(v)
	out = append(out, q[1:len(q)-1], strings.ReplaceAll(v, "'", "''"))
	return out
}

// Has reports whether v is, exactly, a recorded value in one of its forms.
func (s *Set) Has(v string) bool {
	if s == nil {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.exact[v]
}

// Len is the number of forms recorded for matching inside text.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.text)
}

// Scrub returns text with every recorded value of at least MinScrub bytes
// replaced by Mask.
func (s *Set) Scrub(text string) string {
	if s == nil {
		return text
	}
	rep := s.replacer()
	if rep == nil {
		return text
	}
	return rep.Replace(text)
}

func (s *Set) replacer() *strings.Replacer {
	s.mu.RLock()
	rep, n := s.rep, len(s.text)
	s.mu.RUnlock()
	if rep != nil || n == 0 {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rep == nil {
		vals := make([]string, 0, len(s.text))
		for v := range s.text {
			vals = append(vals, v)
		}
		// strings.Replacer tries its pairs in order at each position:
		// the longest first, so that a value containing another is
		// masked whole.
		sort.Slice(vals, func(i, j int) bool {
			if len(vals[i]) != len(vals[j]) {
				return len(vals[i]) > len(vals[j])
			}
			return vals[i] < vals[j]
		})
		pairs := make([]string, 0, 2*len(vals))
		for _, v := range vals {
			pairs = append(pairs, v, Mask)
		}
		s.rep = strings.NewReplacer(pairs...)
	}
	return s.rep
}

// Writer returns a writer that scrubs every Write before passing it to w.
// Each Write is scrubbed on its own, so a value split across two Writes
// is not recognised: tidegate writes whole lines and whole documents.
func (s *Set) Writer(w io.Writer) io.Writer { return &writer{s: s, w: w} }

type writer struct {
	s *Set
	w io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	if w.s.Len() == 0 {
		return w.w.Write(p)
	}
	if _, err := io.WriteString(w.w, w.s.Scrub(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ScrubError returns err with its message scrubbed, also of values
// recorded after the call. It still unwraps to err, so errors.Is and
// errors.As see the same chain.
func (s *Set) ScrubError(err error) error {
	if err == nil || s == nil {
		return err
	}
	if e, done := err.(*scrubbed); done && e.s == s {
		return err
	}
	return &scrubbed{s: s, err: err}
}

type scrubbed struct {
	s   *Set
	err error
}

func (e *scrubbed) Error() string { return e.s.Scrub(e.err.Error()) }
func (e *scrubbed) Unwrap() error { return e.err }
