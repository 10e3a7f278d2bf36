package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/tidegate/tidegate/apply"
	"github.com/tidegate/tidegate/internal/resource"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
)

// Release is a Helm release rendered into the run (package fleet renders
// a unit's HelmReleases): its objects are among the run's objects, and so
// are its hook objects, which the run sets aside from the apply and runs
// around it as Helm does on install and upgrade.
//
// The rules, after Helm's action package:
//
//   - the hooks run only when the release installs or changes: some of
//     its objects are created or configured from Git (not drift), or what
//     it renders (objects and hooks) differs from what it rendered when
//     its hooks last ran to the end (recorded on the inventory, see
//     inventory.HooksAnnotation). A run that changes nothing runs none;
//   - install (no object of the release in the previous inventory) runs
//     pre-install and post-install hooks, else pre-upgrade and
//     post-upgrade ones;
//   - pre hooks run before anything of the run is written (inventory
//     included); one that fails or times out fails the run, and nothing
//     else is applied or pruned. Post hooks run after the apply, the
//     prune and the wait;
//   - one event's hooks run one at a time, by weight, then name: each is
//     applied and waited for (a Job until Complete, a Pod until
//     Succeeded, anything else until kstatus says Current), up to the
//     run's Timeout;
//   - delete policies: before-hook-creation (the default when none is
//     given) deletes the previous hook object first; hook-succeeded
//     deletes it once every hook of the event succeeded; hook-failed
//     deletes the hook that failed. A hook object left from an earlier
//     run is deleted before the hook runs again also without
//     before-hook-creation (Helm would fail on it instead);
//   - hooks are not members of the inventory (Helm does not track them
//     as release resources): a hook object left in the cluster stays when
//     the release is removed. They carry the inventory's part-of label,
//     and tidegate writes or deletes a hook object only when it does not
//     exist or carries that label: an object of the same name that
//     tidegate did not create refuses the run before any write.
//
// Diff and DryRun run no hook; the report lists those that would run.
type Release struct {
	// Name is the HelmRelease, namespace/name.
	Name string
	// Objects are the release's objects (CRDs and templates), hooks not.
	Objects []object.ID
	// Hooks in the order the chart renders them (Helm's install order).
	Hooks []Hook
}

// Hook is one hook object of a Release, its annotations parsed.
type Hook struct {
	ID object.ID
	// Events: "pre-install", "post-upgrade", …
	Events []string
	// Weight orders one event's hooks, lowest first.
	Weight int
	// DeletePolicies as the chart gives them; empty is Helm's default,
	// before-hook-creation.
	DeletePolicies []string
}

func (h Hook) has(event string) bool { return slices.Contains(h.Events, event) }

func (h Hook) policy(p string) bool {
	if len(h.DeletePolicies) == 0 {
		return p == "before-hook-creation"
	}
	return slices.Contains(h.DeletePolicies, p)
}

// HookResult says how one hook ended.
type HookResult string

// The results a hook can have. Their names are part of the JSON output.
const (
	HookSucceeded HookResult = "succeeded"
	HookFailed    HookResult = "failed"
	// HookWouldRun: a diff or dry-run, which runs no hook.
	HookWouldRun HookResult = "would run"
)

// HookRun is one hook's line in the report.
type HookRun struct {
	// Release is the HelmRelease, namespace/name.
	Release string `json:"release"`
	// Event is the hook event that ran it: "pre-install", "post-upgrade", …
	Event  string     `json:"event"`
	Object string     `json:"object"`
	Result HookResult `json:"result"`
	// Deleted is set when its delete policy deleted it after it ran.
	Deleted bool   `json:"deleted,omitempty"`
	Message string `json:"message,omitempty"`
	// Unit is the Flux Kustomization of the release, in a Flux run.
	Unit string `json:"unit,omitempty"`
}

// releaseRun is one release whose hooks this run runs.
type releaseRun struct {
	name, event string
	pre, post   []Hook
}

// releaseHooks are the run's hook objects and the releases' digests.
type releaseHooks struct {
	objs    map[object.ID]*unstructured.Unstructured
	digests map[string]string
	runs    []*releaseRun
}

