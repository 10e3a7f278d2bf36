package source_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tidegate/tidegate/internal/httpclient"
	"github.com/tidegate/tidegate/internal/httpclient/httpclienttest"
	"github.com/tidegate/tidegate/source"
	"github.com/tidegate/tidegate/source/sourcetest"
)

// noClones fails if a clone was left behind in tmp.
func noClones(t *testing.T, tmp string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(tmp, "tidegate-*"))
	if len(left) > 0 {
		t.Errorf("half clones left behind: %v", left)
	}
}

func TestHostileNetworkGit(t *testing.T) {
	f := newFixture(t)
	// Clones go to os.TempDir; give each case its own to look into.
	tmp := func(t *testing.T) string {
		d := t.TempDir()
		t.Setenv("TMPDIR", d)
		return d
	}
	watchdog := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	short := httpclient.New(
		httpclient.WithResponseHeaderTimeout(300*time.Millisecond),
		httpclient.WithStallTimeout(300*time.Millisecond),
		httpclient.WithRequestTimeout(0), httpclient.WithMaxBodyBytes(0),
	)

	t.Run("HTTP server stalling mid-pack fails at the stall timeout", func(t *testing.T) {
		dir := tmp(t)
		stall := sourcetest.StallingBackend(t, filepath.Dir(f.bare), 64)
		srv := httptest.NewServer(stall)
		t.Cleanup(srv.Close)
		ctx := watchdog(t)
		co, err := source.Open(ctx, srv.URL+"/repo.git", source.WithHTTPClient(short))
		want := strings.TrimPrefix(srv.URL, "http://") + " stopped sending: nothing for 300ms"
		if err == nil || !strings.Contains(err.Error(), want) {
			co.Close()
			t.Fatalf("clone from a stalling server: %v, want %q", err, want)
		}
		t.Log(err)
		select {
		case <-stall.Stalled():
		default:
			t.Fatal("the server never stalled: the test proves nothing")
		}
		if ctx.Err() != nil {
			t.Fatal("the watchdog, not the stall timeout, ended the clone")
		}
		noClones(t, dir)
	})

	t.Run("HTTP server that never answers fails at the response-header timeout", func(t *testing.T) {
		dir := tmp(t)
		addr, conns := httpclienttest.Silent(t)
		ctx := watchdog(t)
		_, err := source.Open(ctx, "http://"+addr+"/repo.git", source.WithHTTPClient(short))
		if err == nil || !strings.Contains(err.Error(), addr+" did not answer within 300ms") {
			t.Fatalf("clone from a silent server: %v", err)
		}
		if ctx.Err() != nil || conns.Load() != 1 {
			t.Fatalf("watchdog %v, %d connections", ctx.Err(), conns.Load())
		}
		noClones(t, dir)
	})

	t.Run("clone deadline ends a stalled transfer", func(t *testing.T) {
		dir := tmp(t)
		srv := httptest.NewServer(sourcetest.StallingBackend(t, filepath.Dir(f.bare), 64))
		t.Cleanup(srv.Close)
		ctx := watchdog(t)
		// The client's own limits are off: only the clone's deadline.
		_, err := source.Open(ctx, srv.URL+"/repo.git", source.WithHTTPClient(httpclient.New(httpclient.WithStallTimeout(0), httpclient.WithRequestTimeout(0))), source.WithTimeout(500*time.Millisecond))
		var de *source.DeadlineError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "did not finish within 500ms") || !strings.Contains(err.Error(), srv.URL) {
			t.Fatalf("clone past its deadline: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatal("the watchdog, not the clone deadline, ended the clone")
		}
		noClones(t, dir)
	})

	t.Run("cancel stops a stalled HTTP clone", func(t *testing.T) {
		dir := tmp(t)
		stall := sourcetest.StallingBackend(t, filepath.Dir(f.bare), 64)
		srv := httptest.NewServer(stall)
		t.Cleanup(srv.Close)
		ctx, cancel := context.WithCancel(watchdog(t))
		go func() {
			<-stall.Stalled()
			cancel()
		}()
		start := time.Now()
		_, err := source.Open(ctx, srv.URL+"/repo.git")
		if err == nil || !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("cancelled clone: %v", err)
		}
		// go-git stops an HTTP transfer at once: no abandoned goroutine.
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("a cancelled clone took %s to return", d)
		}
		noClones(t, dir)
	})

	t.Run("SSH server without a banner fails at the clone deadline", func(t *testing.T) {
		dir := tmp(t)
		addr, conns := httpclienttest.Silent(t)
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			t.Fatal(err)
		}
		key := pem.EncodeToMemory(block)
		ctx := watchdog(t)
		_, err = source.Open(ctx, "ssh://git@"+addr+"/repo.git",
			source.WithAuth(source.Auth{SSHKey: key, InsecureIgnoreHostKey: true}), source.WithTimeout(500*time.Millisecond))
		var de *source.DeadlineError
		if !errors.As(err, &de) {
			t.Fatalf("clone from a mute SSH server: %v, want a DeadlineError", err)
		}
		if ctx.Err() != nil || conns.Load() != 1 {
			t.Fatalf("watchdog %v, %d connections", ctx.Err(), conns.Load())
		}
		// go-git cannot stop an SSH handshake; the clone is abandoned
		// and its directory removed all the same.
		noClones(t, dir)
	})

	t.Run("HTTP server sending an endless ref list fails at the size cap", func(t *testing.T) {
		dir := tmp(t)
		var sent atomic.Int64
		done := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(done)
			if !strings.HasSuffix(r.URL.Path, "/info/refs") {
				t.Errorf("the client went on to %s %s", r.Method, r.URL)
				return
			}
			w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
			sha := strings.Repeat("a", 40)
			line := func(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }
			n, err := io.WriteString(w, line("# service=git-upload-pack\n")+"0000"+line(sha+" HEAD\x00multi_ack ofs-delta side-band-64k\n"))
			sent.Add(int64(n))
			for i := 0; err == nil; i++ {
				n, err = io.WriteString(w, line(fmt.Sprintf("%s refs/tags/t%09d\n", sha, i)))
				sent.Add(int64(n))
			}
		}))
		t.Cleanup(srv.Close)
		ctx := watchdog(t)
		_, err := source.Open(ctx, srv.URL+"/repo.git")
		want := "response from " + strings.TrimPrefix(srv.URL, "http://") + " exceeded 32 MiB"
		var le *httpclient.LimitError
		if !errors.As(err, &le) || le.Limit != httpclient.LimitSize || !strings.Contains(err.Error(), want) {
			t.Fatalf("clone from a server with an endless ref list: %v, want %q", err, want)
		}
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatal("the server was still sending when the watchdog fired")
		}
		if ctx.Err() != nil {
			t.Fatal("the watchdog, not the size cap, ended the clone")
		}
		if n := sent.Load(); n < 32<<20 {
			t.Fatalf("the server sent only %d bytes: the cap was not what stopped it", n)
		}
		noClones(t, dir)
	})
}
