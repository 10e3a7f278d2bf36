package metrics

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tidegate/tidegate/internal/httpclient"
	"github.com/tidegate/tidegate/internal/httpclient/httpclienttest"
)

func TestHostileNetworkPushgateway(t *testing.T) {
	addr, conns := httpclienttest.Silent(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := httpclient.New(httpclient.WithResponseHeaderTimeout(300 * time.Millisecond))
	// No push timeout: the client's own limit must end the wait.
	err := Push(ctx, "http://user:hunter2@"+addr, "", nil, sampleRun(time.Unix(1_750_000_000, 0)), "v1", WithHTTPClient(client), WithTimeout(0))
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
