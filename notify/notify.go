package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tidegate/tidegate/internal/httpclient"
)

const (
	defaultTimeout   = 10 * time.Second
	defaultRetries   = 2
	defaultUserAgent = "tidegate"
	// firstBackoff doubles with each retry when the server does not say
	// how long to wait.
	firstBackoff = 500 * time.Millisecond
	// maxRetryAfter caps a server's Retry-After: a run should not sit
	// idle for minutes to deliver a chat message.
	maxRetryAfter = 30 * time.Second
	// maxErrorBody is how much of a rejected request's response goes in
	// the error: enough for Slack's "invalid_payload" or a JSON error.
	maxErrorBody = 200
)

// Notifier posts events to a fixed set of targets. It is safe for
// concurrent use.
type Notifier struct {
	targets   []Target
	client    *http.Client
	timeout   time.Duration
	retries   int
	userAgent string
	sleep     func(context.Context, time.Duration) error
}

// Option configures a Notifier.
type Option func(*Notifier)

// WithHTTPClient sets the client requests are made with, e.g. for a proxy
// or a custom CA. The default comes from internal/httpclient: it honours
// HTTPS_PROXY and has connect, response-header and stall timeouts and a
// 32 MiB response cap of its own, inside the delivery timeout.
func WithHTTPClient(c *http.Client) Option {
	return func(n *Notifier) {
		if c != nil {
			n.client = c
		}
	}
}

// WithTimeout bounds the delivery to each target, retries and waits
// included (default 10s), so that Send returns within about d however the
// webhooks behave. d <= 0 leaves only the context's deadline.
func WithTimeout(d time.Duration) Option {
	return func(n *Notifier) { n.timeout = d }
}

// WithRetries sets how many times a failed delivery is retried after the
// first attempt (default 2). Only transient failures are retried: 5xx,
// 429 and network errors. Waits double from 500ms, or follow the server's
// Retry-After up to 30s; a wait that would end after the timeout is not
// started.
func WithRetries(retries int) Option {
	return func(n *Notifier) { n.retries = max(retries, 0) }
}

// WithUserAgent sets the User-Agent header (default "tidegate").
func WithUserAgent(ua string) Option {
	return func(n *Notifier) {
		if ua != "" {
			n.userAgent = ua
		}
	}
}

// WithSleep replaces how the Notifier waits between attempts. sleep must
// return ctx.Err() if ctx ends first. Tests use it to observe the waits
// (including a server's Retry-After) without spending them.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(n *Notifier) {
		if sleep != nil {
			n.sleep = sleep
		}
	}
}

