// Package proxytest runs a real forwarding HTTP proxy on loopback, and a
// certificate authority for the TLS servers behind it, for the tests that
// prove tidegate honours HTTPS_PROXY, HTTP_PROXY and NO_PROXY.
//
// Go never sends requests for "localhost" or a loopback address through a
// proxy (golang.org/x/net/http/httpproxy), so the servers behind the
// proxy are addressed by names below Domain, such as
// git.tidegate.test:PORT. No resolver knows these names (.test is
// reserved): only the proxy maps them to 127.0.0.1 when it dials. A
// request that bypasses the proxy therefore fails to resolve its host,
// which is how a test sees NO_PROXY at work, and the proxy's record shows
// which hosts went through it.
package proxytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Domain is the pseudo-domain the proxy resolves to 127.0.0.1.
const Domain = "tidegate.test"

// Addr returns name.Domain:PORT for a test server listening on loopback,
// the address to reach it by through the proxy.
func Addr(name string, srv *httptest.Server) string {
	return net.JoinHostPort(name+"."+Domain, fmt.Sprint(srv.Listener.Addr().(*net.TCPAddr).Port))
}

// Request is one request the proxy received.
type Request struct {
	// Method is CONNECT for a tunnel (an https:// URL), otherwise the
	// method of a plain HTTP request forwarded in absolute form.
	Method string
	// Target is the host:port asked for.
	Target string
	// Refused is set when Target is not below Domain: the proxy reaches
	// nothing but the test's own servers.
	Refused bool
}

// Proxy is a forwarding HTTP proxy on 127.0.0.1. It tunnels CONNECT
// requests and forwards absolute-URI requests, dialing only hosts below
// Domain, which it maps to 127.0.0.1.
type Proxy struct {
	// URL is the value for HTTPS_PROXY and HTTP_PROXY.
	URL string

	srv     *http.Server
	forward *httputil.ReverseProxy
	wg      sync.WaitGroup

	mu     sync.Mutex
	reqs   []Request
	conns  map[net.Conn]struct{}
	closed bool
}

// Start runs a proxy until tb ends.
func Start(tb testing.TB) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.forward = &httputil.ReverseProxy{
		// The request already holds the absolute URL and Host; Rewrite
		// leaves them and ReverseProxy drops the hop-by-hop headers
		// (Proxy-Connection, Proxy-Authorization).
		Rewrite: func(*httputil.ProxyRequest) {},
		Transport: &http.Transport{
			Proxy:       nil,
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) { return p.dial(ctx, addr) },
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "proxytest: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = p.srv.Serve(ln)
	}()
	tb.Cleanup(p.Close)
	return p
}

// Requests returns what the proxy was asked for, in order.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.reqs...)
}

// Targets returns the distinct targets asked for, in order of first
// request.
func (p *Proxy) Targets() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range p.Requests() {
		if !seen[r.Target] {
			seen[r.Target] = true
			out = append(out, r.Target)
		}
	}
	return out
}

// Close stops the proxy, cuts every open tunnel and waits for its
// goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	_ = p.srv.Close()
	p.forward.Transport.(*http.Transport).CloseIdleConnections()
	p.wg.Wait()
}

// ServeHTTP tunnels CONNECT requests and forwards absolute-URI ones.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		p.tunnel(w, r)
	case r.URL.IsAbs() && r.URL.Host != "":
		target := r.URL.Host
		if r.URL.Port() == "" {
			target = net.JoinHostPort(r.URL.Hostname(), "80")
		}
		if !p.record(r.Method, target) {
			http.Error(w, "proxytest: only hosts below ."+Domain+" are forwarded", http.StatusForbidden)
			return
		}
		p.forward.ServeHTTP(w, r)
	default:
		http.Error(w, "proxytest: not a proxy request", http.StatusBadRequest)
	}
}

// record notes a request and reports whether its target may be reached.
func (p *Proxy) record(method, target string) bool {
	ok := allowed(target)
	p.mu.Lock()
	p.reqs = append(p.reqs, Request{Method: method, Target: target, Refused: !ok})
	p.mu.Unlock()
	return ok
}

func allowed(target string) bool {
	host, _, err := net.SplitHostPort(target)
	return err == nil && strings.HasSuffix(strings.ToLower(host), "."+Domain)
}

var errRefused = errors.New("proxytest: only hosts below ." + Domain + " are reached")

// dial connects to target, a host below Domain, on 127.0.0.1.
func (p *Proxy) dial(ctx context.Context, target string) (net.Conn, error) {
	if !allowed(target) {
		return nil, errRefused
	}
	_, port, _ := net.SplitHostPort(target)
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return nil, err
	}
	if !p.track(c) {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	return c, nil
}

// track registers a connection for Close; it reports false once the
// proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// release closes a tracked connection and forgets it.
func (p *Proxy) release(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// begin counts a tunnel for Close to wait for; it reports false once the
// proxy is closed.
func (p *Proxy) begin() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request) {
	if !p.record(r.Method, r.Host) {
		http.Error(w, errRefused.Error(), http.StatusForbidden)
		return
	}
	// A hijacked connection is outside the server's bookkeeping: count
	// the tunnel so that Close waits for it.
	if !p.begin() {
		http.Error(w, "proxytest: closed", http.StatusServiceUnavailable)
		return
	}
	defer p.wg.Done()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	up, err := p.dial(ctx, r.Host)
	cancel()
	if err != nil {
		http.Error(w, "proxytest: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer p.release(up)
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "proxytest: cannot hijack", http.StatusInternalServerError)
		return
	}
	down, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	if !p.track(down) {
		_ = down.Close()
		return
	}
	defer p.release(down)
	if _, err := io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	// The client may have sent the start of its TLS handshake along with
	// the CONNECT request; it waits in the server's buffered reader.
	from := io.MultiReader(io.LimitReader(rw.Reader, int64(rw.Reader.Buffered())), down)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, from); done <- struct{}{} }()
	go func() { _, _ = io.Copy(down, up); done <- struct{}{} }()
	<-done
	// Either side finishing ends the tunnel; closing both unblocks the
	// other copy.
	_ = up.Close()
	_ = down.Close()
	<-done
}

// CA is a throwaway certificate authority for test servers.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA certificate, and File a file holding it: the value
	// for SSL_CERT_FILE.
	PEM  []byte
	File string
}

// NewCA makes a certificate authority valid for a day; its file lasts as
// long as tb.
func NewCA(tb testing.TB) *CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: "tidegate proxytest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	ca := &CA{cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.File = filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(ca.File, ca.PEM, 0o644); err != nil {
		tb.Fatal(err)
	}
	return ca
}

// Pool returns a pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Certificate issues a server certificate for names: host names, or IP
// addresses.
func (ca *CA) Certificate(tb testing.TB, names ...string) tls.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(tb),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// StartTLS serves h over HTTPS on 127.0.0.1 with a certificate for
// name.Domain and 127.0.0.1, until tb ends. Reach it through the proxy at
// Addr(name, srv).
func (ca *CA) StartTLS(tb testing.TB, name string, h http.Handler) *httptest.Server {
	tb.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Certificate(tb, name+"."+Domain, "127.0.0.1")}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	return srv
}

// URL returns scheme://name.Domain:PORT of srv.
func URL(name string, srv *httptest.Server) string {
	u, _ := url.Parse(srv.URL)
	return u.Scheme + "://" + Addr(name, srv)
}

func serial(tb testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
