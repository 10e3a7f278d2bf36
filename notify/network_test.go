package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tidegate/tidegate/internal/httpclient"
	"github.com/tidegate/tidegate/internal/httpclient/httpclienttest"
	"github.com/tidegate/tidegate/notify"
)

func TestHostileNetworkWebhook(t *testing.T) {
	addr, conns := httpclienttest.Silent(t)
	tg, err := notify.ParseTarget("slack=http://" + addr + secretPath)
	if err != nil {
		t.Fatal(err)
	}
	client := httpclient.New(httpclient.WithResponseHeaderTimeout(300 * time.Millisecond))
	// No delivery timeout: the client's own limit must end the wait.
	n := notify.New([]notify.Target{tg}, notify.WithHTTPClient(client), notify.WithTimeout(0), notify.WithRetries(1),
		notify.WithSleep(func(context.Context, time.Duration) error { return nil }))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = n.Send(ctx, successEvent())
	if err == nil || !strings.Contains(err.Error(), addr+" did not answer within 300ms") {
		t.Fatalf("Send to a silent webhook = %v, want a timeout naming %s", err, addr)
	}
	if ctx.Err() != nil {
		t.Fatal("the watchdog, not the client, ended the delivery")
	}
	if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "/services/") {
		t.Errorf("the error shows the webhook's secret path: %v", err)
	}
	if got := conns.Load(); got != 2 {
		t.Errorf("%d connections, want 2 (the attempt and its one retry)", got)
	}
}
