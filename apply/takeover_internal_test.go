package apply

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMovedOwnership(t *testing.T) {
	now := metav1.Now()
	const flux, ours = "kustomize-controller", "tidegate"
	const fluxLabel = "kustomize.toolkit.fluxcd.io/name"
	entry := func(manager string, op metav1.ManagedFieldsOperationType, subresource, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, APIVersion: "v1", FieldsType: "FieldsV1", Subresource: subresource, FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
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
