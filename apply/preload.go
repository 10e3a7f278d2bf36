package apply

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tidegate/tidegate/internal/resource"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
)

// Preload is a set of LISTs started before the objects to plan are
// known: the kinds and namespaces of the previous inventory, read while
// the repository renders, so that a run pays for the render or for the
// read, not for both one after the other. Plan uses a preloaded LIST
// only where it is exactly the LIST it would send (same resource,
// version, namespace and label selector), and sends its own otherwise,
// so a preload changes how soon a plan is ready, never what it says.
type Preload struct {
	selector string
	// wg is done when every LIST is: lists is written by the preload's
	// goroutine only, and read only after wg.
	wg    sync.WaitGroup
	mu    sync.Mutex // guards lists for take: Plan reads it from several goroutines
	lists map[listKey]*preloaded
}

type preloaded struct {
	items []unstructured.Unstructured
	err   error
}

// Preload starts LISTs, in the background and under ctx, of the objects
// that carry the part-of label of inventory id, for each kind and
// namespace that holds enough of members for Plan to LIST it. It returns
// at once; a nil members starts nothing.
func (m *Manager) Preload(ctx context.Context, id string, members []object.ID) *Preload {
	p := &Preload{selector: inventory.PartOfLabel + "=" + id, lists: map[listKey]*preloaded{}}
	type gkns struct {
		gk schema.GroupKind
		ns string
	}
	counts := map[gkns]int{}
	for _, mb := range members {
		counts[gkns{mb.GroupKind(), mb.Namespace}]++
	}
	var todo []gkns
	for k, n := range counts {
		if n >= bulkThreshold {
			todo = append(todo, k)
		}
	}
	if len(todo) == 0 {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var g errgroup.Group
		g.SetLimit(m.opts.Concurrency)
		for _, k := range todo {
			// The mapping may discover the cluster's kinds: that too
			// happens while the render runs.
			c, mapping, err := resource.Client(ctx, m.dyn, m.mapper, k.gk, k.ns)
			if err != nil {
				continue // Plan looks the kind up again and says why
			}
			key := listKeyOf(mapping, k.ns)
			if p.lists[key] != nil {
				continue
			}
			pl := &preloaded{}
			p.lists[key] = pl
			g.Go(func() error {
				// Held until the plan takes it: as small as the plan
				// would make it.
				pl.items, pl.err = listCompact(ctx, c, metav1.ListOptions{LabelSelector: p.selector}, nil)
				return nil
			})
		}
		_ = g.Wait() // always nil: each LIST keeps its own error
	}()
	return p
}

// Wait waits for every LIST the preload started; a caller that stops
// before planning waits so that nothing runs on after it.
func (p *Preload) Wait() {
	if p != nil {
		p.wg.Wait()
	}
}

// take returns the preloaded LIST for k with selector, once the preload
// is done (its LISTs run at once, so waiting for all costs about what
// waiting for one does); false when there is none or it failed: Plan
// then lists itself and reports its own error. Each LIST is taken once,
// since Plan keeps and edits what it is given.
func (p *Preload) take(k listKey, selector string) ([]unstructured.Unstructured, bool) {
	if p == nil || selector != p.selector {
		return nil, false
	}
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	pl := p.lists[k]
	if pl == nil || pl.err != nil {
		return nil, false
	}
	delete(p.lists, k)
	return pl.items, true
}
