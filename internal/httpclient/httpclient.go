// Package httpclient builds the HTTP clients tidegate talks to registries,
// forges, webhooks and the Pushgateway with, so that no server can hold a
// run forever or fill its memory.
//
// A server is untrusted in two ways: it may never answer (a stalled
// registry, a black-holed address) or answer without end (a tags/list
// body that never closes). Go's default client guards against neither: it
// has no response-header timeout, no overall deadline and reads bodies as
// long as they come. A Transport from this package bounds every phase of
// a request:
//
//	connect      TCP dial                         WithDialTimeout (10s)
//	TLS          handshake                        WithTLSHandshakeTimeout (10s)
//	headers      request start → response headers WithResponseHeaderTimeout (30s)
//	stall        no body byte for this long       WithStallTimeout (30s)
//	overall      whole request, body included     WithRequestTimeout (2m)
//	size         response body                    WithMaxBodyBytes (32 MiB)
//
// Idle pooled connections close after WithIdleConnTimeout (90s). The
// proxy comes from HTTPS_PROXY, HTTP_PROXY and NO_PROXY, as with Go's
// default transport. The request's own context still applies on top: a
// cancelled run stops its requests at once.
//
// Each limit fails with an error that names the host and the limit
// (*LimitError), so a CI log says which server misbehaved and how.
package httpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// The defaults, documented in the README's "Network limits".
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultStallTimeout          = 30 * time.Second
	DefaultRequestTimeout        = 2 * time.Minute
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultMaxBodyBytes          = 32 << 20
)

type config struct {
	dial, tls, header, stall, request, idle time.Duration
	maxBody                                 int64
	maxBodyFor                              func(*http.Request) int64
	idlePerHost                             int
	tlsConfig                               *tls.Config
}

// Option changes one limit of a Transport. A zero or negative duration or
// size turns that limit off (the request's context still applies).
type Option func(*config)

// WithDialTimeout bounds the TCP connect (default 10s).
func WithDialTimeout(d time.Duration) Option { return func(c *config) { c.dial = d } }

// WithTLSHandshakeTimeout bounds the TLS handshake (default 10s).
func WithTLSHandshakeTimeout(d time.Duration) Option { return func(c *config) { c.tls = d } }

// WithResponseHeaderTimeout bounds the time from the start of the request
// (connect, TLS and sending the body included) to the response headers
// (default 30s): a server that accepts the connection and says nothing
// fails here. It counts from the start so that one clock covers a proxy's
// CONNECT too.
func WithResponseHeaderTimeout(d time.Duration) Option { return func(c *config) { c.header = d } }

// WithStallTimeout bounds the gap between two reads of the body that
// return data (default 30s): a server that stops sending half-way fails
// here even when the overall deadline is long or off, as for a Git pack.
func WithStallTimeout(d time.Duration) Option { return func(c *config) { c.stall = d } }

// WithRequestTimeout bounds the whole request, body included (default
// 2m). Git packs can take long; the Git client turns it off and relies on
// the stall timeout and the clone's own deadline.
func WithRequestTimeout(d time.Duration) Option { return func(c *config) { c.request = d } }

// WithIdleConnTimeout closes pooled connections idle this long (default
// 90s).
func WithIdleConnTimeout(d time.Duration) Option { return func(c *config) { c.idle = d } }

// WithMaxBodyBytes caps each response body (default 32 MiB): reading past
// it fails with a *LimitError. Registry tag lists, forge API answers and
// webhook replies are far smaller.
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBody = n } }

// WithMaxBodyBytesFor caps each response body by its request, for a
// client whose answers differ in kind (Git: a ref list read into memory,
// a pack written to disk). It replaces WithMaxBodyBytes; f returning 0
// or less leaves that response uncapped.
func WithMaxBodyBytesFor(f func(*http.Request) int64) Option {
	return func(c *config) { c.maxBodyFor = f }
}

// WithIdleConnsPerHost keeps up to n idle connections per host (default
// Go's 2), for clients that run many requests to one host at once.
func WithIdleConnsPerHost(n int) Option { return func(c *config) { c.idlePerHost = n } }

// WithTLSConfig sets the TLS client configuration (a repository's own CA
// or client certificate); nil keeps Go's defaults.
func WithTLSConfig(c *tls.Config) Option { return func(cfg *config) { cfg.tlsConfig = c } }

