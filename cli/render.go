package cli

import (
	"bytes"
	"context"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/reconcile"
	"github.com/tidegate/tidegate/render"
	"github.com/tidegate/tidegate/source"
)

// RenderCmd prints what the repository renders to, with no cluster: the
// local dry-run for laptops and merge-request pipelines.
type RenderCmd struct {
	SourceFlags
	KeyFlags
	FluxFlags

	Tree bool `help:"Print the Flux units as a tree (like flux tree kustomization): each Kustomization with the objects it applies and the units it leads to." env:"TIDEGATE_TREE"`
}

// Run renders and prints a YAML stream (or, with --output json, a JSON
// list). Nothing reaches stdout unless the whole render succeeded.
func (c *RenderCmd) Run(ctx context.Context, g *Globals) error {
	keys, err := c.Keys(ctx, g)
	if err != nil {
		return err
	}
	co, err := c.Open(ctx)
	if err != nil {
		return err
	}
	defer co.Close()
	// No cluster: a unit that needs one (a source's credentials,
	// substituteFrom that Git does not hold) fails and says so.
	f, err := c.fleet(g, &c.SourceFlags, nil, reconcile.Options{
		Source: co.URL, Revision: co.Revision, Root: co.Dir, Paths: c.Path,
		Render: render.Options{Keys: keys, Logger: g.Logger(), Plaintext: g.plaintext(), Helm: g.helmCharts(c.CacheDir)},
		Logger: g.Logger(),
	})
	if err != nil {
		return err
	}
	plan, err := f.Plan(ctx)
	if err != nil {
		return err
	}
	defer closePlan(g, plan)
	if err := unitErrors(plan); err != nil {
		return err
	}
	g.summarize(Summary{Command: "render", Source: co.URL, Revision: co.Revision, Counts: map[string]int{"objects": countObjects(plan)}})
	switch {
	case c.Tree:
		return writeUnitTree(g.stdout(), plan)
	case !plan.Flux:
		return printObjects(g, plan.Units[0].Rendered, nil)
	}
	return printUnits(g, plan)
}

// printObjects prints a render as a YAML stream, or a JSON list, with
// every Secret and whatever came from a SOPS file masked unless
// --show-secrets. keep, when set, says which objects to print.
func printObjects(g *Globals, res *render.Result, keep func(*unstructured.Unstructured) bool) error {
	objs := maskedObjects(g, res, keep)
	if g.Output == "json" {
		return printJSON(g.stdout(), objs)
	}
	return writeYAMLStream(g.stdout(), objs, "")
}

func maskedObjects(g *Globals, res *render.Result, keep func(*unstructured.Unstructured) bool) []map[string]any {
	objs := make([]map[string]any, 0, len(res.Objects))
	for _, o := range res.Objects {
		if keep != nil && !keep(o) {
			continue
		}
		if !g.ShowSecrets {
			// By kind (every Secret) and by provenance (whatever came
			// from a SOPS file, a ConfigMap included).
			o = object.RedactSecret(o).DeepCopy()
			res.Mask(o, nil)
		}
		objs = append(objs, o.Object)
	}
	return objs
}

// writeYAMLStream writes objects as one YAML stream, after a comment
// header when one is given.
func writeYAMLStream(w io.Writer, objs []map[string]any, header string) error {
	var buf bytes.Buffer
	buf.WriteString(header)
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := yaml.Marshal(o)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// renderSource opens the source and renders its paths with the given
// keys. The caller closes the checkout, which is nil on error.
func renderSource(ctx context.Context, g *Globals, src *SourceFlags, kf *KeyFlags) (*source.Checkout, *render.Result, error) {
	keys, err := kf.Keys(ctx, g)
	if err != nil {
		return nil, nil, err
	}
	co, err := src.Open(ctx)
	if err != nil {
		return nil, nil, err
	}
	res, err := render.Render(ctx, co.Dir, src.Path, render.Options{Keys: keys, Logger: g.Logger(), Plaintext: g.plaintext(), Helm: g.helmCharts("")})
	if err != nil {
		co.Close()
		return nil, nil, err
	}
	return co, res, nil
}
