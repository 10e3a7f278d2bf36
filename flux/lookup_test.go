package flux

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestObjectsLookup(t *testing.T) {
	objs := Objects{
		obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vars, namespace: flux-system}\ndata: {region: eu, replicas: '3'}\n"),
		obj(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: vars, namespace: flux-system}\ndata: {token: czNjcjN0, both: ZnJvbS1kYXRh}\nstringData: {both: from-stringData, plain: p}\n"),
		obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vars, namespace: other}\ndata: {region: us}\n"),
		obj(t, "apiVersion: example.com/v1\nkind: ConfigMap\nmetadata: {name: lookalike, namespace: flux-system}\ndata: {region: fake}\n"),
		nil,
	}
	ctx := context.Background()
	for _, tc := range []struct {
		kind, ns, name string
		want           map[string]string
		found          bool
	}{
		{"ConfigMap", "flux-system", "vars", map[string]string{"region": "eu", "replicas": "3"}, true},
		{"Secret", "flux-system", "vars", map[string]string{"token": "s3cr3t", "both": "from-stringData", "plain": "p"}, true},
		{"ConfigMap", "other", "vars", map[string]string{"region": "us"}, true},
		{"ConfigMap", "flux-system", "lookalike", nil, false},
		{"ConfigMap", "flux-system", "absent", nil, false},
	} {
		data, found, err := objs.Get(ctx, tc.kind, tc.ns, tc.name)
		if err != nil || found != tc.found {
			t.Errorf("%s/%s/%s: found %v, %v", tc.kind, tc.ns, tc.name, found, err)
		}
		if diff := cmp.Diff(tc.want, data); diff != "" {
			t.Errorf("%s/%s/%s (-want +got):\n%s", tc.kind, tc.ns, tc.name, diff)
		}
	}

	// Through Vars, the run's objects first and the cluster's after.
	k := &Kustomization{Namespace: "flux-system", Name: "apps", SubstituteFrom: []SubstituteRef{
		{Kind: "ConfigMap", Name: "vars"}, {Kind: "ConfigMap", Name: "cluster-only"}, {Kind: "Secret", Name: "vars"},
	}}
	cluster := &objects{data: map[string]map[string]string{
		"ConfigMap/flux-system/vars":         {"region": "stale"},
		"ConfigMap/flux-system/cluster-only": {"cluster": "prod"},
	}}
	vars, secret, err := Vars(ctx, k, Lookups{objs, nil, cluster})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"region": "eu", "replicas": "3", "cluster": "prod", "token": "s3cr3t", "both": "from-stringData", "plain": "p"}, vars); diff != "" {
		t.Errorf("vars (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]bool{"token": true, "both": true, "plain": true}, secret); diff != "" {
		t.Errorf("secret (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ConfigMap/flux-system/cluster-only"}, cluster.calls); diff != "" {
		t.Errorf("the cluster was asked for what the run holds (-want +got):\n%s", diff)
	}

	boom := errors.New("forbidden")
	if _, _, err := (Lookups{&objects{err: boom}, cluster}).Get(ctx, "ConfigMap", "flux-system", "vars"); !errors.Is(err, boom) {
		t.Errorf("an error of the first lookup is not returned: %v", err)
	}
}

func TestHostileObjectsLookup(t *testing.T) {
	const canary = "CANARY-d41d8cd9"
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		objs []*unstructured.Unstructured
		kind string
		want string
	}{
		{"twice", []*unstructured.Unstructured{
			obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v, namespace: f}\ndata: {a: '1'}\n"),
			obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v, namespace: f}\ndata: {a: '2'}\n"),
		}, "ConfigMap", "ConfigMap/f/v is in the run twice"},
		{"not base64", []*unstructured.Unstructured{
			obj(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: v, namespace: f}\ndata: {token: '"+canary+"!'}\n"),
		}, "Secret", "Secret/f/v: data.token: is not base64"},
		{"data is a list", []*unstructured.Unstructured{
			obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v, namespace: f}\ndata: [a]\n"),
		}, "ConfigMap", "ConfigMap/f/v: data: is a list, want a mapping"},
		{"a number value", []*unstructured.Unstructured{
			obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: v, namespace: f}\ndata: {replicas: 3}\n"),
		}, "ConfigMap", "ConfigMap/f/v: data.replicas: is a number, want a string"},
		{"another kind", []*unstructured.Unstructured{
			obj(t, "apiVersion: v1\nkind: Service\nmetadata: {name: v, namespace: f}\n"),
		}, "Service", "Service/f/v: substituteFrom reads only ConfigMaps and Secrets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, found, err := Objects(tc.objs).Get(ctx, tc.kind, "f", "v")
			if data != nil || found {
				t.Errorf("returned %v, %v with an error", data, found)
			}
			wantErr(t, err, tc.want)
			if strings.Contains(err.Error(), canary) {
				t.Errorf("error shows a Secret's value: %v", err)
			}
		})
	}
}
