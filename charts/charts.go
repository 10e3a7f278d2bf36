package charts

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	chartv2 "helm.sh/helm/v4/pkg/chart/v2"

	"github.com/tidegate/tidegate/internal/httpclient"
)

// The defaults of Options.
const (
	DefaultTimeout         = 2 * time.Minute
	DefaultMaxIndexBytes   = 64 << 20
	DefaultMaxArchiveBytes = 16 << 20
	DefaultMaxChartBytes   = 100 << 20
)

// Options bound and place the fetches; the zero value is usable.
type Options struct {
	// Timeout bounds each request, body included (default 2m).
	Timeout time.Duration
	// MaxIndexBytes caps an index.yaml or an OCI manifest or tag list
	// (default 64 MiB; the largest public indexes are some 20 MiB).
	MaxIndexBytes int64
	// MaxArchiveBytes caps a chart package as downloaded (default
	// 16 MiB), MaxChartBytes the sum of its files unpacked (default
	// 100 MiB, the SDK's own limit).
	MaxArchiveBytes int64
	MaxChartBytes   int64
	// CacheDir, when set, keeps verified archives by digest between
	// runs; an entry is used again only when its content still has the
	// digest the index or registry names.
	CacheDir string
	Logger   *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxIndexBytes <= 0 {
		o.MaxIndexBytes = DefaultMaxIndexBytes
	}
	if o.MaxArchiveBytes <= 0 {
		o.MaxArchiveBytes = DefaultMaxArchiveBytes
	}
	if o.MaxChartBytes <= 0 {
		o.MaxChartBytes = DefaultMaxChartBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Fetcher fetches charts; it holds no connection between calls.
type Fetcher struct{ opts Options }

// New returns a Fetcher with opts, defaults filled in.
func New(opts Options) *Fetcher { return &Fetcher{opts: opts.withDefaults()} }

// Repository is a HelmRepository's or OCIRepository's spec as far as a
// fetch needs it.
type Repository struct {
	// URL is https://… (or http://) for an index, oci://… for a
	// registry.
	URL string
	// Secret is the data of the secretRef (and certSecretRef), base64
	// decoded; nil for a public repository.
	Secret map[string][]byte
	// PassCredentials sends the credentials to hosts other than the
	// repository's (a package URL on a CDN).
	PassCredentials bool
	// Insecure allows plain HTTP to an OCI registry.
	Insecure bool
}

// Chart is a fetched, loaded chart.
type Chart struct {
	Chart   *chartv2.Chart
	Name    string
	Version string
	// Digest is the archive's "sha256:…" (empty for a directory).
	Digest string
	// URL is where it came from, safe to print.
	URL string
	// Cached is true when the archive came from the cache directory.
	Cached bool
}

// Secret keys read from a repository's secret.
const (
	keyUsername   = "username"
	keyPassword   = "password"
	keyCA         = "ca.crt"
	keyCALegacy   = "caFile"
	keyCert       = "tls.crt"
	keyCertLegacy = "certFile"
	keyKey        = "tls.key"
	keyKeyLegacy  = "keyFile"
	keyDocker     = ".dockerconfigjson"
)

func secretValue(s map[string][]byte, keys ...string) []byte {
	for _, k := range keys {
		if v, ok := s[k]; ok {
			return v
		}
	}
	return nil
}

// credentials are what a request may carry.
type credentials struct {
	user, pass string
}

func (r Repository) basicAuth() (credentials, error) {
	u, p := string(r.Secret[keyUsername]), string(r.Secret[keyPassword])
	if (u == "") != (p == "") {
		return credentials{}, errors.New("the secret has a username or a password but not both: set both keys")
	}
	return credentials{user: u, pass: p}, nil
}

// tlsConfig builds the repository's TLS configuration from its secret;
// nil when the secret has no TLS key.
func (r Repository) tlsConfig() (*tls.Config, error) {
	ca := secretValue(r.Secret, keyCA, keyCALegacy)
	cert := secretValue(r.Secret, keyCert, keyCertLegacy)
	key := secretValue(r.Secret, keyKey, keyKeyLegacy)
	if ca == nil && cert == nil && key == nil {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != nil {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("the secret's %s holds no PEM certificate: put the CA's certificate there", keyCA)
		}
		c.RootCAs = pool
	}
	if (cert == nil) != (key == nil) {
		return nil, fmt.Errorf("the secret has only one of %s and %s: a client certificate needs both", keyCert, keyKey)
	}
	if cert != nil {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			// The parse error can quote the key's bytes; say only which.
			return nil, fmt.Errorf("the secret's %s/%s are not a matching PEM certificate and key", keyCert, keyKey)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// transport is the bounded transport of one repository.
func (f *Fetcher) transport(r Repository, maxBody int64) (http.RoundTripper, error) {
	tc, err := r.tlsConfig()
	if err != nil {
		return nil, err
	}
	return httpclient.NewTransport(
		httpclient.WithRequestTimeout(f.opts.Timeout),
		httpclient.WithResponseHeaderTimeout(min(f.opts.Timeout, httpclient.DefaultResponseHeaderTimeout)),
		httpclient.WithStallTimeout(min(f.opts.Timeout, httpclient.DefaultStallTimeout)),
		httpclient.WithMaxBodyBytes(maxBody+1),
		httpclient.WithTLSConfig(tc),
	), nil
}

// redact prints a URL without its user info.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable URL)"
	}
	u.User = nil
	return u.String()
}

// secretError replaces the secret's values in an error's text, in case
// a library quotes them; errors.Is and As still see the cause.
type secretError struct {
	err     error
	secrets []string
}

func (e *secretError) Error() string {
	s := e.err.Error()
	for _, v := range e.secrets {
		if len(v) >= 3 {
			s = strings.ReplaceAll(s, v, "***")
		}
	}
	return s
}

func (e *secretError) Unwrap() error { return e.err }

func scrub(err error, r Repository) error {
	if err == nil || len(r.Secret) == 0 {
		return err
	}
	var secrets []string
	for k, v := range r.Secret {
		if k != keyUsername {
			secrets = append(secrets, string(v))
		}
	}
	secrets = append(secrets, dockerPasswords(r.Secret[keyDocker])...)
	return &secretError{err: err, secrets: secrets}
}

// sameHost reports whether two URLs share scheme, host and port, the
// unit Flux's passCredentials speaks of.
func sameHost(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}
