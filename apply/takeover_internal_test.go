package apply

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

func TestMovedOwnership(t *testing.T) {
	now := metav1.Now()
	const flux, ours = "kustomize-controller", "tidegate"
	const fluxLabel = "kustomize.toolkit.fluxcd.io/name"
	entry := func(manager string, op metav1.ManagedFieldsOperationType, subresource, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, APIVersion: "v1", FieldsType: "FieldsV1", Subresource: subresource, FieldsV1: metav1.NewFieldsV1(fields)}
	}
	apply, update := metav1.ManagedFieldsOperationApply, metav1.ManagedFieldsOperationUpdate
	mine := func(fields string) metav1.ManagedFieldsEntry {
		e := entry(ours, apply, "", fields)
		e.Time = &now
		return e
	}
	for _, tc := range []struct {
		name    string
		entries []metav1.ManagedFieldsEntry
		keep    []string
		want    []metav1.ManagedFieldsEntry // nil: nothing to move
	}{
		{
			name:    "renamed when tidegate has no entry",
			entries: []metav1.ManagedFieldsEntry{entry(flux, apply, "", `{"f:data":{"f:a":{}}}`)},
			want:    []metav1.ManagedFieldsEntry{mine(`{"f:data":{"f:a":{}}}`)},
		},
		{
			name: "merged into tidegate's entry",
			entries: []metav1.ManagedFieldsEntry{
				entry(ours, apply, "", `{"f:data":{"f:b":{}}}`),
				entry(flux, apply, "", `{"f:data":{"f:a":{}}}`),
			},
			want: []metav1.ManagedFieldsEntry{mine(`{"f:data":{"f:a":{},"f:b":{}}}`)},
		},
		{
			name: "kept labels stay with their manager",
			entries: []metav1.ManagedFieldsEntry{
				entry(flux, apply, "", `{"f:data":{"f:a":{}},"f:metadata":{"f:labels":{".":{},"f:`+fluxLabel+`":{},"f:team":{}}}}`),
			},
			keep: []string{fluxLabel, "kustomize.toolkit.fluxcd.io/namespace"},
			want: []metav1.ManagedFieldsEntry{
				entry(flux, apply, "", `{"f:metadata":{"f:labels":{"f:`+fluxLabel+`":{}}}}`),
				mine(`{"f:data":{"f:a":{}},"f:metadata":{"f:labels":{".":{},"f:team":{}}}}`),
			},
		},
		{
			name: "only kept labels: nothing to move",
			entries: []metav1.ManagedFieldsEntry{
				entry(flux, apply, "", `{"f:metadata":{"f:labels":{"f:`+fluxLabel+`":{}}}}`),
				entry(ours, apply, "", `{"f:data":{"f:a":{}}}`),
			},
			keep: []string{fluxLabel},
		},
		{
			name: "updates, status and other managers are left alone",
			entries: []metav1.ManagedFieldsEntry{
				entry(flux, update, "", `{"f:metadata":{"f:annotations":{"f:x":{}}}}`),
				entry(flux, apply, "status", `{"f:status":{"f:ready":{}}}`),
				entry("helm", apply, "", `{"f:data":{"f:h":{}}}`),
			},
		},
		{
			name:    "no entries",
			entries: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := movedOwnership(tc.entries, []string{flux}, ours, tc.keep, now)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}

	t.Run("unreadable fields are an error naming the manager", func(t *testing.T) {
		_, err := movedOwnership([]metav1.ManagedFieldsEntry{entry(flux, apply, "", `{"f:data":`)}, []string{flux}, ours, nil, now)
		if err == nil || !strings.Contains(err.Error(), flux) {
			t.Errorf("err = %v, want one naming %s", err, flux)
		}
	})
}

// FuzzMovedOwnership: whatever the field sets, moving ownership loses
// and invents no field, leaves the moved manager only the kept labels
// and touches no other manager's entry.
func FuzzMovedOwnership(f *testing.F) {
	f.Add(`{"f:data":{"f:a":{}},"f:metadata":{"f:labels":{".":{},"f:k":{}}}}`, `{"f:data":{"f:b":{}}}`, `{"f:spec":{"f:x":{}}}`, "k")
	f.Add(`{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:env":{"k:{\"name\":\"A\"}":{".":{},"f:value":{}}}}}}}`, `{}`, `{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{"f:image":{}}}}}`, "app")
	f.Add(`{"f:metadata":{"f:labels":{"f:k":{}}}}`, `{"f:data":{"f:a":{}}}`, `{}`, "k")
	f.Fuzz(func(t *testing.T, flux, ours, helm, keep string) {
		// managedFields come as JSON from the API server: valid UTF-8.
		for _, s := range []string{flux, ours, helm, keep} {
			if !utf8.ValidString(s) {
				return
			}
		}
		entry := func(manager, raw string) metav1.ManagedFieldsEntry {
			return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationApply, APIVersion: "v1", FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(raw)}
		}
		in := []metav1.ManagedFieldsEntry{entry("kustomize-controller", flux), entry("tidegate", ours), entry("helm", helm)}
		sets := make([]*fieldpath.Set, len(in))
		for i, e := range in {
			s, err := fieldSet(e)
			if err != nil {
				return // the API server never stores unreadable field sets
			}
			sets[i] = s
		}
		out, err := movedOwnership(in, []string{"kustomize-controller"}, "tidegate", []string{keep}, metav1.Now())
		if err != nil {
			t.Fatalf("readable sets, yet: %v", err)
		}
		kept := fieldpath.NewSet(fieldpath.MakePathOrDie("metadata", "labels", keep))
		if out == nil {
			if !sets[0].Difference(kept).Empty() {
				t.Fatal("nothing moved, though kustomize-controller owns more than the kept label")
			}
			return
		}
		before, after := fieldpath.NewSet(), fieldpath.NewSet()
		for _, s := range sets {
			before = before.Union(s)
		}
		for _, e := range out {
			s, err := fieldSet(e)
			if err != nil {
				t.Fatalf("wrote an unreadable set for %s: %v", e.Manager, err)
			}
			after = after.Union(s)
			switch e.Manager {
			case "kustomize-controller":
				if !s.Difference(kept).Empty() {
					t.Errorf("kustomize-controller keeps %s", s.Difference(kept))
				}
			case "tidegate":
				if want := sets[0].Difference(kept).Union(sets[1]); !want.Difference(s).Empty() {
					t.Errorf("tidegate lacks %s", want.Difference(s))
				}
			case "helm":
				if !s.Equals(sets[2]) {
					t.Errorf("helm's entry changed: %s", s)
				}
			}
		}
		if !before.Equals(after) {
			t.Errorf("fields lost %s, invented %s", before.Difference(after), after.Difference(before))
		}
	})
}
