package httpclient_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidegate/tidegate/internal/httpclient"
)

// silent accepts connections and never answers, like a stalled server or
// a load balancer with no backend. It counts the connections it got.
func silent(t *testing.T) (addr string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = &atomic.Int32{}
	done := make(chan struct{})
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				<-done
				return
			}
			conns.Add(1)
			held = append(held, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); close(done) })
	return ln.Addr().String(), conns
}

// endless answers 200 and then writes without end until the client goes.
func endless(t *testing.T, prefix string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, prefix)
		chunk := []byte(strings.Repeat(`"a",`, 1024))
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// stallAfter sends the headers and some of the body, then nothing.
func stallAfter(t *testing.T, sent string) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, sent)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv
}

// watchdog fails the test instead of hanging it if a limit does not work.
func watchdog(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func limitErr(t *testing.T, err error, want httpclient.Limit) *httpclient.LimitError {
	t.Helper()
	var le *httpclient.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want a *LimitError (%s)", err, want)
	}
	if le.Limit != want {
		t.Fatalf("limit = %s, want %s: %v", le.Limit, want, err)
	}
	return le
}

func TestHostileNetworkLimits(t *testing.T) {
	t.Run("endless body is cut at the cap", func(t *testing.T) {
		srv := endless(t, "[")
		c := httpclient.New(httpclient.WithMaxBodyBytes(1 << 20))
		body, err := get(watchdog(t), c, srv.URL)
		le := limitErr(t, err, httpclient.LimitSize)
		host := strings.TrimPrefix(srv.URL, "http://")
		if got, want := le.Error(), "response from "+host+" exceeded 1 MiB"; !strings.Contains(got, want) {
			t.Errorf("error = %q, want it to contain %q", got, want)
		}
		if len(body) > 1<<20 {
			t.Errorf("read %d bytes past a 1 MiB cap", len(body))
		}
		if le.Timeout() {
			t.Error("a size limit says it is a timeout; retries would repeat it")
		}
	})

	t.Run("the cap by request cuts each answer at its own cap", func(t *testing.T) {
		srv := endless(t, "[")
		c := httpclient.New(httpclient.WithMaxBodyBytesFor(func(r *http.Request) int64 {
			if strings.HasSuffix(r.URL.Path, "/small") {
				return 4 << 10
			}
			return 64 << 10
		}))
		for path, cap := range map[string]int{"/small": 4 << 10, "/large": 64 << 10} {
			body, err := get(watchdog(t), c, srv.URL+path)
			limitErr(t, err, httpclient.LimitSize)
			if len(body) != cap {
				t.Errorf("%s: read %d bytes, want the cap %d", path, len(body), cap)
			}
		}
	})

	t.Run("silent server fails at the response-header timeout", func(t *testing.T) {
		addr, conns := silent(t)
		c := httpclient.New(httpclient.WithResponseHeaderTimeout(300 * time.Millisecond))
		ctx := watchdog(t)
		_, err := get(ctx, c, "http://"+addr+"/v2/")
		le := limitErr(t, err, httpclient.LimitHeaders)
		if le.After != 300*time.Millisecond || !strings.Contains(err.Error(), addr+" did not answer within 300ms") {
			t.Errorf("error = %v", err)
		}
		if ctx.Err() != nil {
			t.Error("the watchdog, not the client, ended the request")
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%v is not a net.Error timeout; retry logic would not know it", err)
		}
		if conns.Load() != 1 {
			t.Errorf("%d connections, want 1", conns.Load())
		}
	})

	t.Run("server stalling mid-body fails at the stall timeout", func(t *testing.T) {
		srv := stallAfter(t, `{"tags":["v1",`)
		c := httpclient.New(httpclient.WithStallTimeout(300*time.Millisecond), httpclient.WithRequestTimeout(0))
		body, err := get(watchdog(t), c, srv.URL)
		limitErr(t, err, httpclient.LimitStall)
		if string(body) != `{"tags":["v1",` {
			t.Errorf("body before the stall = %q", body)
		}
	})

	t.Run("trickling server fails at the overall deadline", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for {
				if _, err := io.WriteString(w, "x"); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-time.After(20 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
			}
		}))
		t.Cleanup(srv.Close)
		c := httpclient.New(httpclient.WithStallTimeout(5*time.Second), httpclient.WithRequestTimeout(400*time.Millisecond))
		_, err := get(watchdog(t), c, srv.URL)
		limitErr(t, err, httpclient.LimitRequest)
	})

	t.Run("cancelled run stops a silent request", func(t *testing.T) {
		addr, _ := silent(t)
		c := httpclient.New()
		ctx, cancel := context.WithCancel(watchdog(t))
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := get(ctx, c, "http://"+addr+"/")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		var le *httpclient.LimitError
		if errors.As(err, &le) {
			t.Errorf("a cancelled run is reported as a broken limit: %v", err)
		}
	})
}

func TestBodyUpToTheCapIsRead(t *testing.T) {
	want := strings.Repeat("x", 4096)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, want)
	}))
	t.Cleanup(srv.Close)
	c := httpclient.New(httpclient.WithMaxBodyBytes(4096))
	for i := range 3 { // and the connection is reused
		got, err := get(watchdog(t), c, srv.URL)
		if err != nil || string(got) != want {
			t.Fatalf("request %d: %d bytes, %v", i, len(got), err)
		}
	}
}

func TestSlowReaderIsNotAStall(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ab")
	}))
	t.Cleanup(srv.Close)
	c := httpclient.New(httpclient.WithStallTimeout(100 * time.Millisecond))
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var one [1]byte
	if _, err := resp.Body.Read(one[:]); err != nil {
		t.Fatal(err)
	}
	// The caller, not the server, takes its time (a Git client
	// resolving deltas between reads).
	time.Sleep(300 * time.Millisecond)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(one[:])+string(rest) != "ab" {
		t.Fatalf("after a pause: %q, %v", rest, err)
	}
}
