package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/reconcile"
)

// BenchmarkPrune1000 is the prune scenario of hack/bench.sh in process:
// 1,000 ConfigMaps reconciled, then 10% changed and 10% removed from
// Git; only the second run is timed.
func BenchmarkPrune1000(b *testing.B) {
	ns := env.Namespace(b)
	dir := b.TempDir()
	write := func(version string, removed bool) {
		for f := 0; f < 10; f++ {
			var s strings.Builder
			for i := f * 100; i < (f+1)*100; i++ {
				if removed && i >= 900 {
					continue
				}
				v := "v1"
				if i < 100 {
					v = version
				}
				fmt.Fprintf(&s, "---\n{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"bench-%05d\",\"namespace\":%q},\"data\":{\"index\":\"%d\",\"version\":%q}}\n", i, ns, i, v)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d.yaml", f)), []byte(s.String()), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	o := reconcile.Options{
		Source:         "bench",
		Root:           dir,
		Paths:          []string{"."},
		Inventory:      inventory.Parent{Kind: "ConfigMap", Namespace: ns, Name: "inventory"},
		Prune:          true,
		AllowMassPrune: true,
		Drift:          reconcile.DriftRevert,
	}
	run := func() {
		r, err := reconcile.New(env.Config, o)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		b.StopTimer()
		write("v1", false)
		run()
		write("v2", true)
		b.StartTimer()
		run()
	}
}
