package source

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"

	"github.com/tidegate/tidegate/internal/httpclient"
)

// Defaults of the Git network limits, documented in the README's
// "Network limits".
const (
	// DefaultTimeout bounds each clone, fetch, ls-remote or push.
	DefaultTimeout = 10 * time.Minute
	// DefaultSSHDialTimeout bounds the TCP connect to an SSH server.
	DefaultSSHDialTimeout = 10 * time.Second
	// defaultStall is longer than internal/httpclient's: a Git server may
	// think a while before the first pack bytes of a large repository.
	defaultStall = 2 * time.Minute
)

// A Git server's answers over HTTP are capped by kind (gitBodyCap): the
// ref advertisement is parsed in memory and gets the cap of every other
// network read; a pack goes to disk and gets one far above any
// repository a reconcile reads, so an endless answer fails with an error
// naming the host instead of filling memory or the disk until the
// clone's deadline.
const (
	maxRefsBytes = httpclient.DefaultMaxBodyBytes
	maxPackBytes = 4 << 30
)

// gitBodyCap is the size cap of the answer to req (see maxRefsBytes).
func gitBodyCap(req *http.Request) int64 {
	if strings.HasSuffix(req.URL.Path, "/info/refs") {
		return maxRefsBytes
	}
	return maxPackBytes
}

// network is how a checkout reaches its remote.
type network struct {
	client  *http.Client
	sshDial time.Duration
	timeout time.Duration
}

func defaultNetwork() network {
	return network{
		// A pack is as large as the repository and goes to disk, not
		// memory: a size cap by kind (gitBodyCap) and no overall
		// per-request deadline, only the stall timeout and the
		// operation's deadline.
		client:  httpclient.New(gitHTTPLimits()...),
		sshDial: DefaultSSHDialTimeout,
		timeout: DefaultTimeout,
	}
}

// gitHTTPLimits are the limits of the default client for http(s) remotes.
func gitHTTPLimits() []httpclient.Option {
	return []httpclient.Option{
		httpclient.WithResponseHeaderTimeout(time.Minute),
		httpclient.WithStallTimeout(defaultStall),
		httpclient.WithRequestTimeout(0),
		httpclient.WithMaxBodyBytesFor(gitBodyCap),
	}
}

// WithHTTPClient sets the client for http(s) remotes. The default comes
// from internal/httpclient: connect, TLS and response-header timeouts, and
// a 2 minute stall timeout in the middle of a pack.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) {
		if c != nil {
			o.net.client = c
		}
	}
}

// WithTimeout bounds each clone, fetch, ls-remote and push against the
// remote (default 10 minutes); zero or less leaves only ctx.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.net.timeout = d } }

// WithSSHDialTimeout bounds the TCP connect to an SSH remote (default
// 10s).
func WithSSHDialTimeout(d time.Duration) Option { return func(o *options) { o.net.sshDial = d } }

// DeadlineError is the cause of a Git operation that ran out of time.
type DeadlineError struct {
	Op    string
	After time.Duration
	// Peer is who was too slow; "" is the Git server.
	Peer string
}

func (e *DeadlineError) Error() string {
	peer := e.Peer
	if peer == "" {
		peer = "the Git server"
	}
	return fmt.Sprintf("%s did not finish within %s: %s is too slow or stalled", e.Op, e.After, peer)
}

func (e *DeadlineError) Timeout() bool { return true }

// bound gives one Git operation its deadline. The error of an operation
// cut short by it says so (see interrupted).
func (n network) bound(ctx context.Context, op string) (context.Context, context.CancelFunc) {
	if n.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, n.timeout, &DeadlineError{Op: op, After: n.timeout})
}

// interrupted replaces the error of an operation whose context ended with
// why it ended: the deadline, or the run being cancelled (SIGTERM).
func interrupted(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	var de *DeadlineError
	if cause := context.Cause(ctx); errors.As(cause, &de) {
		return de
	}
	return fmt.Errorf("interrupted: %w", context.Cause(ctx))
}

// abandonGrace is how long a cancelled Git operation may take to return.
// go-git stops HTTP transfers and SSH reads on cancel at once, but not an
// SSH handshake or a git:// connect in progress.
const abandonGrace = 2 * time.Second

// untilDone runs op and returns when it does, or shortly after ctx ends
// if op does not. An abandoned op removes dir when it ends at last, so
// nothing of a half clone stays behind in a process that keeps running.
func untilDone(ctx context.Context, dir string, op func() error) error {
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-done:
		return err
	case <-time.After(abandonGrace):
		go func() {
			<-done //nolint:errcheck // the run was abandoned; its error has no reader left
			_ = os.RemoveAll(dir)
		}()
		return ctx.Err()
	}
}

// installRouter puts router in go-git's protocol table once. go-git v5
// takes the transport of a clone from that process-wide table only, not
// from the call; router keeps it stateless by finding each call's HTTP
// client in the call's AuthMethod (see httpAuth).
var installRouter = sync.OnceFunc(func() {
	client.InstallProtocol("http", router{})
	client.InstallProtocol("https", router{})
})

type router struct{}

func (router) NewUploadPackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.UploadPackSession, error) {
	c, inner := splitAuth(auth)
	return githttp.NewClient(c).NewUploadPackSession(ep, inner)
}

func (router) NewReceivePackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.ReceivePackSession, error) {
	c, inner := splitAuth(auth)
	return githttp.NewClient(c).NewReceivePackSession(ep, inner)
}

// splitAuth takes the client out of an httpAuth. Any other AuthMethod
// (another user of go-git in the process) gets go-git's default client.
func splitAuth(auth transport.AuthMethod) (*http.Client, transport.AuthMethod) {
	a, ok := auth.(*httpAuth)
	if !ok {
		return nil, auth
	}
	if a.inner == nil {
		return a.client, nil
	}
	return a.client, a.inner
}

// httpAuth carries a call's HTTP client to router, with the basic or
// bearer auth (if any) that go-git applies to each request.
type httpAuth struct {
	inner  githttp.AuthMethod
	client *http.Client
}

func (a *httpAuth) Name() string { return "http-basic-auth" }

func (a *httpAuth) String() string {
	if a.inner == nil {
		return "anonymous"
	}
	return a.inner.Name() // never the secret
}

func (a *httpAuth) SetAuth(r *http.Request) {
	if a.inner != nil {
		a.inner.SetAuth(r)
	}
}

// sshAuth bounds the TCP connect of an SSH remote, which go-git leaves
// to ssh.ClientConfig.Timeout.
type sshAuth struct {
	gitssh.AuthMethod
	dial time.Duration
}

func (a sshAuth) ClientConfig() (*ssh.ClientConfig, error) {
	cfg, err := a.AuthMethod.ClientConfig()
	if err == nil && a.dial > 0 {
		cfg.Timeout = a.dial
	}
	return cfg, err
}

// clientWithCA is the default Git client trusting pemCerts besides the
// system's CAs.
func clientWithCA(pemCerts []byte) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemCerts) {
		return nil, errors.New("the CA certificate (ca.crt or caFile) holds no PEM certificate; give the PEM text of the server's CA")
	}
	return httpclient.New(append(gitHTTPLimits(), httpclient.WithTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))...), nil
}
