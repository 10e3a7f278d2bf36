package listjson_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/tidegate/tidegate/internal/jsonvalue"
	"github.com/tidegate/tidegate/internal/listjson"
	"github.com/tidegate/tidegate/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

var (
	configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	namespaces = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	roles      = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}
)

func clients(t *testing.T, cfg *rest.Config) (fast, plain dynamic.Interface) {
	t.Helper()
	fast, err := listjson.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	plain, err = dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return fast, plain
}

// TestListMatchesClientGo lists what the API server holds through both
// clients: the lists must be equal, field for field, and the server's
// own bytes must take the fast path.
func TestListMatchesClientGo(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	fast, plain := clients(t, env.Config)
	for i, data := range []map[string]any{
		{"html": "<b> & </b>", "quote": `a"b\c`, "lines": "one\ntwo\ttab", "uni": "ünï 😀 \u2028", "empty": ""},
		{"json": `{"nested":[1,2.5,true,null]}`, "long": fmt.Sprintf("%0200d", 7)},
	} {
		cm := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": fmt.Sprintf("cm-%d", i), "labels": map[string]any{"set": "a"}, "annotations": map[string]any{"n": "1"}},
			"data":     data,
		}}
		if _, err := plain.Resource(configMaps).Namespace(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	role := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
		"metadata": map[string]any{"name": "r"},
		"rules":    []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"pods"}, "verbs": []any{"get", "list"}}},
	}}
	if _, err := plain.Resource(roles).Namespace(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, list := range map[string]func(c dynamic.Interface) (*unstructured.UnstructuredList, error){
		"namespaced": func(c dynamic.Interface) (*unstructured.UnstructuredList, error) {
			return c.Resource(configMaps).Namespace(ns).List(ctx, metav1.ListOptions{})
		},
		"label selector": func(c dynamic.Interface) (*unstructured.UnstructuredList, error) {
			return c.Resource(configMaps).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: "set=a"})
		},
		"a group": func(c dynamic.Interface) (*unstructured.UnstructuredList, error) {
			return c.Resource(roles).Namespace(ns).List(ctx, metav1.ListOptions{})
		},
		"cluster-scoped": func(c dynamic.Interface) (*unstructured.UnstructuredList, error) {
			return c.Resource(namespaces).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + ns})
		},
		"all namespaces, one page": func(c dynamic.Interface) (*unstructured.UnstructuredList, error) {
			return c.Resource(configMaps).List(ctx, metav1.ListOptions{LabelSelector: "set=a", Limit: 1})
		},
	} {
		got, err := list(fast)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := list(plain)
		if err != nil {
			t.Fatalf("%s: client-go: %v", name, err)
		}
		if len(want.Items) == 0 {
			t.Fatalf("%s: the list is empty, the comparison proves nothing", name)
		}
		// Two LISTs differ in the revision they were read at (any write
		// to the cluster in between moves it), and in a page's continue
		// token, which holds it.
		got.SetResourceVersion(want.GetResourceVersion())
		if got.GetContinue() != "" && want.GetContinue() != "" {
			got.SetContinue(want.GetContinue())
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", name, got, want)
		}
	}

	// The server's bytes themselves decode on the fast path.
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(env.Config.Host, "/")+"/api/v1/namespaces/"+ns+"/configmaps", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET configmaps: %s %v", resp.Status, err)
	}
	if _, err := jsonvalue.List(raw); err != nil {
		t.Fatalf("the API server's LIST did not take the fast path: %v\n%s", err, raw)
	}
}

// TestListErrorsAreClientGos: callers tell a forbidden or unknown
// resource from other failures, as with client-go.
func TestListErrorsAreClientGos(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	nobody, err := env.AddUser("listjson-nobody-" + ns)
	if err != nil {
		t.Fatal(err)
	}
	fast, _ := clients(t, nobody)
	if _, err := fast.Resource(configMaps).Namespace(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list without RBAC: %v, want Forbidden", err)
	}
	admin, _ := clients(t, env.Config)
	if _, err := admin.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "nothings"}).List(ctx, metav1.ListOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("list of an unknown resource: %v, want NotFound", err)
	}
	if _, err := admin.Resource(configMaps).Namespace("not/a/namespace").List(ctx, metav1.ListOptions{}); err == nil {
		t.Error("a namespace that is no path segment was listed")
	}
}
