package prune

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/tidegate/tidegate/internal/resource"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
)

// ErrMassPrune is wrapped by the refusal of a prune that would delete
// everything or too much at once.
var ErrMassPrune = errors.New("refusing a mass prune")

// The mass-prune guard: inventories smaller than minGuardedInventorySize
// may always shrink (except to nothing), larger ones by defaultMaxShare.
const (
	minGuardedInventorySize = 5
	defaultMaxShare         = 0.5
)

// Options configures a Pruner.
type Options struct {
	// MaxShare is the largest share (0–1) of the previous inventory one
	// run may delete; default 0.5. Inventories smaller than 5 objects may
	// always shrink, except to nothing.
	MaxShare float64
	// AllowMassPrune lifts the share and empty-render guards.
	AllowMassPrune bool
	// DryRun sends deletes as server-side dry-runs.
	DryRun bool
	// Concurrency bounds the deletes in flight; default 16.
	Concurrency int
	// Known returns a live object this run has just read (apply's plan).
	// A known object is checked as read and deleted only if its
	// resourceVersion is still the same, which saves a GET per delete;
	// if it changed meanwhile it is read again and checked again.
	Known func(object.ID) (*unstructured.Unstructured, bool)
	// AllowNamespaces, when set, limits deletes to these namespaces, as
	// --allow-namespace limits the apply; cluster-scoped objects then
	// need AllowClusterScoped. A stale member outside is not deleted:
	// it is returned in Result.Kept, to stay in the inventory.
	AllowNamespaces    []string
	AllowClusterScoped bool
	Logger             *slog.Logger
}

// Skip is an object a prune left in place, and why.
type Skip struct {
	ID     object.ID
	Reason string
}

// Result is what a prune did.
type Result struct {
	Deleted []object.ID
	Skipped []Skip
	// Remaining are objects whose delete failed; keep them in the
	// inventory so that the next run retries.
	Remaining []object.ID
	// Kept are stale objects outside the namespaces this run may touch:
	// not deleted, not even read, and to be kept in the inventory so
	// that a run allowed there can prune them.
	Kept []Skip
}

// Changes returns the result as a change set: the deleted objects, the
// skipped and kept ones as skipped, and the failed deletes as failed.
func (r *Result) Changes() []object.Change {
	var out []object.Change
	for _, id := range r.Deleted {
		out = append(out, object.Change{ID: id, Action: object.Deleted})
	}
	for _, s := range r.Skipped {
		out = append(out, object.Change{ID: s.ID, Action: object.Skipped, Reason: s.Reason})
	}
	for _, id := range r.Remaining {
		out = append(out, object.Change{ID: id, Action: object.Failed, Reason: "delete failed; kept in the inventory, the next run retries it"})
	}
	for _, s := range r.Kept {
		out = append(out, object.Change{ID: s.ID, Action: object.Skipped, Reason: s.Reason})
	}
	return out
}

// Pruner deletes stale members of one ApplySet.
type Pruner struct {
	dyn    dynamic.Interface
	mapper meta.RESTMapper
	id     string
	opts   Options
}

// NewPruner returns a Pruner for the ApplySet id.
func NewPruner(dyn dynamic.Interface, mapper meta.RESTMapper, id string, opts Options) *Pruner {
	if opts.MaxShare <= 0 {
		opts.MaxShare = defaultMaxShare
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Pruner{dyn: dyn, mapper: mapper, id: id, opts: opts}
}

// Guard refuses mass deletions before anything is deleted.
func (p *Pruner) Guard(stale int, previousSize, desiredSize int) error {
	if p.opts.AllowMassPrune || stale == 0 {
		return nil
	}
	if desiredSize == 0 {
		return fmt.Errorf("%w: the render is empty and would delete all %d objects of the inventory; if that is what you want, pass --allow-mass-prune", ErrMassPrune, previousSize)
	}
	if previousSize >= minGuardedInventorySize && float64(stale) > p.opts.MaxShare*float64(previousSize) {
		return fmt.Errorf("%w: %d of %d objects (more than %.0f%%) would be deleted; a renamed path or a wrong --path does this. Check with tidegate diff; to go ahead pass --allow-mass-prune or raise --max-prune-share", ErrMassPrune, stale, previousSize, p.opts.MaxShare*100)
	}
	return nil
}

// Prune deletes the stale objects that may be deleted. previousSize is
// the size of the previous inventory and desiredSize the number of
// objects rendered now.
func (p *Pruner) Prune(ctx context.Context, stale []object.ID, previousSize, desiredSize int) (*Result, error) {
	res := &Result{}
	stale, res.Kept = p.outside(stale)
	if err := p.Guard(len(stale), previousSize, desiredSize); err != nil {
		return res, err
	}
	var mu sync.Mutex
	var errs []error
	for _, batch := range deleteOrder(stale) {
		// No errgroup context: a failed delete cancels none of the
		// others, and every error is joined into the result.
		var g errgroup.Group
		g.SetLimit(p.opts.Concurrency)
		for _, id := range batch {
			g.Go(func() error {
				deleted, reason, err := p.deleteOne(ctx, id)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					res.Remaining = append(res.Remaining, id)
					errs = append(errs, fmt.Errorf("%s: %w", id, err))
				case deleted:
					res.Deleted = append(res.Deleted, id)
				default:
					res.Skipped = append(res.Skipped, Skip{ID: id, Reason: reason})
				}
				return nil
			})
		}
		_ = g.Wait() // always nil: the errors are in errs
	}
	object.Sort(res.Deleted)
	object.Sort(res.Remaining)
	sort.Slice(res.Skipped, func(i, j int) bool { return object.Less(res.Skipped[i].ID, res.Skipped[j].ID) })
	return res, errors.Join(errs...)
}

