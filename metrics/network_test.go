package metrics

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidegate/tidegate/internal/httpclient"
)

func TestHostileNetworkPushgateway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	addr := ln.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := httpclient.New(httpclient.WithResponseHeaderTimeout(300 * time.Millisecond))
	// No push timeout: the client's own limit must end the wait.
	err = Push(ctx, "http://user:hunter2@"+addr, "", nil, sampleRun(time.Unix(1_750_000_000, 0)), "v1", WithHTTPClient(client), WithTimeout(0))
	if err == nil || !strings.Contains(err.Error(), addr+" did not answer within 300ms") {
		t.Fatalf("Push to a silent Pushgateway = %v, want a timeout naming %s", err, addr)
	}
	if ctx.Err() != nil {
		t.Fatal("the watchdog, not the client, ended the push")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error shows the password: %v", err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}
