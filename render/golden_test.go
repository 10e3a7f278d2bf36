package render_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/render"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestFleetGoldens renders the example repository's layouts and compares
// them with the reviewed output under testdata/.
func TestFleetGoldens(t *testing.T) {
	root := filepath.Join("..", "testdata", "fleet")
	for _, tc := range []struct {
		name  string
		paths []string
	}{
		{"staging", []string{"apps/staging"}},
		{"production", []string{"apps/production"}},
		{"demo-cluster", []string{"infrastructure", "clusters/demo", "apps/demo"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := render.Render(context.Background(), root, tc.paths, render.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			for _, o := range res.Objects {
				b, err := yaml.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&buf, "# from %s\n%s---\n", res.Origins[object.FromUnstructured(o)], b)
			}
			golden := filepath.Join("testdata", tc.name+".golden.yaml")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./render -run TestFleetGoldens -update)", err)
			}
			if !bytes.Equal(want, buf.Bytes()) {
				t.Errorf("render of %v differs from %s (run with -update after reviewing):\n%s", tc.paths, golden, firstDiff(string(want), buf.String()))
			}
		})
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  golden: %s\n  got:    %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("golden has %d lines, got %d", len(al), len(bl))
}

// BenchmarkRender1000 renders 1,000 objects spread over 50 kustomizations
// that share a base, the shape of a mid-sized fleet.
func BenchmarkRender1000(b *testing.B) {
	root := b.TempDir()
	var paths []string
	for k := 0; k < 50; k++ {
		dir := filepath.Join(root, "apps", fmt.Sprintf("app%02d", k))
		os.MkdirAll(dir, 0o755)
		var res []string
		for i := 0; i < 20; i++ {
			name := fmt.Sprintf("cm-%02d-%02d.yaml", k, i)
			res = append(res, "  - "+name)
			os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%02d-%02d\ndata:\n  key: value-%d\n", k, i, i)), 0o644)
		}
		os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(fmt.Sprintf("namespace: ns%02d\nlabels:\n- pairs:\n    app: app%02d\nresources:\n%s\n", k, k, strings.Join(res, "\n"))), 0o644)
		paths = append(paths, fmt.Sprintf("apps/app%02d", k))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := render.Render(context.Background(), root, paths, render.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Objects) != 1000 {
			b.Fatalf("%d objects", len(res.Objects))
		}
	}
}

// benchPlain renders a plain directory of 900 documents, nine files of
// 100, the shape of a generated repository (hack/bench's).
func benchPlain(b *testing.B, doc func(i int) string) {
	dir := b.TempDir()
	for f := 0; f < 9; f++ {
		var s strings.Builder
		for i := f * 100; i < (f+1)*100; i++ {
			s.WriteString("---\n" + doc(i))
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d.yaml", f)), []byte(s.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		res, err := render.Render(context.Background(), dir, []string{"."}, render.Options{})
		if err != nil || len(res.Objects) != 900 {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlainJSON900 is JSON documents, as hack/bench writes them.
func BenchmarkPlainJSON900(b *testing.B) {
	benchPlain(b, func(i int) string {
		return fmt.Sprintf("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"bench-%05d\",\"namespace\":\"x\"},\"data\":{\"index\":\"%d\",\"version\":\"v1\"}}\n", i, i)
	})
}

// BenchmarkPlainYAML900 is block-style Deployments.
func BenchmarkPlainYAML900(b *testing.B) {
	benchPlain(b, func(i int) string {
		return fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-%05d\n  namespace: x\n  labels:\n    app: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        ports:\n        - containerPort: 80\n        env:\n        - name: A\n          value: \"1\"\n", i)
	})
}
