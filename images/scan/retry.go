package scan

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tidegate/tidegate/internal/httpclient"
)

// Retry configures retries of rate-limited and failed registry requests.
type Retry struct {
	// Attempts is the number of tries per request, the first included.
	Attempts int
	// Initial is the wait before the second try; it triples each time.
	Initial time.Duration
	// Max caps each wait. A Retry-After longer than Max is not waited
	// for: the request fails with the registry's answer instead.
	Max time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 5
	}
	if r.Initial <= 0 {
		r.Initial = 500 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 30 * time.Second
	}
	return r
}

type retryTransport struct {
	inner http.RoundTripper
	retry Retry
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	wait := t.retry.Initial
	for attempt := 1; ; attempt++ {
		resp, err := t.inner.RoundTrip(req)
		retryable := (err != nil && ctx.Err() == nil && retryableErr(err)) || (err == nil && retryableStatus(resp.StatusCode))
		rewindable := req.Body == nil || req.GetBody != nil
		if !retryable || !rewindable || attempt >= t.retry.Attempts {
			return resp, err
		}
		d := jitter(wait)
		if resp != nil {
			if ra, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				if ra > t.retry.Max {
					return resp, nil
				}
				d = ra
			}
			// Drain so the connection can be reused.
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if err := sleep(ctx, d); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(ctx)
			req.Body = body
		}
		wait = min(wait*3, t.retry.Max)
	}
}

// retryableErr accepts the network errors a retry can cure: a connection
// dropped or timed out mid-request. Refused connections, DNS and TLS
// failures (such as HTTPS to a plain HTTP registry, which
// go-containerregistry probes on purpose) are permanent. So is a broken
// network limit: a registry that said nothing for the whole response-header
// timeout would only make every retry wait as long again, and one that
// sent too much would send it again.
func retryableErr(err error) bool {
	var ne net.Error
	var le *httpclient.LimitError
	// Go's TLS handshake timeout is the same silence on an https port.
	if errors.As(err, &le) || strings.Contains(err.Error(), "TLS handshake timeout") {
		return false
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
