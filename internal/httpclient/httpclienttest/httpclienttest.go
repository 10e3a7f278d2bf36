// Package httpclienttest holds the hostile peers the network-limit tests
// of every client share.
package httpclienttest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Silent listens on loopback, accepts every connection and never sends
// a byte: no HTTP headers, no SSH banner, like a service behind a dead
// load balancer. It returns the address (host:port) and a count of the
// connections made, so a test can tell a retry from a single attempt.
// The connections are held open until the test ends.
func Silent(t testing.TB) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
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
	return ln.Addr().String(), &n
}
