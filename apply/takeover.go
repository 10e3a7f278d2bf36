package apply

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// takeOverFromManagers moves the server-side apply ownership of the
// TakeOverManagers on live to tidegate's field manager, in one JSON
// patch of managedFields that fails with a conflict when the object
// changed since it was read.
//
// Forcing the apply instead would not do: fields whose values Git and the
// other manager agree on would stay shared, so a field Git drops later
// would stay too, still owned by the other manager. Renaming the entry is
// how fluxcd/pkg/ssa moves kubectl's ownership to Flux; this is the same
// move the other way round.
func (m *Manager) takeOverFromManagers(ctx context.Context, client dynamic.ResourceInterface, live *unstructured.Unstructured) error {
	if len(m.opts.TakeOverManagers) == 0 || live == nil {
		return nil
	}
	entries, err := movedOwnership(live.GetManagedFields(), m.opts.TakeOverManagers, m.opts.FieldManager, m.opts.KeepLabels, metav1.Now())
	if err != nil || entries == nil {
		return err
	}
	patch, err := json.Marshal([]map[string]any{
		{"op": "replace", "path": "/metadata/managedFields", "value": entries},
		// A replace rather than a test: the API server then answers a
		// concurrent change with 409 Conflict, not with a bad request.
		{"op": "replace", "path": "/metadata/resourceVersion", "value": live.GetResourceVersion()},
	})
	if err != nil {
		return err
	}
	if _, err := client.Patch(ctx, live.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("rewrite managedFields: %w (the object changed while tidegate read it? run again)", err)
	}
	return nil
}

// movedOwnership returns entries with every Apply entry of the managers
// (main resource only, not status) merged into to's Apply entry, or nil
// when none of them owns anything to move. The keep labels stay in the
// entry of the manager that owned them; an entry left owning nothing is
// dropped.
func movedOwnership(entries []metav1.ManagedFieldsEntry, managers []string, to string, keepLabels []string, now metav1.Time) ([]metav1.ManagedFieldsEntry, error) {
	keep := fieldpath.NewSet()
	for _, k := range keepLabels {
		keep.Insert(fieldpath.MakePathOrDie("metadata", "labels", k))
	}
	target := slices.IndexFunc(entries, func(e metav1.ManagedFieldsEntry) bool {
		return e.Manager == to && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == ""
	})
	var owned *fieldpath.Set
	if target >= 0 {
		s, err := fieldSet(entries[target])
		if err != nil {
			return nil, fmt.Errorf("managedFields entry of %s: %w", to, err)
		}
		owned = s
	}
	out := make([]metav1.ManagedFieldsEntry, 0, len(entries)+1)
	moved := false
	var apiVersion string
	for i, e := range entries {
		if i == target {
			continue
		}
		if !slices.Contains(managers, e.Manager) || e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" {
			out = append(out, e)
			continue
		}
		s, err := fieldSet(e)
		if err != nil {
			return nil, fmt.Errorf("managedFields entry of %s: %w", e.Manager, err)
		}
		give, stay := s.Difference(keep), s.Intersection(keep)
		if give.Empty() {
			out = append(out, e)
			continue
		}
		moved = true
		if owned == nil {
			owned, apiVersion = give, e.APIVersion
		} else {
			owned = owned.Union(give)
		}
		if stay.Empty() {
			continue
		}
		raw, err := stay.ToJSON()
		if err != nil {
			return nil, err
		}
		e.FieldsV1 = metav1.NewFieldsV1(string(raw))
		out = append(out, e)
	}
	if !moved {
		return nil, nil
	}
	raw, err := owned.ToJSON()
	if err != nil {
		return nil, err
	}
	var mine metav1.ManagedFieldsEntry
	if target >= 0 {
		mine = entries[target]
	} else {
		mine = metav1.ManagedFieldsEntry{Manager: to, Operation: metav1.ManagedFieldsOperationApply, APIVersion: apiVersion, FieldsType: "FieldsV1"}
	}
	mine.Time, mine.FieldsV1 = &now, metav1.NewFieldsV1(string(raw))
	out = append(out, mine)
	if reflect.DeepEqual(out, entries) {
		return nil, nil
	}
	return out, nil
}

func fieldSet(e metav1.ManagedFieldsEntry) (*fieldpath.Set, error) {
	s := fieldpath.NewSet()
	if e.FieldsV1 == nil {
		return s, nil
	}
	if err := s.FromJSON(bytes.NewReader(e.FieldsV1.GetRawBytes())); err != nil {
		return nil, err
	}
	return s, nil
}

// asTakenOver returns what a dry-run sends for p, and as which field
// manager, so that it shows what the real write will do after moving
// another manager's ownership: a dry-run may not rewrite managedFields
// first. Applied under that manager's own name, Git's object replaces
// its applied configuration, so the fields only it set and Git no longer
// has are removed in the result, as they will be once they are
// tidegate's. Its kept labels are sent along, as they stay. Objects
// where tidegate already has an entry of its own are sent as they are:
// the simulation would leave tidegate's old fields out of account.
func (m *Manager) asTakenOver(p Planned) (*unstructured.Unstructured, string) {
	if len(m.opts.TakeOverManagers) == 0 || p.Live == nil {
		return p.Desired, m.opts.FieldManager
	}
	from := ""
	for _, e := range p.Live.GetManagedFields() {
		if e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" {
			continue
		}
		if e.Manager == m.opts.FieldManager {
			return p.Desired, m.opts.FieldManager
		}
		if from == "" && slices.Contains(m.opts.TakeOverManagers, e.Manager) {
			from = e.Manager
		}
	}
	if from == "" {
		return p.Desired, m.opts.FieldManager
	}
	send := p.Desired.DeepCopy()
	labels := send.GetLabels()
	for _, k := range m.opts.KeepLabels {
		if v, ok := p.Live.GetLabels()[k]; ok {
			if labels == nil {
				labels = map[string]string{}
			}
			if _, set := labels[k]; !set {
				labels[k] = v
			}
		}
	}
	send.SetLabels(labels)
	return send, from
}
