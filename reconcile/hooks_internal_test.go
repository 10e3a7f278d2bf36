package reconcile

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/apply"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
)

func cm(name string) object.ID { return object.ID{Kind: "ConfigMap", Namespace: "apps", Name: name} }

// TestPlanHooks: which releases run their hooks, with which event, in
// which order. A release runs them when it installs, when one of its
// objects changes from Git, or when what it renders differs from the
// digest recorded; drift alone and an unchanged render run none. One
// event's hooks go by weight, then name, then the chart's order.
func TestPlanHooks(t *testing.T) {
	app, pre := cm("app"), cm("pre")
	rel := Release{Name: "apps/web", Objects: []object.ID{app}, Hooks: []Hook{
		{ID: cm("z-first"), Events: []string{"pre-install", "pre-upgrade"}, Weight: -1},
		{ID: cm("b"), Events: []string{"pre-install", "pre-upgrade"}},
		{ID: pre, Events: []string{"pre-install"}},
		{ID: cm("a"), Events: []string{"pre-upgrade"}},
		{ID: cm("post"), Events: []string{"post-install", "post-upgrade"}, Weight: 3},
		{ID: cm("late"), Events: []string{"post-upgrade"}, Weight: 2},
	}}
	objs := map[object.ID]*unstructured.Unstructured{}
	for _, h := range rel.Hooks {
		objs[h.ID] = &unstructured.Unstructured{}
	}
	names := func(hs []Hook) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.ID.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		action    object.Action
		drifted   bool
		member    bool
		digest    string
		wantEvent string
		wantPre   []string
		wantPost  []string
	}{
		{name: "install", action: Created, wantEvent: "install", wantPre: []string{"z-first", "b", "pre"}, wantPost: []string{"post"}},
		{name: "changed from Git", action: Configured, member: true, digest: "now", wantEvent: "upgrade", wantPre: []string{"z-first", "a", "b"}, wantPost: []string{"late", "post"}},
		{name: "render changed, objects not", action: Unchanged, member: true, digest: "before", wantEvent: "upgrade", wantPre: []string{"z-first", "a", "b"}, wantPost: []string{"late", "post"}},
		{name: "no change", action: Unchanged, member: true, digest: "now"},
		{name: "drift only", action: Configured, drifted: true, member: true, digest: "now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := &inventory.Inventory{}
			if tc.member {
				prev.Members = []object.ID{app}
			}
			if tc.digest != "" {
				prev.Hooks = map[string]string{"apps/web": tc.digest}
			}
			p := &pass{
				plan:  &apply.Plan{Items: []apply.Planned{{ID: app, Action: tc.action, Drifted: tc.drifted}}},
				prev:  prev,
				hooks: &releaseHooks{objs: objs, digests: map[string]string{"apps/web": "now"}},
			}
			p.planHooks([]Release{rel})
			if tc.wantEvent == "" {
				if len(p.hooks.runs) > 0 {
					t.Fatalf("hooks run: %+v", p.hooks.runs[0])
				}
				if d := cmp.Diff(map[string]string{"apps/web": "now"}, p.hookDigests(false)); d != "" {
					t.Errorf("digests recorded (-want +got):\n%s", d)
				}
				return
			}
			if len(p.hooks.runs) != 1 {
				t.Fatalf("%d releases run hooks, want 1", len(p.hooks.runs))
			}
			rr := p.hooks.runs[0]
			if rr.event != tc.wantEvent {
				t.Errorf("event %s, want %s", rr.event, tc.wantEvent)
			}
			if d := cmp.Diff(tc.wantPre, names(rr.pre)); d != "" {
				t.Errorf("pre hooks (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantPost, names(rr.post)); d != "" {
				t.Errorf("post hooks (-want +got):\n%s", d)
			}
			// Until the post hooks ran, the previous digest stays.
			var want map[string]string
			if tc.digest != "" {
				want = map[string]string{"apps/web": tc.digest}
			}
			if d := cmp.Diff(want, p.hookDigests(false)); d != "" {
				t.Errorf("digests before the post hooks (-want +got):\n%s", d)
			}
			if d := cmp.Diff(map[string]string{"apps/web": "now"}, p.hookDigests(true)); d != "" {
				t.Errorf("digests after the post hooks (-want +got):\n%s", d)
			}
		})
	}
}
