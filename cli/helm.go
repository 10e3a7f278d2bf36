package cli

import (
	"github.com/tidegate/tidegate/charts"
	"github.com/tidegate/tidegate/inflate"
	"github.com/tidegate/tidegate/render"
)

// helmCharts is what inflates kustomizations' helmCharts for every
// command that renders: charts fetched with the project's bounds, one
// fetch per chart in the run.
func (g *Globals) helmCharts() render.HelmInflater {
	return inflate.New(charts.New(charts.Options{Logger: g.Logger()}), g.Logger())
}
