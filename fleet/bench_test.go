package fleet_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/tidegate/tidegate/fleet"
)

// BenchmarkFleetNoOp is a no-op run of 20 independent units of 50
// ConfigMaps each, after a first run created them (hack/bench.sh compares
// the whole binary with the raw client-go floor).
func BenchmarkFleetNoOp(b *testing.B) {
	ns := env.Namespace(b)
	dir := b.TempDir()
	r := &repo{dir: dir}
	var ks strings.Builder
	for u := 0; u < 20; u++ {
		ks.WriteString(kustomization(ns, fmt.Sprintf("unit-%02d", u), fmt.Sprintf("./units/%02d", u), "") + "---\n")
		var objs strings.Builder
		for i := 0; i < 50; i++ {
			objs.WriteString(configMap(ns, fmt.Sprintf("cm-%02d-%02d", u, i), "1") + "---\n")
		}
		r.writeB(b, fmt.Sprintf("units/%02d/cms.yaml", u), objs.String())
	}
	r.writeB(b, "clusters/test/units.yaml", ks.String())
	o := options(r, ns)
	if testing.Verbose() {
		o.Run.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	f, err := fleet.New(env.Config, o)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		f, err := fleet.New(env.Config, o)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := f.Run(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if rep.Changed() {
			b.Fatal("a no-op run changed objects")
		}
	}
}
