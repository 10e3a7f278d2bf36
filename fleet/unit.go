package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"path"

	"github.com/tidegate/tidegate/flux"
	"github.com/tidegate/tidegate/render"
)

// render builds one unit: its source, its variables and keys, then its
// path. Whatever fails is the unit's error, not the run's.
func (e *expander) render(ctx context.Context, it pending, depth int) *Unit {
	k := it.k
	u := &Unit{
		Name:          k.Namespace + "/" + k.Name,
		Kustomization: k,
		Parent:        it.parent.Name,
		Path:          path.Clean(k.Path),
		Depth:         depth,
		Inventory:     UnitInventory(e.f.opts.Run.Inventory, k.Namespace, k.Name),
	}
	if k.Suspend {
		// A suspended unit is reported, not built: its source or
		// variables may be gone on purpose.
		return u
	}
	if len(k.DependsOn) == 0 {
		// It runs soon after the units are rendered (once its parent
		// applied the Kustomization objects): its first reads go on
		// while it and the others render. A unit with dependsOn reads
		// when they are done (they often wait for health), not on what
		// the cluster held before them.
		if cl, err := e.f.clients.forUnit(ctx, k); err == nil {
			e.f.prefetch(ctx, u, cl)
		}
	}
	src, err := e.source(ctx, k)
	if err != nil {
		u.Err = err
		return u
	}
	u.Root, u.Source, u.Revision = src.root, src.display, src.revision
	res, err := e.build(ctx, k, src, []string{u.Path})
	if err != nil {
		u.Err = err
		return u
	}
	u.Rendered = res
	return u
}

// renderRoot builds the run's paths again as the Kustomization that syncs
// them says (Flux bootstrap's flux-system rarely says more than its path,
// but may patch or substitute).
func (e *expander) renderRoot(ctx context.Context, root *Unit) error {
	run := e.f.opts.Run
	src := &fetched{root: run.Root, revision: run.Revision, ignore: ""}
	res, err := e.build(ctx, root.Kustomization, src, run.Paths)
	if err != nil {
		return fmt.Errorf("render: %w (nothing was applied or pruned)", err)
	}
	root.Rendered = res
	e.pool.add(res)
	return nil
}

// build renders paths of src as k says, with k's variables and keys.
func (e *expander) build(ctx context.Context, k *flux.Kustomization, src *fetched, paths []string) (*render.Result, error) {
	run := e.f.opts.Run
	unitCl, err := e.f.clients.forUnit(ctx, k)
	if err != nil {
		return nil, err
	}
	look := &lookup{pool: e.pool, cluster: unitCl, unit: k.Namespace + "/" + k.Name, log: e.f.log}
	vars, secret, err := flux.Vars(ctx, k, look)
	if err != nil {
		return nil, err
	}
	opts := run.Render
	keys, err := e.keys(ctx, k, unitCl)
	if err != nil {
		return nil, err
	}
	opts.Keys = keys
	opts.Flux = &render.Flux{Kustomization: k.Object, Vars: vars, SecretVars: secret}
	if src.ignore != "" {
		opts.Ignore = append(append([]string(nil), opts.Ignore...), src.ignore)
	}
	res, err := render.Render(ctx, src.root, paths, opts)
	if err != nil {
		return nil, fmt.Errorf("Kustomization %s/%s: render %s: %w", k.Namespace, k.Name, paths[0], err)
	}
	return res, nil
}

// keys are the run's SOPS keys and, for a unit with
// spec.decryption.secretRef, the keys of that Secret, read as the unit.
func (e *expander) keys(ctx context.Context, k *flux.Kustomization, cl *clusterClient) (render.Keys, error) {
	keys := e.f.opts.Run.Render.Keys
	if k.Decryption == nil || k.Decryption.SecretName == "" {
		return keys, nil
	}
	data, err := cl.secret(ctx, k.Namespace, k.Decryption.SecretName)
	if err != nil {
		return keys, fmt.Errorf("Kustomization %s/%s: spec.decryption.secretRef: %w", k.Namespace, k.Name, err)
	}
	age, pgp, err := flux.DecryptionKeys(data)
	if err != nil {
		return keys, fmt.Errorf("Kustomization %s/%s: spec.decryption.secretRef Secret %s/%s: %w", k.Namespace, k.Name, k.Namespace, k.Decryption.SecretName, err)
	}
	keys.Age = append(append([]string(nil), keys.Age...), age...)
	keys.PGP = append(append([][]byte(nil), keys.PGP...), pgp...)
	return keys, nil
}

// lookup reads substituteFrom objects: from the run's renders first (a
// ConfigMap another unit applies in this run), then from the cluster, as
// the unit.
type lookup struct {
	pool    *pool
	cluster *clusterClient
	unit    string
	log     *slog.Logger
}

func (l *lookup) Get(ctx context.Context, kind, ns, name string) (map[string]string, bool, error) {
	if d, ok := l.pool.get(kind, ns, name); ok {
		return d, true, nil
	}
	if l.cluster.dyn == nil {
		// Without a cluster an object Git does not hold is missing: an
		// optional reference is skipped, a required one fails.
		l.log.Warn("substituteFrom object is not in Git and this command does not read the cluster; taken as missing", "unit", l.unit, "object", kind+"/"+ns+"/"+name)
		return nil, false, nil
	}
	return l.cluster.data(ctx, kind, ns, name)
}
