package resource

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/tidegate/tidegate/internal/httpclient/httpclienttest"
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
			c, mapping, err := Client(context.Background(), dyn, mapper, tc.gk, tc.namespace, tc.versions...)
			if err != nil {
				t.Fatal(err)
			}
			// Mappings answers the same, asking the mapper once.
			counted := &countingMapper{RESTMapper: mapper}
			ms := NewMappings(dyn, counted)
			version := ""
			if len(tc.versions) > 0 {
				version = tc.versions[0]
			}
			for range 3 {
				mc, mm, err := ms.Client(context.Background(), tc.gk, tc.namespace, version)
				if err != nil || mm.Resource != mapping.Resource || mc == nil {
					t.Fatalf("Mappings.Client = %v, %v; want the mapping %v", mm, err, mapping.Resource)
				}
			}
			if counted.n != 1 {
				t.Errorf("Mappings asked the mapper %d times for one kind, want once", counted.n)
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
		c, mapping, err := Client(context.Background(), dyn, mapper, schema.GroupKind{Group: "example.com", Kind: "Gadget"}, "web")
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

// TestHostileLookupHonoursContext: a discovery mapper after its Reset
// (apply resets it once the CRDs are in) asks the API server; when that
// server never answers, the lookup ends with the run's context instead
// of waiting for it, and nothing is fetched through the client.
func TestHostileLookupHonoursContext(t *testing.T) {
	addr, conns := httpclienttest.Silent(t)
	cfg := &rest.Config{Host: "http://" + addr}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	mapper.Reset()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := Client(ctx, dyn, mapper, schema.GroupKind{Kind: "ConfigMap"}, "web")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("lookup against a silent server: %v, want the context's deadline", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the lookup outlived its context by 20s")
	}
	if conns.Load() == 0 {
		t.Fatal("the lookup never reached the server: the test proves nothing")
	}
}

// countingMapper counts RESTMapping calls.
type countingMapper struct {
	meta.RESTMapper
	n int
}

func (c *countingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	c.n++
	return c.RESTMapper.RESTMapping(gk, versions...)
}
