package metrics

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// sampleRun is a successful reconcile ending at start+12.5s.
func sampleRun(start time.Time) Run {
	return Run{
		Command:      "reconcile",
		Inventory:    "default/tidegate",
		Success:      true,
		Start:        start,
		Duration:     12500 * time.Millisecond,
		Objects:      map[string]int{"created": 2, "configured": 3, "unchanged": 40, "drifted": 1, "pruned-orphan": 5},
		Drifted:      1,
		PendingBumps: 4,
		Revision:     "0123456789abcdef0123456789abcdef01234567",
	}
}

func readExposition(t *testing.T, path string) (exposition, string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseExposition(t, string(data)), string(data)
}

// checkRun asserts that e holds exactly the series for r, with extra
// labels (the Pushgateway's job and instance, say) on every series, and
// the given last success time (NaN: no such series).
func checkRun(t *testing.T, e exposition, r Run, version string, extra map[string]string, lastSuccess float64) {
	t.Helper()
	labels := func(kv ...string) map[string]string {
		m := map[string]string{"command": r.Command, "inventory": r.Inventory}
		for k, v := range extra {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	end := float64(r.Start.Add(r.Duration).UnixNano()) / 1e9
	success := 0.0
	if r.Success {
		success = 1
	}
	want := map[string]float64{
		seriesKey("tidegate_run_success", labels()):                                    success,
		seriesKey("tidegate_run_duration_seconds", labels()):                           r.Duration.Seconds(),
		seriesKey("tidegate_run_timestamp_seconds", labels()):                          end,
		seriesKey("tidegate_drifted_objects", labels()):                                float64(r.Drifted),
		seriesKey("tidegate_image_bumps_pending", labels()):                            float64(r.PendingBumps),
		seriesKey("tidegate_info", labels("revision", r.Revision, "version", version)): 1,
	}
	if !math.IsNaN(lastSuccess) {
		want[seriesKey("tidegate_last_success_timestamp_seconds", labels())] = lastSuccess
	}
	outcome := r.Outcome
	if outcome == "" {
		outcome = map[bool]string{true: "ok", false: "failed"}[r.Success]
	}
	for _, o := range []string{"ok", "changes", "failed", "interrupted", "running"} {
		want[seriesKey("tidegate_run_outcome", labels("outcome", o))] = map[bool]float64{true: 1}[o == outcome]
	}
	for _, a := range []string{"created", "configured", "unchanged", "deleted", "drifted", "failed", "skipped"} {
		want[seriesKey("tidegate_objects", labels("action", a))] = float64(r.Objects[a])
	}
	for a, n := range r.Objects {
		want[seriesKey("tidegate_objects", labels("action", a))] = float64(n)
	}

	got := map[string]float64{}
	for _, s := range e.samples {
		if !strings.HasPrefix(s.name, "tidegate_") {
			continue
		}
		got[seriesKey(s.name, s.labels)] = s.value
		if e.typ[s.name] != "gauge" {
			t.Errorf("%s: TYPE %q, want gauge", s.name, e.typ[s.name])
		}
		if e.help[s.name] == "" {
			t.Errorf("%s has no HELP", s.name)
		}
	}
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("missing series %s", k)
		case math.Abs(g-v) > 1e-6*math.Max(1, math.Abs(v)):
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected series %s = %v", k, v)
		}
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tidegate.prom")
	r := sampleRun(time.Unix(1_750_000_000, 250_000_000))
	if err := WriteFile(path, r, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	e, text := readExposition(t, path)
	end := 1_750_000_012.75
	checkRun(t, e, r, "v1.2.3", nil, end)
	// The exact line, so that a reader other than this parser agrees.
	if !strings.Contains(text, "\ntidegate_objects{command=\"reconcile\",inventory=\"default/tidegate\",action=\"created\"} 2\n") {
		t.Errorf("no plain created line in\n%s", text)
	}
	if !strings.Contains(text, "# TYPE tidegate_last_success_timestamp_seconds gauge\n") {
		t.Errorf("no TYPE line for last success in\n%s", text)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 so node_exporter can read it", fi.Mode().Perm())
	}
	assertOnlyFile(t, dir, "tidegate.prom")

	// Encode writes the same text.
	var buf bytes.Buffer
	if err := Encode(&buf, r, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	if buf.String() != text {
		t.Errorf("Encode and WriteFile differ:\n%s\n---\n%s", buf.String(), text)
	}
}

func assertOnlyFile(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("directory holds %v, want %v (a temporary file left behind?)", got, names)
	}
}

func TestWriteFileKeepsLastSuccessOnFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tidegate.prom")
	t0 := time.Unix(1_750_000_000, 0)

	// A failed run with no earlier file: no last success series at all.
	failed := sampleRun(t0)
	failed.Success = false
	failed.Objects = map[string]int{"failed": 3}
	if err := WriteFile(path, failed, "v1"); err != nil {
		t.Fatal(err)
	}
	e, text := readExposition(t, path)
	checkRun(t, e, failed, "v1", nil, math.NaN())
	if strings.Contains(text, "tidegate_last_success_timestamp_seconds") {
		t.Errorf("last success written although no run succeeded:\n%s", text)
	}

	ok := sampleRun(t0.Add(time.Hour))
	if err := WriteFile(path, ok, "v1"); err != nil {
		t.Fatal(err)
	}
	lastOK := float64(ok.Start.Add(ok.Duration).Unix()) + 0.5

	for i := 1; i <= 2; i++ {
		failed := sampleRun(t0.Add(time.Duration(1+i) * time.Hour))
		failed.Success = false
		failed.Objects = map[string]int{"failed": i}
		failed.Revision = "deadbeef"
		if err := WriteFile(path, failed, "v2"); err != nil {
			t.Fatal(err)
		}
		e, _ := readExposition(t, path)
		checkRun(t, e, failed, "v2", nil, lastOK)
	}

	ok = sampleRun(t0.Add(5 * time.Hour))
	if err := WriteFile(path, ok, "v2"); err != nil {
		t.Fatal(err)
	}
	e, _ = readExposition(t, path)
	checkRun(t, e, ok, "v2", nil, float64(ok.Start.Add(ok.Duration).UnixNano())/1e9)
	assertOnlyFile(t, dir, "tidegate.prom")
}

func TestWriteFileLastSuccessOnlyFromSameRun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tidegate.prom")
	// Another command's and another inventory's last success, a damaged
	// line, and the one to keep, written by hand.
	old := `# HELP tidegate_last_success_timestamp_seconds x
# TYPE tidegate_last_success_timestamp_seconds gauge
tidegate_last_success_timestamp_seconds{command="images update",inventory="default/tidegate"} 111
tidegate_last_success_timestamp_seconds{command="reconcile",inventory="other/tidegate"} 222
tidegate_last_success_timestamp_seconds{command="reconcile",inventory="default/tidegate" 333
tidegate_last_success_timestamp_seconds{inventory="default/tidegate",command="reconcile"} 1.7e+09 1700000000000
garbage
`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	failed := sampleRun(time.Unix(1_750_000_000, 0))
	failed.Success = false
	if err := WriteFile(path, failed, "v1"); err != nil {
		t.Fatal(err)
	}
	e, _ := readExposition(t, path)
	checkRun(t, e, failed, "v1", nil, 1.7e9)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the existing file's 0600", fi.Mode().Perm())
	}

	// Nothing matching: no last success.
	other := failed
	other.Inventory = "third/tidegate"
	if err := WriteFile(path, other, "v1"); err != nil {
		t.Fatal(err)
	}
	e, _ = readExposition(t, path)
	checkRun(t, e, other, "v1", nil, math.NaN())
	assertOnlyFile(t, dir, "tidegate.prom")
}

