package reconcile

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/apply"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/prune"
)

// claims decides, from the live objects the plan read, which objects
// this run may write. It returns the objects taken over in this run, the
// refused ones and an error joining one refusal per object that belongs
// to someone else; the refused objects are added to rep as failed. It writes nothing and
// reads nothing: the caller refuses the whole run before any write.
func (r *Reconciler) claims(plan *apply.Plan, prev *inventory.Inventory, rep *Report, command string) (adopted map[object.ID]prune.Claim, refused map[object.ID]bool, err error) {
	previous := inventory.NewSet(prev.Members...)
	opts := prune.ClaimOptions{
		Adopt:       r.opts.Adopt,
		AdoptLabels: r.opts.AdoptLabels,
		Force:       r.opts.Force,
		ForceObject: func(u *unstructured.Unstructured) bool { return u.GetAnnotations()[apply.ForceAnnotation] == "enabled" },
		Command:     command,
	}
	adopted, refused = map[object.ID]prune.Claim{}, map[object.ID]bool{}
	var errs []error
	for _, it := range plan.Items {
		c := prune.Decide(it.Desired, it.Live, r.opts.Inventory.ID(), previous, opts)
		switch {
		case c.Refused != nil:
			rep.add(entryOf(object.Change{ID: c.ID, Action: Failed, Reason: "refused: " + refusalReason(c)}))
			refused[c.ID] = true
			errs = append(errs, c.Refused)
		case c.Adopted:
			adopted[c.ID] = c
		}
	}
	if len(errs) > 0 {
		err = fmt.Errorf("refusing %d existing object(s) that belong to someone else: %w", len(errs), errors.Join(errs...))
	}
	return adopted, refused, err
}

func refusalReason(c prune.Claim) string {
	if c.Ownership == prune.Foreign {
		return "a member of another inventory"
	}
	return "exists and is not a member of this inventory; see the error for how to adopt it"
}

// markAdopted turns the entry of an object taken over in this run from
// configured into adopted. (Created means it vanished meanwhile: nothing
// was taken over.)
func markAdopted(e *Entry, id object.ID, adopted map[object.ID]prune.Claim) {
	c, ok := adopted[id]
	if !ok || (e.Action != Configured && e.Action != Unchanged) {
		return
	}
	e.Action, e.Reason = Adopted, c.Reason
}

// takeOver is what apply forces: an adopted object becomes Git's, so
// the fields Git sets are taken from whoever owned them.
func takeOver(adopted map[object.ID]prune.Claim) map[object.ID]bool {
	out := make(map[object.ID]bool, len(adopted))
	for id := range adopted {
		out[id] = true
	}
	return out
}
