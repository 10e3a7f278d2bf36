package images

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/tidegate/tidegate/images/registrytest"
	"github.com/tidegate/tidegate/images/scan"
)

// base is the creation time of the fixture images; tags are created at
// base plus a number of hours, which orders Flux v1 glob and regex picks.
var base = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)

// fixtureRepos is the registry content the goldens are written against.
var fixtureRepos = map[string][]struct {
	hours int
	tags  []string
}{
	"apps/podinfo": {
		{0, []string{"5.0.0"}}, {1, []string{"5.0.3"}}, {2, []string{"5.1.0", "latest"}},
		{3, []string{"6.0.0-rc.1"}}, {4, []string{"6.0.0-rc.2"}}, {5, []string{"sha256-aaaa.sig"}},
	},
	"apps/builds": {
		{0, []string{"main-a1b2c3-1700000100"}}, {1, []string{"main-d4e5f6-1700000900"}},
		{2, []string{"main-0a0b0c-1700000500"}}, {3, []string{"pr-7-ffffff-1800000000"}}, {4, []string{"zzz.sig"}},
	},
	"apps/legacy": {
		{1, []string{"master-aaa", "3.10.1"}}, {3, []string{"master-bbb"}}, {2, []string{"master-ccc"}},
		{4, []string{"3.10.5"}}, {0, []string{"3.1.2"}}, {0, []string{"3.1.9"}}, {5, []string{"4.0.0"}},
	},
}

// startFixture starts an in-process registry holding fixtureRepos and
// returns scan options that reach it as registry.test (plain HTTP), the
// host the goldens name.
func startFixture(tb testing.TB, opts ...registrytest.Option) (*registrytest.Registry, scan.Options) {
	tb.Helper()
	reg := registrytest.New(tb, opts...)
	for repo, images := range fixtureRepos {
		for _, img := range images {
			registrytest.Push(tb, reg.Host(), reg.Auth(), repo, base.Add(time.Duration(img.hours)*time.Hour), img.tags...)
		}
	}
	return reg, scanOptionsFor(reg.Host(), "registry.test")
}

// scanOptionsFor routes connections for alias to the registry at host.
func scanOptionsFor(host, alias string) scan.Options {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if h, _, _ := net.SplitHostPort(addr); h == alias {
			addr = host
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	return scan.Options{
		Transport: t,
		Insecure:  []string{alias},
		Keychain:  &scan.Keychain{},
		Retry:     scan.Retry{Attempts: 2, Initial: time.Millisecond},
	}
}
