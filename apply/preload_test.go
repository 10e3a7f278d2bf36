package apply_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tidegate/tidegate/apply"
	"github.com/tidegate/tidegate/inventory"
	"github.com/tidegate/tidegate/object"
)

// TestPreloadSavesTheListAndChangesNoDecision: a plan that takes a
// preloaded LIST sends no LIST of its own and decides exactly what a
// plan without one decides (created, changed, unchanged, drifted); a
// preload with another inventory's selector, or of another namespace, is
// not used.
func TestPreloadSavesTheListAndChangesNoDecision(t *testing.T) {
	ns := env.Namespace(t)
	m, _, c := newManager(t)
	ctx := context.Background()
	const id = "applyset-preload-test"
	desired := func(value string) []*unstructured.Unstructured {
		var out []*unstructured.Unstructured
		for i := range 6 {
			o := obj(t, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\n  namespace: %s\ndata:\n  v: %q\n", i, ns, value))
			inventory.Label(o, id)
			out = append(out, o)
		}
		return out
	}
	if _, err := m.Apply(ctx, desired("1")[:5], apply.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	var members []object.ID
	for _, o := range desired("1")[:5] {
		members = append(members, object.FromUnstructured(o))
	}

	want, err := m.Plan(ctx, desired("2"))
	if err != nil {
		t.Fatal(err)
	}
	pre := m.Preload(ctx, id, members)
	pre.Wait()
	c.reset()
	got, err := m.Plan(ctx, desired("2"), apply.WithPreload(pre))
	if err != nil {
		t.Fatal(err)
	}
	// The one object not listed (cm-5, not yet applied) is still read.
	if n := c.get("GET"); n != 1 {
		t.Errorf("a plan with a preload sent %d GETs, want 1 (the object the LIST did not return)", n)
	}
	if !reflect.DeepEqual(decisions(want), decisions(got)) {
		t.Errorf("with a preload the plan decided %v, without %v", decisions(got), decisions(want))
	}
	if _, ok := got.Listed(members[0]); !ok {
		t.Error("a plan with a preload does not know what the preload listed (prune reads it)")
	}

	// Another inventory's preload is another LIST: not used.
	other := m.Preload(ctx, "applyset-someone-else", members)
	other.Wait()
	c.reset()
	if _, err := m.Plan(ctx, desired("2"), apply.WithPreload(other)); err != nil {
		t.Fatal(err)
	}
	if n := c.get("GET"); n < 2 {
		t.Errorf("a plan sent %d GETs with another inventory's preload; it must send its own LIST", n)
	}
}

func decisions(p *apply.Plan) map[string]string {
	out := map[string]string{}
	for _, it := range p.Items {
		out[it.ID.String()] = fmt.Sprintf("%s drifted=%v live=%v", it.Action, it.Drifted, it.Live != nil)
	}
	return out
}
