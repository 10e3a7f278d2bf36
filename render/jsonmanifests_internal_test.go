package render

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// checkJSONSame asserts that a file the JSON path reads is read exactly
// as the YAML path reads it, and says whether the JSON path read it.
func checkJSONSame(t testing.TB, name string, data []byte) bool {
	t.Helper()
	got, ok := jsonManifests(data, Options{}.limits())
	if !ok {
		return false
	}
	want, _, _, err := decodeDocuments(name, data, Options{}.limits())
	if err != nil {
		t.Errorf("%s: the JSON path read a file the YAML path refuses (%v):\n%s", name, err, data)
		return true
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: the JSON path read\n%#v\nthe YAML path\n%#v\nfrom:\n%s", name, got, want, data)
	}
	// And as kubectl's parser alone reads each document.
	for _, d := range splitDocuments(data) {
		if isBlank(d.text) {
			continue
		}
		if _, err := slowObject(d.text); err != nil {
			t.Errorf("%s:%d: the JSON path read a document sigs.k8s.io/yaml refuses: %v", name, d.line, err)
		}
	}
	return true
}

const cm = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":%s}`

// TestJSONManifestsMatch: JSON manifests read without the YAML parser
// read as with it, and what YAML 1.1 reads apart from JSON goes the
// YAML way.
func TestJSONManifestsMatch(t *testing.T) {
	read := []string{
		fmt.Sprintf(cm, `{"k":"v"}`) + "\n",
		"---\n" + fmt.Sprintf(cm, `{"a":"1"}`) + "\n---\n" + fmt.Sprintf(cm, `{"b":"2"}`) + "\n",
		// kubectl -o json: indented, the closing brace in column 0.
		"{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"ConfigMap\",\n    \"metadata\": {\n        \"name\": \"x\",\n        \"labels\": {\"a\": \"b\"}\n    },\n    \"data\": {}\n}\n",
		// Strings YAML would read otherwise if they were not quoted.
		fmt.Sprintf(cm, `{"a":"yes","b":"on","c":"0755","d":"1e3","e":"~","f":"null","g":"","h":"- x","i":"a: b","j":"#c","k":"!tag","l":"&anchor","m":"*alias","n":"%x"}`),
		// Escapes both read alike, HTML-escaped characters, non-ASCII.
		fmt.Sprintf(cm, `{"q":"a\"b\\c","n":"l1\nl2","t":"a\tb","r":"\r","bf":"\b\f","html":"\u003cb\u003e \u0026","uni":"ünï 中文 😀"}`),
		// Integers, booleans, null, nesting.
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":3,"paused":false,"x":null,"neg":-7,"zero":0,"nz":-0,"max":9223372036854775807,"min":-9223372036854775808,"l":[1,"two",[true],{"k":[]}]}}`,
		// Line breaks after a key's colon, around commas; a long key
		// and a long value.
		fmt.Sprintf(cm, "{\"a\":\n\"v\"\n,\n\"b\" : \"w\"}"),
		fmt.Sprintf(cm, `{"`+strings.Repeat("k", 990)+`":"`+strings.Repeat("v", 5000)+`"}`),
		// Lines that end in CRLF.
		fmt.Sprintf(cm, `{"a":"1"}`) + "\r\n---\r\n" + fmt.Sprintf(cm, `{}`) + "\r\n",
		// Blank documents and comment-only documents are skipped.
		"# generated\n---\n" + fmt.Sprintf(cm, `{}`) + "\n---\n\n---\n# nothing\n",
	}
	for i, doc := range read {
		if !checkJSONSame(t, fmt.Sprintf("read-%d.json", i), []byte(doc)) {
			t.Errorf("the JSON path declined a file it should read:\n%s", doc)
		}
	}
	declined := map[string]string{
		"float":              fmt.Sprintf(cm, `{"a":1.5}`),
		"exponent":           fmt.Sprintf(cm, `{"a":1e3}`),
		"beyond int64":       fmt.Sprintf(cm, `{"a":9223372036854775808}`),
		"repeated key":       fmt.Sprintf(cm, `{"a":"1","a":"2"}`),
		"merge key":          fmt.Sprintf(cm, `{"<<":{"a":"1"}}`),
		"slash escape":       fmt.Sprintf(cm, `{"a":"\/"}`),
		"control escape":     fmt.Sprintf(cm, `{"a":"\u0001"}`),
		"escaped non-ASCII":  fmt.Sprintf(cm, `{"a":"\u00e9"}`),
		"surrogates":         fmt.Sprintf(cm, `{"a":"\ud83d\ude00"}`),
		"line separator":     fmt.Sprintf(cm, "{\"a\":\"x\u2028y\"}"),
		"NEL":                fmt.Sprintf(cm, "{\"a\":\"x\u0085y\"}"),
		"BOM":                fmt.Sprintf(cm, "{\"a\":\"x\ufeffy\"}"),
		"DEL":                fmt.Sprintf(cm, "{\"a\":\"x\x7fy\"}"),
		"key then line":      fmt.Sprintf(cm, "{\"a\"\n:\"v\"}"),
		"key of 2,000 bytes": fmt.Sprintf(cm, `{"`+strings.Repeat("k", 2000)+`":"v"}`),
		"DEL after escape":   fmt.Sprintf(cm, "{\"a\":\"\\n\x7f\"}"),
		"C1 control":         fmt.Sprintf(cm, "{\"a\":\"x\u0090y\"}"),
		"tab between tokens": fmt.Sprintf(cm, "{\"a\":\t\"1\"}"),
		"carriage return":    fmt.Sprintf(cm, "{\"a\":\r\"1\"}"),
		"YAML file":          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
		"JSON then YAML":     fmt.Sprintf(cm, `{}`) + "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n",
		"comment after":      fmt.Sprintf(cm, `{}`) + " # generated\n",
		"two objects":        fmt.Sprintf(cm, `{}`) + "\n" + fmt.Sprintf(cm, `{}`) + "\n",
		"a List":             `{"apiVersion":"v1","kind":"List","items":[]}`,
		"no kind":            `{"apiVersion":"v1","metadata":{"name":"x"}}`,
		"not an object":      `[{"apiVersion":"v1","kind":"ConfigMap"}]`,
		"invalid JSON":       `{"apiVersion":"v1","kind":"ConfigMap",}`,
	}
	for name, doc := range declined {
		if _, ok := jsonManifests([]byte(doc), Options{}.limits()); ok {
			t.Errorf("%s: the JSON path read what it must leave to YAML:\n%s", name, doc)
		}
	}
	// Every JSON file of the module's testdata, if the JSON path reads it.
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(filepath.ToSlash(p), "/testdata/") || !strings.HasSuffix(p, ".json") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		checkJSONSame(t, p, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzJSONManifests: for any input the JSON path reads, the YAML path
// reads the same.
func FuzzJSONManifests(f *testing.F) {
	for _, s := range []string{
		fmt.Sprintf(cm, `{"k":"v","n":"1"}`),
		"---\n" + fmt.Sprintf(cm, `{"q":"a\"b\\c\n\u003c"}`) + "\n---\n{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Secret\",\n  \"metadata\": {\"name\": \"s\"}\n}\n",
		`{"apiVersion":"v1","kind":"X","spec":{"i":3,"b":true,"z":null,"l":[1,[2],{"a":"é"}]}}`,
		fmt.Sprintf(cm, "{\"a\":\"~\x7f\u00a0\"}"),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		checkJSONSame(t, "fuzz.json", data)
	})
}

// TestHostileDeepJSONManifest: a JSON manifest nested deeper than the
// JSON path follows goes the YAML way, which reads what it can and
// refuses the rest with the file's name, not a crash.
func TestHostileDeepJSONManifest(t *testing.T) {
	deep := func(n int) []byte {
		return []byte(fmt.Sprintf(cm, `{"a":`+strings.Repeat("[", n)+strings.Repeat("]", n)+`}`))
	}
	if _, ok := jsonManifests(deep(600), Options{}.limits()); ok {
		t.Fatal("the JSON path followed 600 levels; it stops at 512")
	}
	if objs, err := Decode("deep.json", deep(600)); err != nil || len(objs) != 1 {
		t.Errorf("600 levels: %v, %d objects; want the YAML path to read it", err, len(objs))
	}
	_, err := Decode("deep.json", deep(100_000))
	if err == nil || !strings.Contains(err.Error(), "deep.json:1:") || !strings.Contains(err.Error(), "depth") {
		t.Errorf("100,000 levels: %v; want an error naming the file, its line and the depth", err)
	}
}
