package render

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// slowObject is what decode read before the fast path, and still reads
// where the fast path declines.
func slowObject(text []byte) (map[string]any, error) {
	j, err := yaml.YAMLToJSON(text)
	if err != nil {
		return nil, err
	}
	return jsonObject(j)
}

// checkSame asserts that every document of data the fast path reads is
// read exactly as the slow path reads it, and returns how many it read.
func checkSame(t testing.TB, name string, data []byte) int {
	docs, roots, err := documents(name, data, Options{}.limits())
	if err != nil {
		return 0
	}
	fast := 0
	for i, d := range docs {
		got, ok := fastObject(d, roots[i])
		if !ok {
			continue
		}
		fast++
		want, err := slowObject(d.text)
		if err != nil {
			t.Errorf("%s:%d: the fast path read a document the slow path refuses (%v):\n%s", name, d.line, err, d.text)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:%d: the fast path read\n%#v\nthe slow path\n%#v\nfrom:\n%s", name, d.line, got, want, d.text)
		}
	}
	return fast
}

// TestNodeValueMatches: on every YAML file of the repository's testdata
// and on documents made to sit on the edges between YAML 1.1 and 1.2,
// the fast path gives what the slow path gives, or declines.
func TestNodeValueMatches(t *testing.T) {
	edges := []string{
		"a: yes\nb: no\nc: on\nd: off\ne: y\nf: N\ng: true\nh: False\ni: ~\nj: null\nk:\nl: NULL\n",
		"a: 0755\nb: 1_000\nc: 0x1F\nd: 1.5\ne: 1e3\nf: .inf\ng: -.inf\nh: .nan\ni: +1\nj: -1\nk: 0\nl: -0\nm: 12345678901234567890\n",
		"a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: 1:20\nd: 12:30:45\n",
		"a: 'yes'\nb: \"on\"\nc: |\n  line\n  two\nd: >\n  folded\n  text\ne: \"esc\\ttab\\u00e9\"\n",
		"a: !!str 123\nb: !!int \"7\"\nc: !custom x\n",
		"base: &b {x: 1}\nother: *b\n",
		"<<: {x: 1}\ny: 2\n",
		"1: one\n2: two\ntrue: t\nnull: n\n",
		"a: /path\nb: _x\nc: $VAR\nd: '@at'\ne: \"\"\nf: ''\n",
		"list:\n- 1\n- two\n- yes\n- - nested\n- {k: v}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  multi: plain\n    folded over\n    lines\n",
		"---\na: 1\n...\nb: 2\n",
		"--- {a: 1}\n",
		"a: 1\n--- # comment\nb: 2\n---\n~\n---\n\n---\nc: 3\n",
		"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{\"n\":\"1\",\"b\":true,\"x\":null,\"i\":3,\"f\":2.5}}\n",
		"a: 9223372036854775807\nb: -9223372036854775808\nc: 9223372036854775808\n",
		"key with spaces: value with spaces\n\"quoted key\": 1\n",
		"a: NaN\nb: Inf\nc: Yes please\nd: o\ne: On1\n",
	}
	for i, e := range edges {
		checkSame(t, "edge"+string(rune('a'+i))+".yaml", []byte(e))
	}
	fast := 0
	// Every testdata directory of the module.
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(filepath.ToSlash(p), "/testdata/") || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fast += checkSame(t, p, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The comparison proves something only if the fast path ran.
	if fast < 50 {
		t.Fatalf("the fast path read only %d documents of testdata; the comparison proves little", fast)
	}
}

// FuzzNodeValue: for any input, the fast path agrees with the slow one.
func FuzzNodeValue(f *testing.F) {
	for _, s := range []string{"a: 1\n", "a: yes\nb: [1, two]\n", "{\"k\": \"v\"}\n", "a: 0755\n", "---\na: b\n---\nc: d\n", "a: |\n  x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		checkSame(t, "fuzz.yaml", data)
	})
}
