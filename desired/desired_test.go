package desired_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tidegate/tidegate/desired"
	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/render"
)

// scopes answers as a cluster would: the kinds it serves, a NoMatch for
// the others, and a failure for the kinds in fail. It records what it
// was asked.
type scopes struct {
	served map[schema.GroupKind]bool
	fail   map[schema.GroupKind]error
	asked  []schema.GroupVersionKind
}

func (s *scopes) Namespaced(_ context.Context, gvk schema.GroupVersionKind) (bool, error) {
	s.asked = append(s.asked, gvk)
	if err := s.fail[gvk.GroupKind()]; err != nil {
		return false, err
	}
	namespaced, ok := s.served[gvk.GroupKind()]
	if !ok {
		return false, &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
	}
	return namespaced, nil
}

func cluster() *scopes {
	return &scopes{served: map[schema.GroupKind]bool{
		{Kind: "ConfigMap"}:                                               true,
		{Kind: "Namespace"}:                                               false,
		{Group: "apps", Kind: "Deployment"}:                               true,
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:         false,
		{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: false,
	}}
}

func obj(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": name}}}
	if ns != "" {
		u.SetNamespace(ns)
	}
	return u
}

func crd(group, kind, plural, scope string) *unstructured.Unstructured {
	u := obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", plural+"."+group)
	u.Object["spec"] = map[string]any{"group": group, "scope": scope, "names": map[string]any{"kind": kind, "plural": plural}}
	return u
}

// outcome is an Item as the tests compare it.
type outcome struct {
	ID         string
	Verdict    desired.Verdict
	Namespaced bool
	Scope      desired.Scope
	Rule       desired.Rule
	// Says holds what Why or Err must contain.
	Says []string
}

func TestResolve(t *testing.T) {
	lookupErr := errors.New("the server is currently unable to handle the request")
	tests := []struct {
		name   string
		objs   []*unstructured.Unstructured
		policy desired.Policy
		fail   map[schema.GroupKind]error
		// origins replaces the render's origins when set.
		origins map[object.ID]render.Origin
		want    []outcome
	}{{
		name: "namespaced objects without a namespace get the default one",
		objs: []*unstructured.Unstructured{obj("v1", "ConfigMap", "", "a"), obj("apps/v1", "Deployment", "", "web"), obj("v1", "ConfigMap", "team", "b")},
		want: []outcome{
			{ID: "ConfigMap/default/a", Namespaced: true, Scope: desired.FromCluster},
			{ID: "Deployment/default/web", Namespaced: true, Scope: desired.FromCluster},
			{ID: "ConfigMap/team/b", Namespaced: true, Scope: desired.FromCluster},
		},
	}, {
		name:   "the policy's default namespace",
		objs:   []*unstructured.Unstructured{obj("v1", "ConfigMap", "", "a")},
		policy: desired.Policy{DefaultNamespace: "kube-ns"},
		want:   []outcome{{ID: "ConfigMap/kube-ns/a", Namespaced: true, Scope: desired.FromCluster}},
	}, {
		name: "a cluster-scoped object loses the namespace it names",
		objs: []*unstructured.Unstructured{obj("rbac.authorization.k8s.io/v1", "ClusterRole", "team", "reader")},
		want: []outcome{{ID: "ClusterRole.rbac.authorization.k8s.io/reader", Scope: desired.FromCluster}},
	}, {
		name: "image automation is skipped without asking the cluster",
		objs: []*unstructured.Unstructured{obj("image.toolkit.fluxcd.io/v1beta2", "ImagePolicy", "team", "web"), obj("image.toolkit.fluxcd.io/v1beta2", "ImageRepository", "", "web")},
		fail: map[schema.GroupKind]error{{Group: "image.toolkit.fluxcd.io", Kind: "ImagePolicy"}: lookupErr},
		want: []outcome{
			{ID: "ImagePolicy.image.toolkit.fluxcd.io/team/web", Verdict: desired.Skip, Says: []string{"image automation configuration", "not applied"}},
			{ID: "ImageRepository.image.toolkit.fluxcd.io/web", Verdict: desired.Skip, Says: []string{"read by tidegate images"}},
		},
	}, {
		name: "a CustomResourceDefinition in the render gives its kind's scope",
		objs: []*unstructured.Unstructured{
			crd("example.com", "Widget", "widgets", "Namespaced"), obj("example.com/v1", "Widget", "", "w"),
			crd("example.com", "Realm", "realms", "Cluster"), obj("example.com/v1", "Realm", "team", "r"),
		},
		// Even a cluster that fails to look them up does not matter.
		fail: map[schema.GroupKind]error{{Group: "example.com", Kind: "Widget"}: lookupErr, {Group: "example.com", Kind: "Realm"}: lookupErr},
		want: []outcome{
			{ID: "CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com", Scope: desired.FromCluster},
			{ID: "Widget.example.com/default/w", Namespaced: true, Scope: desired.FromRender},
			{ID: "CustomResourceDefinition.apiextensions.k8s.io/realms.example.com", Scope: desired.FromCluster},
			{ID: "Realm.example.com/r", Scope: desired.FromRender},
		},
	}, {
		name: "a kind nobody knows is namespaced when the object names a namespace",
		objs: []*unstructured.Unstructured{obj("example.com/v1", "Gadget", "team", "g"), obj("example.com/v1", "Gadget", "", "h")},
		want: []outcome{
			{ID: "Gadget.example.com/team/g", Namespaced: true, Scope: desired.Assumed},
			{ID: "Gadget.example.com/h", Scope: desired.Assumed},
		},
	}, {
		name: "a failed lookup refuses the object",
		objs: []*unstructured.Unstructured{obj("metrics.k8s.io/v1beta1", "NodeMetrics", "", "n"), obj("v1", "ConfigMap", "", "a")},
		fail: map[schema.GroupKind]error{{Group: "metrics.k8s.io", Kind: "NodeMetrics"}: lookupErr},
		want: []outcome{
			{ID: "NodeMetrics.metrics.k8s.io/n", Verdict: desired.Refuse, Rule: desired.RuleLookup, Says: []string{"NodeMetrics.metrics.k8s.io/n: look up the kind metrics.k8s.io/v1beta1, Kind=NodeMetrics", lookupErr.Error()}},
			{ID: "ConfigMap/default/a", Namespaced: true, Scope: desired.FromCluster},
		},
	}, {
		name: "what the API server would refuse is refused, named by its file",
		objs: []*unstructured.Unstructured{obj("v1", "ConfigMap", "team", "Invalid_Name"), obj("v1", "ConfigMap", "Bad_NS", "a")},
		want: []outcome{
			{ID: "ConfigMap/team/Invalid_Name", Verdict: desired.Refuse, Namespaced: true, Scope: desired.FromCluster, Rule: desired.RuleInvalid, Says: []string{"ConfigMap/team/Invalid_Name (from apps/bad.yaml): the API server would refuse it", "DNS-1123 subdomain"}},
			{ID: "ConfigMap/Bad_NS/a", Verdict: desired.Refuse, Namespaced: true, Scope: desired.FromCluster, Rule: desired.RuleInvalid, Says: []string{"(from apps (kustomization))", "metadata.namespace \"Bad_NS\""}},
		},
	}, {
		name:    "a refusal without a known origin names only the object",
		objs:    []*unstructured.Unstructured{obj("v1", "ConfigMap", "team", "Also_Invalid")},
		origins: map[object.ID]render.Origin{},
		want: []outcome{
			{ID: "ConfigMap/team/Also_Invalid", Verdict: desired.Refuse, Namespaced: true, Scope: desired.FromCluster, Rule: desired.RuleInvalid, Says: []string{"ConfigMap/team/Also_Invalid: the API server would refuse it: metadata.name"}},
		},
	}, {
		name:   "--allow-namespace refuses other namespaces and cluster-scoped objects",
		objs:   []*unstructured.Unstructured{obj("v1", "ConfigMap", "team", "a"), obj("v1", "ConfigMap", "", "b"), obj("v1", "ConfigMap", "other", "c"), obj("v1", "Namespace", "", "team")},
		policy: desired.Policy{AllowNamespaces: []string{"team", "infra"}},
		want: []outcome{
			{ID: "ConfigMap/team/a", Namespaced: true, Scope: desired.FromCluster},
			{ID: "ConfigMap/default/b", Verdict: desired.Refuse, Namespaced: true, Scope: desired.FromCluster, Rule: desired.RuleNamespace, Says: []string{`ConfigMap/default/b: namespace "default" is not allowed (allowed: team, infra; add --allow-namespace default`}},
			{ID: "ConfigMap/other/c", Verdict: desired.Refuse, Namespaced: true, Scope: desired.FromCluster, Rule: desired.RuleNamespace, Says: []string{"add --allow-namespace other or move the object"}},
			{ID: "Namespace/team", Verdict: desired.Refuse, Scope: desired.FromCluster, Rule: desired.RuleClusterScoped, Says: []string{"Namespace/team: cluster-scoped objects are not allowed (this run is limited to namespaces team, infra; pass --allow-cluster-scoped"}},
		},
	}, {
		name:   "--allow-cluster-scoped lets cluster-scoped objects through",
		objs:   []*unstructured.Unstructured{obj("v1", "Namespace", "", "team"), obj("example.com/v1", "Gadget", "", "h"), obj("v1", "ConfigMap", "other", "c")},
		policy: desired.Policy{AllowNamespaces: []string{"team"}, AllowClusterScoped: true},
		want: []outcome{
			{ID: "Namespace/team", Scope: desired.FromCluster},
			{ID: "Gadget.example.com/h", Scope: desired.Assumed},
			{ID: "ConfigMap/other/c", Verdict: desired.Refuse, Namespaced: true, Scope: desired.FromCluster, Rule: desired.RuleNamespace, Says: []string{"namespace \"other\" is not allowed"}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origins := map[object.ID]render.Origin{}
			for _, o := range tt.objs {
				origins[object.FromUnstructured(o)] = render.Origin{Path: "apps"}
			}
			origins[object.ID{Kind: "ConfigMap", Namespace: "team", Name: "Invalid_Name"}] = render.Origin{Path: "apps", File: "apps/bad.yaml"}
			if tt.origins != nil {
				origins = tt.origins
			}
			sc := cluster()
			sc.fail = tt.fail
			set := desired.Resolve(context.Background(), &render.Result{Objects: tt.objs, Origins: origins}, sc, tt.policy)

			var got []outcome
			var wantApply []*unstructured.Unstructured
			var refusals []string
			for i, it := range set.Items {
				if it.Obj != tt.objs[i] {
					t.Errorf("item %d is not the render's object %d: the order or the object changed", i, i)
				}
				if it.ID != object.FromUnstructured(it.Obj) && it.Rule != desired.RuleLookup {
					t.Errorf("%s: ID and object disagree (%s)", it.ID, object.FromUnstructured(it.Obj))
				}
				o := outcome{ID: it.ID.String(), Verdict: it.Verdict, Namespaced: it.Namespaced, Scope: it.Scope, Rule: it.Rule}
				text := it.Why
				if it.Err != nil {
					text = it.Err.Error()
					refusals = append(refusals, text)
				}
				if (it.Verdict == desired.Refuse) != (it.Err != nil) || (it.Verdict == desired.Skip) != (it.Why != "") {
					t.Errorf("%s: verdict %d with Why %q and Err %v", it.ID, it.Verdict, it.Why, it.Err)
				}
				for _, w := range tt.want[min(i, len(tt.want)-1)].Says {
					if strings.Contains(text, w) {
						o.Says = append(o.Says, w)
					}
				}
				if !strings.HasPrefix(text, it.ID.String()) && it.Err != nil && it.Rule != desired.RuleInvalid {
					t.Errorf("refusal does not start with the object: %q", text)
				}
				if it.Verdict == desired.Apply {
					wantApply = append(wantApply, it.Obj)
				}
				got = append(got, o)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
			if !cmp.Equal(wantApply, set.Objects()) {
				t.Errorf("Objects() = %d objects, want the %d applied items in order", len(set.Objects()), len(wantApply))
			}
			switch err := set.Err(); {
			case len(refusals) == 0 && err != nil:
				t.Errorf("Err() = %v with nothing refused", err)
			case len(refusals) > 0 && (err == nil || err.Error() != strings.Join(refusals, "\n")):
				t.Errorf("Err() = %v, want the %d refusals joined", err, len(refusals))
			}
			for _, gvk := range sc.asked {
				if gvk.Group == desired.ImageAutomationGroup {
					t.Errorf("the cluster was asked about %s, which is never applied", gvk)
				}
			}
		})
	}
}

// RESTMapperScopes is what reconcile and check hand the step; a static
// mapper stands in for discovery, whose answers it caches anyway.
func TestRESTMapperScopes(t *testing.T) {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	s := desired.RESTMapperScopes{Mapper: m}
	ctx := context.Background()
	if ns, err := s.Namespaced(ctx, schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}); err != nil || !ns {
		t.Errorf("ConfigMap: %v %v, want namespaced", ns, err)
	}
	if ns, err := s.Namespaced(ctx, schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}); err != nil || ns {
		t.Errorf("Namespace: %v %v, want cluster-scoped", ns, err)
	}
	if _, err := s.Namespaced(ctx, schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Gadget"}); !meta.IsNoMatchError(err) {
		t.Errorf("Gadget: %v, want a NoMatch error", err)
	}
}
