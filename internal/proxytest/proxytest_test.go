package proxytest_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/tidegate/tidegate/internal/proxytest"
)

// TestProxy checks the proxy itself with an explicitly configured client:
// a tunnel for https, absolute-URI forwarding for http, a refusal for
// anything outside the test domain, and no tunnel outliving Close.
func TestProxy(t *testing.T) {
	p := proxytest.Start(t)
	ca := proxytest.NewCA(t)
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello "+r.Host) })
	tlsSrv := ca.StartTLS(t, "secure", hello)
	plain := httptest.NewServer(hello)
	t.Cleanup(plain.Close)

	proxyURL, _ := url.Parse(p.URL)
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := client.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	secure := proxytest.Addr("secure", tlsSrv)
	if code, body := get("https://" + secure + "/x"); code != 200 || body != "hello "+secure {
		t.Errorf("https through the tunnel: %d %q", code, body)
	}
	insecure := proxytest.Addr("plain", plain)
	if code, body := get("http://" + insecure + "/x"); code != 200 || body != "hello "+insecure {
		t.Errorf("http forwarded: %d %q", code, body)
	}
	if code, _ := get("http://example.com/"); code != http.StatusForbidden {
		t.Errorf("a host outside %s was forwarded: %d", proxytest.Domain, code)
	}
	if _, err := client.Get("https://example.com/"); err == nil {
		t.Error("a tunnel to a host outside the test domain was opened")
	}
	want := []proxytest.Request{
		{Method: "CONNECT", Target: secure},
		{Method: "GET", Target: insecure},
		{Method: "GET", Target: "example.com:80", Refused: true},
		{Method: "CONNECT", Target: "example.com:443", Refused: true},
	}
	if got := p.Requests(); !slices.Equal(got, want) {
		t.Errorf("requests = %+v, want %+v", got, want)
	}

	// A tunnel still open when the proxy closes is cut.
	resp, err := client.Get("https://" + secure + "/again")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p.Close()
	if _, err := client.Get("https://" + secure + "/after"); err == nil {
		t.Error("a request after Close succeeded")
	}
}
