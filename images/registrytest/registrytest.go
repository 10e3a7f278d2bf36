// Package registrytest starts real registries for tests: the in-process
// registry of go-containerregistry (pkg/registry) behind httptest, with
// optional basic auth, latency and injected failures, and Debian's
// docker-registry (CNCF distribution v2) with an htpasswd file.
package registrytest

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an in-process OCI registry.
type Registry struct {
	Server *httptest.Server
	user   string
	pass   string

	mu       sync.Mutex
	faults   []fault
	requests []Request
	latency  time.Duration
	quiet    bool
	// extraTags are listed by tags/list next to the stored ones.
	extraTags map[string][]string
}

// Request records one request the registry received.
type Request struct {
	Method, Path string
	Status       int
	At           time.Time
}

type fault struct {
	pathContains string
	status       int
	retryAfter   string
	remaining    int
}

// Option configures New.
type Option func(*Registry)

// WithBasicAuth requires these credentials on every request.
func WithBasicAuth(user, pass string) Option {
	return func(r *Registry) { r.user, r.pass = user, pass }
}

// WithoutRequestLog stops recording requests, for benchmarks.
func WithoutRequestLog() Option { return func(r *Registry) { r.quiet = true } }

// WithLatency delays every answer, to stand in for a network round trip.
func WithLatency(d time.Duration) Option { return func(r *Registry) { r.latency = d } }

// SetLatency changes the delay added to every answer.
func (r *Registry) SetLatency(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latency = d
}

// New starts a registry, closed when the test ends.
func New(tb testing.TB, opts ...Option) *Registry {
	tb.Helper()
	r := &Registry{}
	for _, o := range opts {
		o(r)
	}
	inner := registry.New(registry.Logger(log.New(discard{}, "", 0)))
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		latency := r.latency
		r.mu.Unlock()
		if latency > 0 {
			time.Sleep(latency)
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			r.mu.Lock()
			if !r.quiet {
				r.requests = append(r.requests, Request{Method: req.Method, Path: req.URL.Path, Status: rec.status, At: time.Now()})
			}
			r.mu.Unlock()
		}()
		if r.user != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != r.user || p != r.pass {
				rec.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
				rec.Header().Set("Content-Type", "application/json")
				rec.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(rec, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
		}
		if f, ok := r.takeFault(req.URL.Path); ok {
			if f.retryAfter != "" {
				rec.Header().Set("Retry-After", f.retryAfter)
			}
			rec.WriteHeader(f.status)
			return
		}
		if extra := r.listedExtra(req); extra != nil {
			serveWithExtraTags(rec, req, inner, extra)
			return
		}
		inner.ServeHTTP(rec, req)
	}))
	tb.Cleanup(r.Server.Close)
	return r
}

// Host is the registry's host:port, to prefix repositories with.
func (r *Registry) Host() string { return strings.TrimPrefix(r.Server.URL, "http://") }

// Fail makes the next n requests whose path contains pathContains answer
// status, with a Retry-After header when retryAfter is not empty.
func (r *Registry) Fail(pathContains string, status, n int, retryAfter string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, fault{pathContains: pathContains, status: status, retryAfter: retryAfter, remaining: n})
}

func (r *Registry) takeFault(path string) (fault, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.faults {
		f := &r.faults[i]
		if f.remaining > 0 && strings.Contains(path, f.pathContains) {
			f.remaining--
			return *f, true
		}
	}
	return fault{}, false
}

// Requests returns the requests received so far.
func (r *Registry) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// Auth returns the registry's credentials for remote.WithAuth.
func (r *Registry) Auth() authn.Authenticator {
	if r.user == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: r.user, Password: r.pass}
}

// Push stores one image under every tag of repo (a path without host)
// and returns its digest. With a zero created time the image is random;
// otherwise it is an empty image created then, so its digest is the same
// in every run (goldens can hold it).
func Push(tb testing.TB, host string, auth authn.Authenticator, repo string, created time.Time, tags ...string) string {
	tb.Helper()
	var img v1.Image
	var err error
	if created.IsZero() {
		img, err = random.Image(64, 1)
	} else {
		img, err = mutate.CreatedAt(empty.Image, v1.Time{Time: created})
	}
	if err != nil {
		tb.Fatal(err)
	}
	first, err := name.NewTag(host+"/"+repo+":"+tags[0], name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Write(first, img, remote.WithAuth(auth)); err != nil {
		tb.Fatalf("push %s: %v", first, err)
	}
	for _, t := range tags[1:] {
		if err := remote.Tag(first.Context().Tag(t), img, remote.WithAuth(auth)); err != nil {
			tb.Fatalf("tag %s:%s: %v", repo, t, err)
		}
	}
	d, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return d.String()
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