// setHooksAside takes the hook objects of the releases out of objs and
// returns the rest, with each release's digest of what it renders. Call
// it before objs are planned: the digest is of the objects as rendered.
func (r *Reconciler) setHooksAside(objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, *releaseHooks) {
	h := &releaseHooks{objs: map[object.ID]*unstructured.Unstructured{}, digests: map[string]string{}}
	if len(r.opts.Releases) == 0 {
		return objs, h
	}
	hooks := map[object.ID]bool{}
	for _, rel := range r.opts.Releases {
		for _, hk := range rel.Hooks {
			hooks[hk.ID] = true
		}
	}
	byID := map[object.ID]*unstructured.Unstructured{}
	rest := objs[:0:0]
	for _, o := range objs {
		id := object.FromUnstructured(o)
		byID[id] = o
		if hooks[id] {
			h.objs[id] = o
			continue
		}
		rest = append(rest, o)
	}
	for _, rel := range r.opts.Releases {
		if len(rel.Hooks) == 0 {
			continue
		}
		ids := append(slices.Clone(rel.Objects), make([]object.ID, 0, len(rel.Hooks))...)
		for _, hk := range rel.Hooks {
			ids = append(ids, hk.ID)
		}
		object.Sort(ids)
		sum := sha256.New()
		for _, id := range ids {
			d := "absent"
			if o := byID[id]; o != nil {
				d = apply.Digest(o)
			}
			fmt.Fprintf(sum, "%s %s\n", id.Encode(), d)
		}
		h.digests[rel.Name] = hex.EncodeToString(sum.Sum(nil)[:16])
	}
	return rest, h
}

// planHooks decides which releases run their hooks, from the plan and
// the previous inventory.
func (p *pass) planHooks(releases []Release) {
	changed := map[object.ID]bool{}
	for _, it := range p.plan.Items {
		if (it.Action == Created || it.Action == Configured) && !it.Drifted {
			changed[it.ID] = true
		}
	}
	members := inventory.NewSet(p.prev.Members...)
	for _, rel := range releases {
		if len(rel.Hooks) == 0 {
			continue
		}
		run := p.hooks.digests[rel.Name] != p.prev.Hooks[rel.Name]
		install := true
		for _, id := range rel.Objects {
			run = run || changed[id]
			install = install && !members.Has(id)
		}
		if !run {
			continue
		}
		rr := &releaseRun{name: rel.Name, event: "upgrade"}
		if install {
			rr.event = "install"
		}
		for _, hk := range rel.Hooks {
			if _, ok := p.hooks.objs[hk.ID]; !ok {
				continue
			}
			if hk.has("pre-" + rr.event) {
				rr.pre = append(rr.pre, hk)
			}
			if hk.has("post-" + rr.event) {
				rr.post = append(rr.post, hk)
			}
		}
		// Helm's order: by weight, then name; the chart's order (kinds
		// in install order) breaks the remaining ties.
		for _, hs := range [][]Hook{rr.pre, rr.post} {
			sort.SliceStable(hs, func(i, j int) bool {
				if hs[i].Weight != hs[j].Weight {
					return hs[i].Weight < hs[j].Weight
				}
				return hs[i].ID.Name < hs[j].ID.Name
			})
		}
		p.hooks.runs = append(p.hooks.runs, rr)
	}
}

