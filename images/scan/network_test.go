package scan

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/tidegate/tidegate/images/registrytest"
	"github.com/tidegate/tidegate/internal/httpclient"
	"github.com/tidegate/tidegate/internal/httpclient/httpclienttest"
)

// hostileRegistry is go-containerregistry's registry with one path
// answered by bad instead. It counts the bytes bad managed to send and
// the requests for that path.
type hostileRegistry struct {
	*httptest.Server
	sent, hits atomic.Int64
	// armed turns bad on once the test has pushed its image.
	armed atomic.Bool
}

func newHostileRegistry(t *testing.T, path string, bad func(w http.ResponseWriter, r *http.Request, sent *atomic.Int64)) *hostileRegistry {
	t.Helper()
	real := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	h := &hostileRegistry{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.armed.Load() && strings.HasSuffix(r.URL.Path, path) {
			h.hits.Add(1)
			bad(w, r, &h.sent)
			return
		}
		real.ServeHTTP(w, r)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hostileRegistry) host() string { return strings.TrimPrefix(h.URL, "http://") }

// endlessTags starts a valid tag list and never ends it.
func endlessTags(w http.ResponseWriter, r *http.Request, sent *atomic.Int64) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"name":"app","tags":[`)
	chunk := []byte(strings.Repeat(`"1.0.0",`, 512))
	for {
		n, err := w.Write(chunk)
		sent.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// stalledTags sends half a tag list, then nothing until the client goes.
func stalledTags(w http.ResponseWriter, r *http.Request, _ *atomic.Int64) {
	_, _ = io.WriteString(w, `{"name":"app","tags":["1.0.0",`)
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func TestHostileNetworkRegistry(t *testing.T) {
	const limit = 1 << 20
	short := func() http.RoundTripper {
		return httpclient.NewTransport(
			httpclient.WithMaxBodyBytes(limit),
			httpclient.WithResponseHeaderTimeout(300*time.Millisecond),
			httpclient.WithStallTimeout(300*time.Millisecond),
			httpclient.WithTLSHandshakeTimeout(300*time.Millisecond),
		)
	}
	fast := Retry{Attempts: 3, Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	watchdog := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		return ctx
	}

	t.Run("endless tags/list fails at the size cap", func(t *testing.T) {
		reg := newHostileRegistry(t, "/tags/list", endlessTags)
		registrytest.Push(t, reg.host(), authn.Anonymous, "app", time.Time{}, "1.0.0")
		reg.armed.Store(true)
		ctx := watchdog(t)
		got := New(Options{Transport: short(), Retry: fast}).Tags(ctx, []Target{{Repository: reg.host() + "/app"}})[0]
		want := "response from " + reg.host() + " exceeded 1 MiB"
		if got.Err == nil || !strings.Contains(got.Err.Error(), want) || !strings.Contains(got.Err.Error(), "list the tags of "+reg.host()+"/app") {
			t.Fatalf("error = %v, want one saying %q", got.Err, want)
		}
		if ctx.Err() != nil {
			t.Fatal("the watchdog, not the cap, ended the listing")
		}
		if len(got.Tags) != 0 {
			t.Errorf("%d tags returned from a refused list", len(got.Tags))
		}
		if n := reg.hits.Load(); n != 1 {
			t.Errorf("the endless list was requested %d times; a size limit must not be retried", n)
		}
		// The registry stops being able to send once tidegate hangs up:
		// what it got out is the cap plus what the sockets buffer, not
		// what it would have sent.
		if sent := reg.sent.Load(); sent > limit+32<<20 {
			t.Errorf("the registry sent %d MiB before tidegate stopped reading", sent>>20)
		}
	})

	t.Run("tags/list stalling half-way fails at the stall timeout", func(t *testing.T) {
		reg := newHostileRegistry(t, "/tags/list", stalledTags)
		registrytest.Push(t, reg.host(), authn.Anonymous, "app", time.Time{}, "1.0.0")
		reg.armed.Store(true)
		ctx := watchdog(t)
		got := New(Options{Transport: short(), Retry: fast}).Tags(ctx, []Target{{Repository: reg.host() + "/app"}})[0]
		want := reg.host() + " stopped sending: nothing for 300ms"
		if got.Err == nil || !strings.Contains(got.Err.Error(), want) {
			t.Fatalf("error = %v, want one saying %q", got.Err, want)
		}
		if ctx.Err() != nil || len(got.Tags) != 0 {
			t.Fatalf("watchdog %v, %d tags", ctx.Err(), len(got.Tags))
		}
		if n := reg.hits.Load(); n != 1 {
			t.Errorf("the stalled list was requested %d times, want 1", n)
		}
	})

	t.Run("registry that never answers fails at the response-header timeout", func(t *testing.T) {
		addr, conns := httpclienttest.Silent(t)
		ctx := watchdog(t)
		s := New(Options{Transport: short(), Retry: fast})
		got := s.Tags(ctx, []Target{{Repository: addr + "/app"}})[0]
		if got.Err == nil || !strings.Contains(got.Err.Error(), addr) || !strings.Contains(got.Err.Error(), "within 300ms") {
			t.Fatalf("error = %v, want a timeout naming %s", got.Err, addr)
		}
		if ctx.Err() != nil || len(got.Tags) != 0 {
			t.Fatalf("watchdog %v, %d tags", ctx.Err(), len(got.Tags))
		}
		// go-containerregistry pings https and http at once; neither is
		// retried.
		if n := conns.Load(); n > 2 {
			t.Errorf("%d connections to a silent registry; timeouts must not be retried", n)
		}
		info := s.Digests(ctx, []Ref{{Target: Target{Repository: addr + "/app"}, Tag: "1.0.0"}})[0]
		if info.Err == nil || !strings.Contains(info.Err.Error(), "within 300ms") || info.Digest != "" {
			t.Errorf("digest from a silent registry: %q, %v", info.Digest, info.Err)
		}
	})

	t.Run("endless manifest fails at a cap", func(t *testing.T) {
		reg := newHostileRegistry(t, "/manifests/1.0.0", func(w http.ResponseWriter, r *http.Request, sent *atomic.Int64) {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("0", 64))
			if r.Method == http.MethodHead {
				return
			}
			endlessTags(w, r, sent)
		})
		registrytest.Push(t, reg.host(), authn.Anonymous, "app", time.Time{}, "1.0.0")
		reg.armed.Store(true)
		ctx := watchdog(t)
		info := New(Options{Transport: short(), Retry: fast}).Created(ctx, []Ref{{Target: Target{Repository: reg.host() + "/app"}, Tag: "1.0.0"}})[0]
		if info.Err == nil || !strings.Contains(info.Err.Error(), "response from "+reg.host()+" exceeded 1 MiB") || !info.Created.IsZero() {
			t.Fatalf("created from an endless manifest: %v, %v", info.Created, info.Err)
		}
		if sent := reg.sent.Load(); sent > limit+32<<20 {
			t.Errorf("the registry sent %d MiB before tidegate stopped reading", sent>>20)
		}
	})
}

// The default Options get the limits without being asked.
func TestDefaultTransportHasLimits(t *testing.T) {
	reg := newHostileRegistry(t, "/tags/list", endlessTags)
	registrytest.Push(t, reg.host(), authn.Anonymous, "app", time.Time{}, "1.0.0")
	reg.armed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := New(Options{}).Tags(ctx, []Target{{Repository: reg.host() + "/app"}})[0]
	if got.Err == nil || !strings.Contains(got.Err.Error(), "exceeded 32 MiB") {
		t.Fatalf("error = %v, want the default 32 MiB cap", got.Err)
	}
}
