package plaintext_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidegate/tidegate/internal/plaintext"
)

func TestScrub(t *testing.T) {
	s := plaintext.New()
	s.Add("hunter2-long")
	s.Add("ab")   // too short for text
	s.Add(true)   // booleans: exact only
	s.Add(424242) // ints by their digits
	s.Add(time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC))
	s.Add("line one is long\n  line two is also long\nshort line\n")
	s.AddWhole("kind: Secret\nwhole-file-value\n")
	s.Add(`quote"and\back<tag>`)
	s.Add("hunter2-long-er") // contains the first one: masked whole

	for _, tc := range []struct{ in, want string }{
		{"password=hunter2-long;", "password=***;"},
		{"b64 " + base64.StdEncoding.EncodeToString([]byte("hunter2-long")), "b64 ***"},
		{"x hunter2-long-er y", "x *** y"},
		{"ab and true stay", "ab and true stay"},
		{"pin 424242", "pin ***"},
		{"at 2031-02-03T04:05:06Z", "at ***"},
		{"+    line two is also long", "+    ***"},
		{"a short line stays", "a short line stays"},
		{"kind: Secret\nwhole-file-value\n", "***"},
		{"kind: Secret", "kind: Secret"},
		{`{"v":"quote\"and\\back\u003ctag\u003e"}`, `{"v":"***"}`},
		{`{"v":"quote\"and\\back<tag>"}`, `{"v":"***"}`},
	} {
		if got := s.Scrub(tc.in); got != tc.want {
			t.Errorf("Scrub(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, v := range []string{"ab", "true", "424242", base64.StdEncoding.EncodeToString([]byte("ab"))} {
		if !s.Has(v) {
			t.Errorf("Has(%q) = false", v)
		}
	}
	if s.Has("hunter2") {
		t.Error("Has matches a part of a value")
	}
}

func TestWriterAndError(t *testing.T) {
	s := plaintext.New()
	var buf bytes.Buffer
	w := s.Writer(&buf)
	err := s.ScrubError(fmt.Errorf("wrapped: %w", errSentinel))
	s.Add("added-after-the-writer")
	n, werr := fmt.Fprint(w, "value added-after-the-writer here")
	if werr != nil || n != len("value added-after-the-writer here") {
		t.Fatalf("Write = %d, %v", n, werr)
	}
	if buf.String() != "value *** here" {
		t.Errorf("writer wrote %q", buf.String())
	}
	if !errors.Is(err, errSentinel) {
		t.Error("ScrubError broke the error chain")
	}
	s.Add("sentinel-secret")
	if strings.Contains(err.Error(), "sentinel-secret") {
		t.Errorf("a value recorded after ScrubError still shows: %v", err)
	}
	var nilSet *plaintext.Set
	if nilSet.Scrub("x") != "x" || nilSet.Has("x") || nilSet.ScrubError(errSentinel) != errSentinel {
		t.Error("a nil Set is not a no-op")
	}
}

var errSentinel = errors.New("the sentinel-secret failed")

func TestConcurrent(t *testing.T) {
	s := plaintext.New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				s.Add(fmt.Sprintf("value-%d-%d", i, j))
				_ = s.Scrub("value-1-1 and value-2-2")
			}
		}()
	}
	wg.Wait()
	if got := s.Scrub("value-1-1 and value-7-99"); got != "*** and ***" {
		t.Errorf("Scrub = %q", got)
	}
}