// hookDigests is what the inventory records after the run: each
// release's digest once its hooks are done (none to run, or run to the
// end), the previous one while its post hooks are still to run.
func (p *pass) hookDigests(postDone bool) map[string]string {
	pending := map[string]bool{}
	for _, rr := range p.hooks.runs {
		if len(rr.post) > 0 && !postDone {
			pending[rr.name] = true
		}
	}
	out := map[string]string{}
	for name, d := range p.hooks.digests {
		if !pending[name] {
			out[name] = d
		} else if prev, ok := p.prev.Hooks[name]; ok {
			out[name] = prev
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// hookIDs are the ids of the run's hook objects, which a prune must
// leave alone even when the last run applied them as objects.
func (h *releaseHooks) ids() []object.ID {
	out := make([]object.ID, 0, len(h.objs))
	for id := range h.objs {
		out = append(out, id)
	}
	return out
}

// reportWouldRun lists, for a diff or dry-run, the hooks a reconcile
// would run.
func (r *Reconciler) reportWouldRun(rep *Report, p *pass) {
	for _, rr := range p.hooks.runs {
		for _, phase := range [][]Hook{rr.pre, rr.post} {
			for _, hk := range phase {
				rep.Hooks = append(rep.Hooks, HookRun{Release: rr.name, Event: eventOf(hk, rr), Object: hk.ID.String(), Result: HookWouldRun})
			}
		}
	}
}

func eventOf(hk Hook, rr *releaseRun) string {
	if hk.has("pre-" + rr.event) {
		return "pre-" + rr.event
	}
	return "post-" + rr.event
}

// checkHooks refuses, before any write, hook objects that exist without
// this inventory's part-of label: tidegate did not create them, and
// running the hook would overwrite or delete them.
func (r *Reconciler) checkHooks(ctx context.Context, p *pass) error {
	var errs []error
	for _, rr := range p.hooks.runs {
		for _, hk := range append(slices.Clone(rr.pre), rr.post...) {
			_, live, err := r.liveHook(ctx, hk.ID)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if live != nil && !r.ownsHook(live) {
				errs = append(errs, r.notOurs(hk.ID, rr, live))
			}
		}
	}
	return errors.Join(errs...)
}

func (r *Reconciler) ownsHook(live *unstructured.Unstructured) bool {
	return live.GetLabels()[inventory.PartOfLabel] == r.opts.Inventory.ID()
}

func (r *Reconciler) notOurs(id object.ID, rr *releaseRun, live *unstructured.Unstructured) error {
	return fmt.Errorf("%s: a hook of HelmRelease %s, but an object of that name exists that tidegate did not create (it does not carry %s=%s; %s): it is neither overwritten nor deleted. Rename the hook in the chart's values, or delete or rename that object", id, rr.name, inventory.PartOfLabel, r.opts.Inventory.ID(), ownerWords(live))
}

func ownerWords(live *unstructured.Unstructured) string {
	if other := live.GetLabels()[inventory.PartOfLabel]; other != "" {
		return "it belongs to inventory " + other
	}
	var managers []string
	for _, f := range live.GetManagedFields() {
		if !slices.Contains(managers, f.Manager) {
			managers = append(managers, f.Manager)
		}
	}
	if len(managers) == 0 {
		return "no field manager"
	}
	return "written by " + strings.Join(managers, ", ")
}

// liveHook reads a hook object, with the client that reads it; nil when
// it does not exist, also when its kind does not exist yet (a post hook
// of a kind whose CRD the release brings: no object of it can be there).
func (r *Reconciler) liveHook(ctx context.Context, id object.ID) (dynamic.ResourceInterface, *unstructured.Unstructured, error) {
	ri, _, err := resource.Client(ctx, r.dyn, r.mapper, id.GroupKind(), id.Namespace)
	if meta.IsNoMatchError(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", id, err)
	}
	live, err := ri.Get(ctx, id.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ri, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: read the hook object: %w", id, err)
	}
	return ri, live, nil
}

// runHooks runs the pre (or post) hooks of every release that runs
// them, recording each in rep.
func (r *Reconciler) runHooks(ctx context.Context, rep *Report, p *pass, pre bool) error {
	for _, rr := range p.hooks.runs {
		hooks, event := rr.post, "post-"+rr.event
		if pre {
			hooks, event = rr.pre, "pre-"+rr.event
		}
		if len(hooks) == 0 {
			continue
		}
		r.opts.Logger.Info("running hooks", "helmrelease", rr.name, "event", event, "hooks", len(hooks))
		if err := r.runEvent(ctx, rep, p, rr, event, hooks); err != nil {
			return fmt.Errorf("HelmRelease %s: %s hook: %w", rr.name, event, err)
		}
	}
	return nil
}

// runEvent is Helm's execHook: one hook at a time, each waited for,
// then the hook-succeeded deletes in reverse order.
func (r *Reconciler) runEvent(ctx context.Context, rep *Report, p *pass, rr *releaseRun, event string, hooks []Hook) error {
	first := len(rep.Hooks)
	for _, hk := range hooks {
		line := HookRun{Release: rr.name, Event: event, Object: hk.ID.String(), Result: HookFailed}
		err := r.runHook(ctx, p, rr, hk)
		if err != nil {
			line.Message = err.Error()
			if hk.policy("hook-failed") {
				if derr := r.deleteHook(ctx, rr, hk.ID); derr != nil {
					err = errors.Join(err, fmt.Errorf("delete it (hook-failed): %w", derr))
				} else {
					line.Deleted = true
				}
			}
			rep.Hooks = append(rep.Hooks, line)
			return err
		}
		line.Result = HookSucceeded
		rep.Hooks = append(rep.Hooks, line)
	}
	for i := len(hooks) - 1; i >= 0; i-- {
		if !hooks[i].policy("hook-succeeded") {
			continue
		}
		if err := r.deleteHook(ctx, rr, hooks[i].ID); err != nil {
			return fmt.Errorf("delete it (hook-succeeded): %w", err)
		}
		rep.Hooks[first+i].Deleted = true
	}
	return nil
}

// runHook creates one hook object and waits until it is done.
// A hook object left from an earlier run is deleted first, whatever the
// policy: before-hook-creation says so, and without it Helm would fail
// on it ("already exists"), which leaves a run that failed once (its
// hook-succeeded hooks were not deleted) failing until a person deletes
// them; tidegate created it, so it may.
func (r *Reconciler) runHook(ctx context.Context, p *pass, rr *releaseRun, hk Hook) error {
	if err := r.deleteHook(ctx, rr, hk.ID); err != nil {
		return fmt.Errorf("delete the previous hook object: %w", err)
	}
	cs, err := r.apply.Apply(ctx, []*unstructured.Unstructured{p.hooks.objs[hk.ID]}, apply.ApplyOptions{Force: r.opts.Force})
	if err != nil {
		return err
	}
	if cs == nil || len(cs.Changes) != 1 || cs.Changes[0].Action != Created {
		return fmt.Errorf("%s: the hook object was not created", hk.ID)
	}
	return r.waitHook(ctx, hk.ID)
}

// waitHook polls a hook object until it is done, as Helm's
// WatchUntilReady: a Job until Complete, a Pod until Succeeded; other
// kinds until kstatus says Current (kstatus calls a running Job
// Current, which is not what a hook waits for).
func (r *Reconciler) waitHook(ctx context.Context, id object.ID) error {
	ri, _, err := resource.Client(ctx, r.dyn, r.mapper, id.GroupKind(), id.Namespace)
	if err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	msg := "not read yet"
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, r.opts.Timeout, true, func(ctx context.Context) (bool, error) {
		u, err := ri.Get(ctx, id.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, fmt.Errorf("%s: deleted while it ran", id)
		}
		if err != nil {
			return false, fmt.Errorf("%s: %w", id, err)
		}
		done, failed, m := hookDone(u)
		msg = m
		if failed {
			return false, fmt.Errorf("%s: failed: %s", id, m)
		}
		return done, nil
	})
	if err != nil && wait.Interrupted(err) && ctx.Err() == nil {
		return fmt.Errorf("%s: not done after %s (%s): raise the unit's timeout (spec.timeout, --timeout) or fix the hook", id, r.opts.Timeout, msg)
	}
	return err
}

func hookDone(u *unstructured.Unstructured) (done, failed bool, msg string) {
	switch u.GroupVersionKind().GroupKind().String() {
	case "Job.batch":
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			cm, _ := c.(map[string]any)
			if cm["status"] != "True" {
				continue
			}
			switch cm["type"] {
			case "Complete":
				return true, false, "Job complete"
			case "Failed":
				m, _ := cm["message"].(string)
				return false, true, "Job failed: " + m
			}
		}
		return false, false, "Job not complete"
	case "Pod":
		switch ph, _, _ := unstructured.NestedString(u.Object, "status", "phase"); ph {
		case "Succeeded":
			return true, false, "Pod succeeded"
		case "Failed":
			return false, true, "Pod failed"
		default:
			return false, false, "Pod " + ph
		}
	}
	res, err := status.Compute(u)
	if err != nil {
		return false, false, err.Error()
	}
	return res.Status == status.CurrentStatus, res.Status == status.FailedStatus, string(res.Status) + ": " + res.Message
}

// deleteHook deletes a hook object this inventory created, and waits
// until it is gone; one it did not create is never deleted.
func (r *Reconciler) deleteHook(ctx context.Context, rr *releaseRun, id object.ID) error {
	ri, live, err := r.liveHook(ctx, id)
	if err != nil || live == nil {
		return err
	}
	if !r.ownsHook(live) {
		return r.notOurs(id, rr, live)
	}
	uid := live.GetUID()
	bg := metav1.DeletePropagationBackground
	err = ri.Delete(ctx, id.Name, metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("%s: %w", id, err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, r.opts.Timeout, true, func(ctx context.Context) (bool, error) {
		cur, err := ri.Get(ctx, id.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && cur.GetUID() != uid, err
	})
	if err != nil {
		return fmt.Errorf("%s: wait for the old hook object to be deleted (finalizers?): %w", id, err)
	}
	return nil
}

// postHooks runs the post hooks once the objects are applied, pruned
// and waited for, then records the digests of the releases whose hooks
// are now done: a release whose post hook failed runs its hooks again
// in the next run.
func (r *Reconciler) postHooks(ctx context.Context, rep *Report, p *pass) error {
	if r.opts.DryRun || len(p.hooks.runs) == 0 {
		return nil
	}
	if err := r.runHooks(ctx, rep, p, false); err != nil {
		return err
	}
	next := *p.saved
	next.Hooks = p.hookDigests(true)
	if !inventory.Changed(p.saved, &next) {
		return nil
	}
	if err := p.store.Save(ctx, &next); err != nil {
		return fmt.Errorf("write inventory %s after the post hooks: %w", r.opts.Inventory.String(), err)
	}
	p.saved = &next
	return nil
}

// writeHooks prints one line per hook: "hook pre-install
// Job/apps/migrate of HelmRelease apps/web: succeeded, deleted".
func writeHooks(w io.Writer, hooks []HookRun) {
	for _, h := range hooks {
		line := fmt.Sprintf("hook %s %s of HelmRelease %s: %s", h.Event, h.Object, h.Release, h.Result)
		if h.Deleted {
			line += ", deleted"
		}
		if h.Message != "" {
			line += " (" + h.Message + ")"
		}
		if h.Unit != "" {
			line += " [unit " + h.Unit + "]"
		}
		fmt.Fprintln(w, line)
	}
}
