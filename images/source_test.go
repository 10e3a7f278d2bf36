package images

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tidegate/tidegate/object"
)

// TestLoadWorkloads checks that Flux v1 workloads are reported with the
// line of the annotation that decides their fate, including the locked
// and ignored ones that have no Site to show for it.
func TestLoadWorkloads(t *testing.T) {
	src, err := Load(filepath.Join("testdata", "update", "original"), "legacy", "apps")
	if err != nil {
		t.Fatal(err)
	}
	id := func(group, kind, name string) object.ID {
		return object.ID{Group: group, Kind: kind, Namespace: "legacy", Name: name}
	}
	want := []Workload{
		{File: "legacy/workloads.yaml", Object: id("apps", "Deployment", "legacy"), Line: 8, Automated: true},
		{File: "legacy/workloads.yaml", Object: id("apps", "StatefulSet", "frozen"), Line: 31, Automated: true, Locked: true},
		{File: "legacy/workloads.yaml", Object: id("apps", "DaemonSet", "hidden"), Line: 48, Automated: true, Ignored: true},
		{File: "legacy/workloads.yaml", Object: id("batch", "CronJob", "nightly"), Line: 63, Automated: true},
	}
	if diff := cmp.Diff(want, src.Workloads); diff != "" {
		t.Errorf("Workloads (-want +got):\n%s", diff)
	}
}
