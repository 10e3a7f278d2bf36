package reconcile

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/dynamic"

	"github.com/tidegate/tidegate/apply"
	"github.com/tidegate/tidegate/inventory"
)

// Prefetch is the first reads of a run, started before the run needs
// them: its inventory, and the live objects the inventory lists (see
// apply.Preload). A run reads them while its repository renders; a Flux
// run reads each unit's while the other units render. Only reads: a
// run that never starts, or fails to render, has written nothing.
type Prefetch struct {
	parent  inventory.Parent
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{}
	prev    *inventory.Inventory
	err     error
	pre     *apply.Preload
}

// prefetchMaxAge is how old a prefetch may be when its run plans: past
// it the run reads again, so that a unit that waited long for its
// dependencies does not plan on what the cluster held minutes ago.
const prefetchMaxAge = 10 * time.Second

// StartPrefetch starts reading, under ctx, what a run of parent will read
// first, with the clients the run will use. Stop it (or give it to the
// run, which does) so that nothing reads on after the caller is done.
func StartPrefetch(ctx context.Context, dyn dynamic.Interface, mapper meta.ResettableRESTMapper, parent inventory.Parent, concurrency int) *Prefetch {
	m := apply.New(dyn, mapper, apply.Options{Concurrency: concurrency})
	return startPrefetch(ctx, inventory.NewStore(dyn, parent, ""), m, parent)
}

func startPrefetch(ctx context.Context, store *inventory.Store, m *apply.Manager, parent inventory.Parent) *Prefetch {
	ctx, cancel := context.WithCancel(ctx)
	p := &Prefetch{parent: parent, started: time.Now(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.prev, p.err = store.Load(ctx)
		if p.err == nil {
			p.pre = m.Preload(ctx, parent.ID(), p.prev.Members)
		}
	}()
	return p
}

// Stop cancels what is still being read and waits for it. A nil
// Prefetch is stopped.
func (p *Prefetch) Stop() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
	p.pre.Wait()
}

// Inventory waits for the inventory read and returns what Store.Load
// returned, for a caller that needs the previous members before the run
// (a unit's HelmReleases render as upgrades when theirs are there).
func (p *Prefetch) Inventory() (*inventory.Inventory, error) {
	prev, _, err := p.result()
	return prev, err
}

// result waits for the inventory read. The preload's LISTs go on: Plan
// takes them.
func (p *Prefetch) result() (*inventory.Inventory, *apply.Preload, error) {
	<-p.done
	return p.prev, p.pre, p.err
}

// usable reports whether a run of parent may plan on p.
func (p *Prefetch) usable(parent inventory.Parent) bool {
	return p != nil && p.parent == parent && time.Since(p.started) < prefetchMaxAge
}