func TestWriteFileEscapesLabels(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tidegate.prom")
	r := sampleRun(time.Unix(1_750_000_000, 0))
	r.Command = "images update"
	r.Inventory = "ns/we\"ird\\name\nsecond line"
	r.Revision = `back\slash"quote`
	r.Objects = map[string]int{"odd \"action\"\n": 7}
	version := "v1\n\"x\""
	if err := WriteFile(path, r, version); err != nil {
		t.Fatal(err)
	}
	e, text := readExposition(t, path)
	checkRun(t, e, r, version, nil, float64(r.Start.Add(r.Duration).UnixNano())/1e9)
	for _, want := range []string{
		`inventory="ns/we\"ird\\name\nsecond line"`,
		`revision="back\\slash\"quote"`,
		`version="v1\n\"x\""`,
		`action="odd \"action\"\n"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %s:\n%s", want, text)
		}
	}
	if got := strings.Count(text, "\n"); got != len(e.samples)+2*len(e.typ) {
		t.Errorf("%d lines for %d samples and %d families: a raw newline got through", got, len(e.samples), len(e.typ))
	}

	// The last success is found again through the escapes.
	failed := r
	failed.Success = false
	failed.Start = r.Start.Add(time.Hour)
	if err := WriteFile(path, failed, version); err != nil {
		t.Fatal(err)
	}
	e, _ = readExposition(t, path)
	checkRun(t, e, failed, version, nil, float64(r.Start.Add(r.Duration).UnixNano())/1e9)
}

// TestWriteFileIsAtomic reads the file while it is rewritten: a reader
// must always see a complete file, the old one or the new one.
func TestWriteFileIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tidegate.prom")
	r := sampleRun(time.Unix(1_750_000_000, 0))
	if err := WriteFile(path, r, "v1"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	var bad []string
	reads := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			data, err := os.ReadFile(path)
			mu.Lock()
			reads++
			if err != nil {
				bad = append(bad, err.Error())
			} else if e, err := parseExpositionErr(string(data)); err != nil || len(e.series("tidegate_info")) != 1 {
				bad = append(bad, string(data))
			}
			mu.Unlock()
		}
	}()
	for i := 0; i < 100; i++ {
		r.Objects = map[string]int{"created": i, strings.Repeat("x", i*10): i}
		r.Success = i%3 != 0
		if err := WriteFile(path, r, "v1"); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("%d of %d reads saw an incomplete file, e.g.:\n%s", len(bad), reads, bad[0])
	}
	assertOnlyFile(t, dir, "tidegate.prom")
}

func TestWriteFileErrors(t *testing.T) {
	dir := t.TempDir()
	r := sampleRun(time.Unix(1_750_000_000, 0))

	err := WriteFile(filepath.Join(dir, "missing", "tidegate.prom"), r, "v1")
	if err == nil || !strings.Contains(err.Error(), "check that the directory exists") {
		t.Errorf("missing directory: %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap the not-exist error", err)
	}

	err = WriteFile(dir, r, "v1")
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory as path: %v", err)
	}
	assertOnlyFile(t, dir)

	// A relative path writes into the working directory.
	t.Chdir(dir)
	if err := WriteFile("rel.prom", r, "v1"); err != nil {
		t.Fatal(err)
	}
	assertOnlyFile(t, dir, "rel.prom")
}
