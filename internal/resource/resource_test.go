package resource

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// TestClient checks the URL each client reaches, on a loopback server
// that records the requests and answers with an empty object.
func TestClient(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"Thing","metadata":{"name":"x"}}`))
	}))
	defer srv.Close()
	dyn, err := dynamic.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}

	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Version: "v1"}, {Group: "example.com", Version: "v1"}})
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	mapper.Add(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Group: "example.com", Version: "v2", Kind: "Widget"}, meta.RESTScopeNamespace)

	for _, tc := range []struct {
		name      string
		gk        schema.GroupKind
		namespace string
		versions  []string
		want      string
	}{
		{"namespaced kind in its namespace", schema.GroupKind{Kind: "ConfigMap"}, "web", nil, "/api/v1/namespaces/web/configmaps/x"},
		{"cluster-scoped kind ignores the namespace", schema.GroupKind{Kind: "Namespace"}, "web", nil, "/api/v1/namespaces/x"},
		{"preferred version", schema.GroupKind{Group: "example.com", Kind: "Widget"}, "web", []string{"v2"}, "/apis/example.com/v2/namespaces/web/widgets/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, mapping, err := Client(dyn, mapper, tc.gk, tc.namespace, tc.versions...)
			if err != nil {
				t.Fatal(err)
			}
			if mapping.GroupVersionKind.GroupKind() != tc.gk {
				t.Errorf("mapping for %v, want %v", mapping.GroupVersionKind, tc.gk)
			}
			mu.Lock()
			paths = nil
			mu.Unlock()
			if _, err := c.Get(context.Background(), "x", metav1.GetOptions{}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(paths) != 1 || paths[0] != tc.want {
				t.Errorf("requested %q, want [%q]", paths, tc.want)
			}
		})
	}

	t.Run("unknown kind", func(t *testing.T) {
		mu.Lock()
		paths = nil
		mu.Unlock()
		c, mapping, err := Client(dyn, mapper, schema.GroupKind{Group: "example.com", Kind: "Gadget"}, "web")
		if !meta.IsNoMatchError(err) {
			t.Fatalf("got error %v, want a no-match error", err)
		}
		if c != nil || mapping != nil {
			t.Errorf("got a client or mapping with the error: %v, %v", c, mapping)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(paths) != 0 {
			t.Errorf("an unknown kind sent requests: %q", paths)
		}
	})
}
