package fleet_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/fleet"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/reconcile"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestFleetRenderGolden renders testdata/flux-fleet without a cluster, as
// tidegate render does: every unit, in the order it runs, with what it
// applies (Flux's own objects left out). Run with -update to rewrite.
func TestFleetRenderGolden(t *testing.T) {
	f, err := fleet.New(nil, fleet.Options{Run: reconcile.Options{
		Source:    "ssh://git@example.com/fleet/fleet-infra",
		Root:      "../testdata/flux-fleet",
		Paths:     []string{"clusters/production"},
		Inventory: inventory.Parent{Kind: "ConfigMap", Namespace: "default", Name: "tidegate"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := f.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	var b strings.Builder
	for _, u := range plan.Units {
		if u.Err != nil {
			t.Fatalf("unit %s: %v", u.Name, u.Err)
		}
		fmt.Fprintf(&b, "# unit %s (%s) inventory %s\n", u.Name, u.Path, u.Inventory)
		for _, o := range u.Rendered.Objects {
			if fleet.IsFluxConfig(o) {
				fmt.Fprintf(&b, "# read, not applied: %s %s/%s\n", o.GetKind(), o.GetNamespace(), o.GetName())
				continue
			}
			y, err := yaml.Marshal(o.Object)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString("---\n")
			b.Write(y)
		}
	}
	const golden = "testdata/flux-fleet.golden.yaml"
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestFleetRenderGolden -update ./fleet/)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("render of testdata/flux-fleet changed; if that is intended, run go test -run TestFleetRenderGolden -update ./fleet/\ngot:\n%s", got)
	}
}
