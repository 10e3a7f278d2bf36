package render_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/render"
)

const fluxRoot = "testdata/flux"

// fluxObject reads the Flux Kustomization named name from a file of the
// Flux layout testdata.
func fluxObject(t *testing.T, file, name string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fluxRoot, file))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Decode(file, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "Kustomization" && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("%s has no Kustomization %s", file, name)
	return nil
}

// checkout snapshots every file below root (path → content), to prove
// a render wrote nothing.
func checkout(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err // links are checked through what they lead to
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFluxLayoutGoldens renders a Flux fleet layout (a cluster
// directory without a kustomization, holding the flux-system
// kustomization, Kustomization objects, a sub-directory of plain
// manifests, ignored files) plainly and as Flux builds it, and an app
// with every build field and postBuild; the checkout stays untouched.
func TestFluxLayoutGoldens(t *testing.T) {
	before := checkout(t, fluxRoot)
	for _, tc := range []struct {
		name  string
		path  string
		flux  func(t *testing.T) *render.Flux
		files []string // Origin.File of every object, in order
	}{
		{"flux-cluster-plain", "clusters/production", nil, []string{
			"clusters/production/apps.yaml",
			"clusters/production/extra/namespace.yaml",
			"clusters/production/flux-system/gotk-components.yaml",
			"clusters/production/flux-system/gotk-sync.yaml",
			"clusters/production/flux-system/gotk-sync.yaml",
			"clusters/production/infrastructure.yaml",
		}},
		{"flux-cluster", "clusters/production", func(t *testing.T) *render.Flux {
			return &render.Flux{Kustomization: fluxObject(t, "clusters/production/flux-system/gotk-sync.yaml", "flux-system")}
		}, []string{
			"clusters/production/apps.yaml",
			"clusters/production/extra/namespace.yaml",
			"clusters/production/flux-system/gotk-components.yaml",
			"clusters/production/flux-system/gotk-sync.yaml",
			"clusters/production/flux-system/gotk-sync.yaml",
			"clusters/production/infrastructure.yaml",
		}},
		{"flux-apps", "apps/production", func(t *testing.T) *render.Flux {
			return &render.Flux{
				Kustomization: fluxObject(t, "clusters/production/apps.yaml", "apps"),
				// substituteFrom, resolved by the caller: the object's
				// own substitute wins over CLUSTER_NAME.
				Vars: map[string]string{"CLUSTER_NAME": "from-configmap", "TIER": "gold\n"},
			}
		}, []string{
			"apps/base/deploy.yaml",
			"apps/base/settings.yaml",
			"apps/base/settings.yaml",
			"components/monitoring/monitor.yaml",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts render.Options
			if tc.flux != nil {
				opts.Flux = tc.flux(t)
			}
			res, err := render.Render(context.Background(), fluxRoot, []string{tc.path}, opts)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			var files []string
			for _, o := range res.Objects {
				b, err := yaml.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				origin := res.Origins[object.FromUnstructured(o)]
				files = append(files, origin.File)
				fmt.Fprintf(&buf, "# from %s (file %s)\n%s---\n", origin, origin.File, b)
				if strings.Contains(string(b), "config.kubernetes.io/origin") {
					t.Errorf("%s keeps kustomize's origin annotation; render adds it to learn the file and must strip it", object.FromUnstructured(o))
				}
			}
			if got, want := strings.Join(files, "\n"), strings.Join(tc.files, "\n"); got != want {
				t.Errorf("Origin.File of the objects:\n%s\nwant:\n%s", got, want)
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
				t.Fatalf("%v (run go test ./render -run TestFluxLayoutGoldens -update)", err)
			}
			if !bytes.Equal(want, buf.Bytes()) {
				t.Errorf("render of %s differs from %s (run with -update after reviewing):\n%s", tc.path, golden, firstDiff(string(want), buf.String()))
			}
		})
	}
	if after := checkout(t, fluxRoot); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the render changed the checkout (Flux's generated kustomization must stay in memory)")
	}
}