// New returns a Notifier for targets. Targets are checked when sending,
// so that one bad target does not silence the others.
func New(targets []Target, opts ...Option) *Notifier {
	n := &Notifier{
		targets:   append([]Target(nil), targets...),
		client:    httpclient.New(),
		timeout:   defaultTimeout,
		retries:   defaultRetries,
		userAgent: defaultUserAgent,
		sleep:     sleepContext,
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

// Send posts e to every target at once and waits for all of them, so it
// returns within about the timeout. The error joins one error per failed
// target, each naming the target by kind and host only; it says nothing
// about the run itself, and callers usually log it as a warning. A nil
// Notifier, or one without targets, sends nothing.
func (n *Notifier) Send(ctx context.Context, e Event) error {
	if n == nil || len(n.targets) == 0 {
		return nil
	}
	errs := make([]error, len(n.targets))
	var wg sync.WaitGroup
	for i, t := range n.targets {
		wg.Go(func() {
			if err := n.deliver(ctx, t, e); err != nil {
				errs[i] = &targetError{target: t, err: err}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// deliver posts e to t, retrying transient failures within the timeout.
func (n *Notifier) deliver(ctx context.Context, t Target, e Event) error {
	if err := t.validate(); err != nil {
		return err
	}
	body, err := payload(t.Kind, e)
	if err != nil {
		return fmt.Errorf("encode %s payload: %w", t.Kind, err)
	}
	if n.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.timeout)
		defer cancel()
	}
	for attempt := 0; ; attempt++ {
		retry, after, err := n.post(ctx, t, body)
		if err == nil {
			return nil
		}
		if !retry || attempt >= n.retries || ctx.Err() != nil {
			if retry && attempt > 0 {
				return fmt.Errorf("gave up after %d attempts: %w", attempt+1, err)
			}
			return err
		}
		wait := min(firstBackoff<<min(attempt, 6), maxRetryAfter)
		if after > 0 {
			wait = min(after, maxRetryAfter)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return fmt.Errorf("%w; not retried: the next attempt would be due in %s, after the notification timeout", err, wait.Round(time.Millisecond))
		}
		if serr := n.sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%w; stopped retrying: %w", err, serr)
		}
	}
}

// post makes one attempt. retry says whether another attempt may
// succeed; after is the server's Retry-After, if it sent one.
func (n *Notifier) post(ctx context.Context, t Target, body []byte) (retry bool, after time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return false, 0, fmt.Errorf("build request: %w", stripURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", n.userAgent)
	resp, err := n.client.Do(req)
	if err != nil {
		// The transport's error quotes the full URL, token and all.
		err = stripURL(err)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return false, 0, fmt.Errorf("no answer within the notification timeout: %w", err)
		}
		if ctx.Err() != nil {
			return false, 0, fmt.Errorf("gave up: %w", err)
		}
		return true, 0, fmt.Errorf("cannot reach %s: %w; check the network, proxy and DNS from where tidegate runs", host(t.URL), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return false, 0, nil
	}
	snippet := readSnippet(resp.Body)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	serr := &statusError{code: resp.StatusCode, status: resp.Status, body: snippet, kind: t.Kind}
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return retry, retryAfter(resp.Header.Get("Retry-After")), serr
}

// statusError is a response outside 2xx.
type statusError struct {
	code   int
	status string
	body   string
	kind   string
}

func (e *statusError) Error() string {
	msg := "HTTP " + e.status
	if e.status == "" {
		msg = "HTTP " + strconv.Itoa(e.code)
	}
	if e.body != "" {
		msg += ": " + e.body
	}
	if hint := e.hint(); hint != "" {
		msg += "; " + hint
	}
	return msg
}

// hint says what to do about a status, since a bare code is rarely
// enough for the person reading a CI log.
func (e *statusError) hint() string {
	switch {
	case (e.code == http.StatusBadRequest || e.code == http.StatusUnprocessableEntity) && e.kind == KindJSON:
		return "the endpoint rejected tidegate's JSON event; check what it expects"
	case e.code == http.StatusBadRequest || e.code == http.StatusUnprocessableEntity:
		return fmt.Sprintf("the service rejected the message: check that the URL is a %s webhook (the KIND= before the URL picks the message format)", e.kind)
	case e.code == http.StatusUnauthorized || e.code == http.StatusForbidden ||
		e.code == http.StatusNotFound || e.code == http.StatusGone:
		return "the webhook URL is wrong, revoked or expired: create a new webhook and update the notification target"
	case e.code == http.StatusRequestEntityTooLarge:
		return "the message is too large for the service; please report this as a tidegate bug"
	case e.code == http.StatusTooManyRequests:
		return "rate limited: notify less often, or give this job its own webhook"
	case e.code >= 500:
		return "the service failed; the run itself is unaffected, try again later"
	}
	return ""
}

// targetError names the failed target without its secret URL.
type targetError struct {
	target Target
	err    error
}

func (e *targetError) Error() string {
	return scrub("notify "+e.target.String()+": "+e.err.Error(), e.target.URL)
}

func (e *targetError) Unwrap() error { return e.err }

// scrub removes a webhook URL's secret parts from msg, in case a
// transport or a server echoed them back.
func scrub(msg, rawURL string) string {
	msg = strings.ReplaceAll(msg, rawURL, Redact(rawURL))
	u, err := url.Parse(rawURL)
	if err != nil {
		return msg
	}
	for _, secret := range []string{u.EscapedPath(), u.Path, u.RawQuery, u.User.String()} {
		// Short pieces ("/", "v=1") are not secrets and would mangle
		// unrelated text.
		if len(secret) >= 8 {
			msg = strings.ReplaceAll(msg, secret, "…")
		}
	}
	return msg
}

// stripURL drops the *url.Error wrapper, whose message includes the URL;
// the cause (and its %w chain) is kept.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// readSnippet reads up to maxErrorBody bytes of a response body as one
// line of valid text.
func readSnippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxErrorBody+1))
	more := len(b) > maxErrorBody
	if more {
		b = b[:maxErrorBody]
		// Don't end on half a character.
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0; i++ {
			if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size > 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "�")), " ")
	if more {
		s += "…"
	}
	return s
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, maxRetryAfter.Seconds()) * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

func sleepContext(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
