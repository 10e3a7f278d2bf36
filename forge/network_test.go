package forge_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidegate/tidegate/forge"
	"github.com/tidegate/tidegate/internal/httpclient"
	"github.com/tidegate/tidegate/internal/httpclient/httpclienttest"
)

// endlessAPI answers every request with a JSON list that never ends, and
// counts what it sent.
func endlessAPI(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "[")
		chunk := []byte(strings.Repeat(`{"number":1,"title":"x"},`, 256))
		for {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &sent
}

func TestHostileNetworkForge(t *testing.T) {
	const limit = 1 << 20
	client := func() *http.Client {
		return httpclient.New(httpclient.WithMaxBodyBytes(limit), httpclient.WithResponseHeaderTimeout(300*time.Millisecond))
	}
	providers := []struct {
		p      forge.Provider
		remote string
	}{
		{forge.GitHub, "https://github.com/acme/fleet.git"},
		{forge.GitLab, "https://gitlab.example/acme/fleet.git"},
		{forge.Gitea, "https://gitea.example/acme/fleet.git"},
	}
	for _, pv := range providers {
		t.Run(string(pv.p)+"/silent API fails at the response-header timeout", func(t *testing.T) {
			addr, conns := httpclienttest.Silent(t)
			api := "http://" + addr
			f, err := forge.New(forge.Config{Provider: pv.p, RemoteURL: pv.remote, APIURL: api, Token: token, HTTPClient: client()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pr, err := f.FindByHead(ctx, "tidegate/images/x")
			host := strings.TrimPrefix(api, "http://")
			if err == nil || !strings.Contains(err.Error(), host+" did not answer within 300ms") {
				t.Fatalf("FindByHead = %v, %v; want a timeout naming %s", pr, err, host)
			}
			if ctx.Err() != nil {
				t.Fatal("the watchdog, not the client, ended the call")
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("the error shows the token: %v", err)
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("%d connections, want 1 (no retry of a silent API)", n)
			}
		})
		t.Run(string(pv.p)+"/endless answer fails at the size cap", func(t *testing.T) {
			srv, sent := endlessAPI(t)
			f, err := forge.New(forge.Config{Provider: pv.p, RemoteURL: pv.remote, APIURL: srv.URL, Token: token, HTTPClient: client()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pr, err := f.FindByHead(ctx, "tidegate/images/x")
			want := "response from " + strings.TrimPrefix(srv.URL, "http://") + " exceeded 1 MiB"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("FindByHead = %v, %v; want %q", pr, err, want)
			}
			if ctx.Err() != nil || pr != nil {
				t.Fatalf("watchdog %v, pull request %v", ctx.Err(), pr)
			}
			if s := sent.Load(); s > limit+32<<20 {
				t.Errorf("the API sent %d MiB before tidegate stopped reading", s>>20)
			}
		})
	}
}