func defaults(opts []Option) config {
	c := config{
		dial: DefaultDialTimeout, tls: DefaultTLSHandshakeTimeout,
		header: DefaultResponseHeaderTimeout, stall: DefaultStallTimeout,
		request: DefaultRequestTimeout, idle: DefaultIdleConnTimeout,
		maxBody: DefaultMaxBodyBytes,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// NewTransport returns a RoundTripper with the limits above, for
// libraries that take a transport (go-containerregistry).
func NewTransport(opts ...Option) http.RoundTripper {
	c := defaults(opts)
	d := &net.Dialer{Timeout: max(c.dial, 0), KeepAlive: 30 * time.Second}
	base := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   c.idlePerHost,
		IdleConnTimeout:       max(c.idle, 0),
		TLSHandshakeTimeout:   max(c.tls, 0),
		TLSClientConfig:       c.tlsConfig,
		ExpectContinueTimeout: time.Second,
	}
	return &limits{base: base, cfg: c}
}

// New returns a client whose transport is NewTransport(opts...).
// Redirects are followed as by Go's default client; each hop gets the
// limits afresh.
func New(opts ...Option) *http.Client {
	return &http.Client{Transport: NewTransport(opts...)}
}

// Limit names the limit a LimitError hit.
type Limit string

const (
	LimitHeaders Limit = "response headers"
	LimitStall   Limit = "stall"
	LimitRequest Limit = "request"
	LimitSize    Limit = "size"
)

// LimitError is what a request fails with when a server broke one of the
// limits.
type LimitError struct {
	Host  string
	Limit Limit
	// After is the timeout that passed; Bytes the size cap.
	After time.Duration
	Bytes int64
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitSize:
		return fmt.Sprintf("response from %s exceeded %s; tidegate reads at most that much from one answer", e.Host, size(e.Bytes))
	case LimitHeaders:
		return fmt.Sprintf("%s did not answer within %s (no response headers); check that the address is right and the server is up", e.Host, e.After)
	case LimitStall:
		return fmt.Sprintf("%s stopped sending: nothing for %s in the middle of its answer", e.Host, e.After)
	}
	return fmt.Sprintf("request to %s did not complete within %s", e.Host, e.After)
}

// Timeout reports whether the error is a timeout, as net.Error does, so
// that retry logic treats it like the network timeouts it already knows.
func (e *LimitError) Timeout() bool { return e.Limit != LimitSize }

func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// limits puts the timeouts and the size cap around base. Every timeout
// cancels the request's context with a *LimitError as the cause, which is
// how an error deep in a library still says what happened.
type limits struct {
	base http.RoundTripper
	cfg  config
}

func (l *limits) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	host := req.URL.Host
	var overall *time.Timer
	if l.cfg.request > 0 {
		overall = time.AfterFunc(l.cfg.request, func() {
			cancel(&LimitError{Host: host, Limit: LimitRequest, After: l.cfg.request})
		})
	}
	var header *time.Timer
	if l.cfg.header > 0 {
		header = time.AfterFunc(l.cfg.header, func() {
			cancel(&LimitError{Host: host, Limit: LimitHeaders, After: l.cfg.header})
		})
	}
	stop := func() {
		if overall != nil {
			overall.Stop()
		}
		cancel(nil)
	}

	resp, err := l.base.RoundTrip(req.WithContext(ctx))
	if header != nil {
		header.Stop()
	}
	if err != nil {
		cause := context.Cause(ctx)
		stop()
		if le := (*LimitError)(nil); errors.As(cause, &le) {
			return nil, le
		}
		return nil, err
	}
	if ctx.Err() != nil {
		// The header timer fired just as the headers came.
		resp.Body.Close()
		cause := context.Cause(ctx)
		stop()
		return nil, cause
	}
	maxBody := l.cfg.maxBody
	if l.cfg.maxBodyFor != nil {
		maxBody = l.cfg.maxBodyFor(req)
	}
	b := &body{rc: resp.Body, ctx: ctx, stop: stop, host: host, max: maxBody, left: maxBody}
	if l.cfg.stall > 0 {
		b.stall = time.AfterFunc(l.cfg.stall, func() {
			cancel(&LimitError{Host: host, Limit: LimitStall, After: l.cfg.stall})
		})
		b.stall.Stop()
		b.stallAfter = l.cfg.stall
	}
	resp.Body = b
	return resp, nil
}

// body enforces the size cap and the stall timeout while the caller reads,
// and frees the timers when it closes. The stall clock runs only while a
// Read waits for the server: time the caller spends between reads (a Git
// client resolving deltas) is not the server's fault.
type body struct {
	rc         io.ReadCloser
	ctx        context.Context
	stop       func()
	host       string
	max, left  int64
	stall      *time.Timer
	stallAfter time.Duration
	once       sync.Once
}

func (b *body) Read(p []byte) (int, error) {
	if b.max > 0 {
		if b.left <= 0 {
			// One byte more tells a body of exactly max bytes from a
			// longer one.
			var one [1]byte
			n, err := b.read(one[:])
			if n > 0 {
				return 0, &LimitError{Host: b.host, Limit: LimitSize, Bytes: b.max}
			}
			return 0, err
		}
		if int64(len(p)) > b.left {
			p = p[:b.left]
		}
	}
	n, err := b.read(p)
	b.left -= int64(n)
	return n, err
}

func (b *body) read(p []byte) (int, error) {
	if b.stall != nil {
		b.stall.Reset(b.stallAfter)
	}
	n, err := b.rc.Read(p)
	if b.stall != nil {
		b.stall.Stop()
	}
	return n, b.explain(err)
}

// explain replaces the transport's "context canceled" with the limit
// that cancelled it.
func (b *body) explain(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var le *LimitError
	if errors.As(context.Cause(b.ctx), &le) {
		return le
	}
	return err
}

func (b *body) Close() error {
	err := b.rc.Close()
	b.once.Do(func() {
		if b.stall != nil {
			b.stall.Stop()
		}
		b.stop()
	})
	return err
}