// outside splits off the stale objects the namespace limits keep.
func (p *Pruner) outside(stale []object.ID) (inside []object.ID, kept []Skip) {
	if len(p.opts.AllowNamespaces) == 0 {
		return stale, nil
	}
	allowed := strings.Join(p.opts.AllowNamespaces, ", ")
	for _, id := range stale {
		switch {
		case id.Namespace == "" && !p.opts.AllowClusterScoped:
			kept = append(kept, Skip{ID: id, Reason: "not deleted: cluster-scoped, and this run is limited to namespaces " + allowed + " (--allow-cluster-scoped permits it); kept in the inventory"})
		case id.Namespace != "" && !slices.Contains(p.opts.AllowNamespaces, id.Namespace):
			kept = append(kept, Skip{ID: id, Reason: fmt.Sprintf("not deleted: namespace %q is outside the allowed namespaces %s; kept in the inventory", id.Namespace, allowed)})
		default:
			inside = append(inside, id)
		}
	}
	return inside, kept
}

// deleteOne deletes id if every rule allows it.
func (p *Pruner) deleteOne(ctx context.Context, id object.ID) (deleted bool, reason string, err error) {
	c, _, err := resource.Client(ctx, p.dyn, p.mapper, id.GroupKind(), id.Namespace)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return false, "", fmt.Errorf("the cluster no longer knows the kind %s (its CRD was removed?); delete the object by hand if it still exists", id.Kind)
		}
		return false, "", err
	}
	var live *unstructured.Unstructured
	known := false
	if p.opts.Known != nil {
		live, known = p.opts.Known(id)
	}
	if !known {
		if live, err = c.Get(ctx, id.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return false, "already gone", nil
		} else if err != nil {
			return false, "", err
		}
	}
	// A conflict means the object changed since it was read; a few
	// rounds settle it unless something rewrites it constantly.
	for attempt := 0; ; attempt++ {
		if got := live.GetLabels()[inventory.PartOfLabel]; got != p.id {
			return false, "not deleted: it does not carry this inventory's " + inventory.PartOfLabel + " label (someone else owns it now)", nil
		}
		if why := optOut(live.GetAnnotations()); why != "" {
			return false, "not deleted: " + why, nil
		}
		if live.GetDeletionTimestamp() != nil {
			return false, "already being deleted", nil
		}
		// The preconditions make the checks above hold at the moment of
		// the delete: the same object (UID), unchanged since it was read
		// (resourceVersion).
		uid, rv := live.GetUID(), live.GetResourceVersion()
		bg := metav1.DeletePropagationBackground
		opts := metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}}
		if p.opts.DryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		err = c.Delete(ctx, id.Name, opts)
		switch {
		case apierrors.IsNotFound(err):
			return false, "already gone", nil
		case apierrors.IsConflict(err) && attempt < 3:
			// Changed since it was read: read it again and decide again.
			if live, err = c.Get(ctx, id.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				return false, "already gone", nil
			} else if err != nil {
				return false, "", err
			}
			continue
		case err != nil:
			return false, "", err
		}
		p.opts.Logger.Debug("deleted", "object", id.String(), "dryRun", p.opts.DryRun)
		return true, "", nil
	}
}

// optOut says why annotations keep an object, "" when they do not.
func optOut(ann map[string]string) string {
	switch {
	case ann["tidegate.dev/prune"] == "disabled":
		return "annotated tidegate.dev/prune: disabled"
	case ann["kustomize.toolkit.fluxcd.io/prune"] == "disabled":
		return "annotated kustomize.toolkit.fluxcd.io/prune: disabled"
	case strings.Contains(ann["argocd.argoproj.io/sync-options"], "Prune=false"):
		return "annotated argocd.argoproj.io/sync-options: Prune=false"
	case ann["cli-utils.sigs.k8s.io/on-remove"] == "keep":
		return "annotated cli-utils.sigs.k8s.io/on-remove: keep"
	}
	return ""
}

// deleteOrder groups ids into batches deleted one after the other: the
// apply stages in exact reverse (object.Stage), so custom resources go
// before their definitions and a Namespace's members before it.
func deleteOrder(ids []object.ID) [][]object.ID {
	batches := make([][]object.ID, object.LastStage+1)
	for _, id := range ids {
		r := object.LastStage - object.Stage(id)
		batches[r] = append(batches[r], id)
	}
	return batches
}
