package cli

import (
	"github.com/tidegate/tidegate/charts"
	"github.com/tidegate/tidegate/inflate"
	"github.com/tidegate/tidegate/render"
)

// helmCharts is what inflates kustomizations' helmCharts for every
// command that renders: charts fetched with the project's bounds, one
// fetch per chart in the run, kept between runs in cacheDir (--cache-dir)
// unless it is "".
func (g *Globals) helmCharts(cacheDir string) render.HelmInflater {
	return inflate.New(charts.New(charts.Options{Logger: g.Logger(), CacheDir: cacheDir}), g.Logger())
}
