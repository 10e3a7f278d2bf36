package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tidegate/tidegate/object"
)

// Diff compares every object with the cluster: it plans them and diffs
// the plan (DiffPlanned). Each change's Diff is a unified diff from live
// to the object as the server would store it; empty when unchanged.
// Secret values are masked.
func (m *Manager) Diff(ctx context.Context, objs []*unstructured.Unstructured) ([]Change, error) {
	plan, err := m.Plan(ctx, objs)
	if err != nil {
		return nil, err
	}
	return m.DiffPlanned(ctx, plan.Items)
}

// DiffPlanned diffs objects already planned, without reading the cluster
// again. Objects planned unchanged are not sent; the others go through a
// server-side dry-run apply, so defaults the server fills in and fields
// other managers own are the same on both sides and do not show up.
func (m *Manager) DiffPlanned(ctx context.Context, items []Planned) ([]Change, error) {
	out := make([]Change, len(items))
	errs := make([]error, len(items))
	created := createdNamespaces(items)
	m.parallel(len(items), func(i int) {
		p := items[i]
		out[i] = Change{ID: p.ID, Action: p.Action}
		if p.Action == Unchanged {
			return
		}
		var merged *unstructured.Unstructured
		if p.err == nil {
			// err is the goroutine's own: the objects are diffed in parallel.
			var err error
			merged, err = m.patch(ctx, p, true, true)
			if inNewNamespace(p, err, created) {
				// Its namespace comes in the same run; a dry-run does
				// not create it, so the server cannot merge. Show Git's
				// object as it would be created.
				merged, err = p.Desired, nil
			}
			if err != nil {
				errs[i] = explain(p.ID, err)
				out[i].Action = Failed
				return
			}
		} else {
			// A kind the cluster does not know yet: show Git's object.
			merged = p.Desired
		}
		out[i].Diff = unified(p.ID, p.Live, merged, m.opts.Mask)
		if p.Live != nil && out[i].Diff == "" {
			out[i].Action = Unchanged
		}
	})
	return out, errors.Join(errs...)
}

// unified renders a diff of two objects without the fields that are
// noise to a reader, masked with mask when it is not nil.
func unified(id object.ID, live, merged *unstructured.Unstructured, mask func(desired, live *unstructured.Unstructured)) string {
	if mask != nil {
		merged = merged.DeepCopy()
		if live != nil {
			live = live.DeepCopy()
		}
		mask(merged, live)
	}
	a, b := "", render(merged, live)
	from := "live"
	if live != nil {
		a = render(live, nil)
	} else {
		from = "/dev/null"
	}
	if a == b {
		return ""
	}
	text, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: from + " " + id.String(), ToFile: "git " + id.String(), Context: 3,
	})
	return text
}

// render prints u for a diff against other (nil when there is none).
func render(u, other *unstructured.Unstructured) string {
	c := object.RedactSecret(u.DeepCopy())
	if c.GetKind() == "Secret" && other != nil {
		markChanged(c, u, other)
	}
	unstructured.RemoveNestedField(c.Object, "status")
	for _, f := range []string{"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	ann := c.GetAnnotations()
	delete(ann, DigestAnnotation)
	delete(ann, lastApplied)
	if len(ann) == 0 {
		unstructured.RemoveNestedField(c.Object, "metadata", "annotations")
	} else {
		c.SetAnnotations(ann)
	}
	b, err := yaml.Marshal(c.Object)
	if err != nil {
		return fmt.Sprintf("(cannot print: %v)\n", err)
	}
	return string(b)
}

// markChanged tells, in a masked Secret, which values differ from the
// other side, so a diff shows that a value changed but never what it is.
func markChanged(masked, u, other *unstructured.Unstructured) {
	vals, _ := u.Object["data"].(map[string]any)
	others, _ := other.Object["data"].(map[string]any)
	out, _ := masked.Object["data"].(map[string]any)
	for k, v := range vals {
		if ov, ok := others[k]; ok && ov != v {
			out[k] = object.Redacted + " (changed)"
		}
	}
}

// createdNamespaces returns the Namespaces among items that do not exist
// yet: objects inside them cannot be dry-run before they do.
func createdNamespaces(items []Planned) map[string]bool {
	out := map[string]bool{}
	for _, it := range items {
		if isNamespace(it.ID) && it.Live == nil {
			out[it.ID.Name] = true
		}
	}
	return out
}

func isNamespace(id object.ID) bool { return id.Group == "" && id.Kind == "Namespace" }

// inNewNamespace reports whether err is the server refusing to dry-run
// p, an object to create, because its namespace, one of created, does
// not exist yet: a dry-run creates no Namespace.
func inNewNamespace(p Planned, err error, created map[string]bool) bool {
	return err != nil && p.Live == nil && created[p.ID.Namespace] && isNamespaceNotFound(err)
}

// isNamespaceNotFound tells the API server's answer to a write into a
// namespace that does not exist.
func isNamespaceNotFound(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces"
}
