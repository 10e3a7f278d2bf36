package cli

import (
	"bytes"
	"context"

	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/render"
	"github.com/tidegate/tidegate/source"
)

// RenderCmd prints what the repository renders to, with no cluster: the
// local dry-run for laptops and merge-request pipelines.
type RenderCmd struct {
	SourceFlags
	KeyFlags
}

// Run renders and prints a YAML stream (or, with --output json, a JSON
// list). Nothing reaches stdout unless the whole render succeeded.
func (c *RenderCmd) Run(ctx context.Context, g *Globals) error {
	co, res, err := renderSource(ctx, g, &c.SourceFlags, &c.KeyFlags)
	if err != nil {
		return err
	}
	defer co.Close()
	objs := make([]map[string]any, 0, len(res.Objects))
	for _, o := range res.Objects {
		if !g.ShowSecrets {
			// By kind (every Secret) and by provenance (whatever came
			// from a SOPS file, a ConfigMap included).
			o = object.RedactSecret(o).DeepCopy()
			res.Mask(o, nil)
		}
		objs = append(objs, o.Object)
	}
	g.summarize(Summary{Command: "render", Source: co.URL, Revision: co.Revision, Counts: map[string]int{"objects": len(objs)}})
	if g.Output == "json" {
		return printJSON(g.stdout(), objs)
	}
	var buf bytes.Buffer
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
	_, err = g.stdout().Write(buf.Bytes())
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
	res, err := render.Render(ctx, co.Dir, src.Path, render.Options{Keys: keys, Logger: g.Logger(), Plaintext: g.plaintext()})
	if err != nil {
		co.Close()
		return nil, nil, err
	}
	return co, res, nil
}
