package metrics

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/tidegate/tidegate/internal/httpclient"
)

// Job is the Pushgateway job tidegate pushes under when Push is given none.
const Job = "tidegate"

// Grouping is the grouping key Push uses when given none: one group per
// inventory and command, so that runs of different commands (reconcile,
// images update) or inventories do not replace each other's metrics.
func Grouping(r Run) map[string]string {
	return map[string]string{labelInventory: r.Inventory, labelCommand: r.Command}
}

// Option configures Push.
type Option func(*pushConfig)

type pushConfig struct {
	client  *http.Client
	timeout time.Duration
}

// WithHTTPClient makes Push use c instead of a client from
// internal/httpclient (connect, response-header and stall timeouts, a
// 32 MiB response cap), e.g. for a private CA.
func WithHTTPClient(c *http.Client) Option {
	return func(p *pushConfig) {
		if c != nil {
			p.client = c
		}
	}
}

// WithTimeout bounds the whole push, 10 seconds unless set. Zero or less
// means only ctx bounds it.
func WithTimeout(d time.Duration) Option {
	return func(p *pushConfig) { p.timeout = d }
}

// Push sends the metrics for r to the Pushgateway at gatewayURL, its base
// URL such as "http://pushgateway:9091" (with --web.route-prefix, if the
// Pushgateway has one). A user and password in the URL are sent with
// basic authentication; errors show the URL without them.
//
// The metrics go to the group /metrics/job/<job>{/<label>/<value>}; an
// empty job means Job, a nil grouping means Grouping(r). Values that are
// not plain words (a "/" in "default/tidegate", say) are sent base64url
// encoded, as the Pushgateway's "@base64" suffix describes.
//
// A successful run replaces the whole group (PUT). A failed run replaces
// only the families it sends (POST), so the group keeps the
// tidegate_last_success_timestamp_seconds of the last successful run.
func Push(ctx context.Context, gatewayURL, job string, grouping map[string]string, r Run, version string, opts ...Option) error {
	cfg := pushConfig{client: httpclient.New(), timeout: 10 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if job == "" {
		job = Job
	}
	if grouping == nil {
		grouping = Grouping(r)
	}

	u, err := url.Parse(gatewayURL)
	if err != nil {
		// url.Parse's error quotes the URL, password and all.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("the Pushgateway URL is not a valid URL (%w); give its base URL, such as http://pushgateway:9091", err)
	}
	shown := redact(u)
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("the Pushgateway URL %s is not an http(s) URL; give its base URL, such as http://pushgateway:9091", shown)
	}
	if strings.Contains(u.Path, "/metrics/job") {
		return fmt.Errorf("the Pushgateway URL %s already has a /metrics/job path; give only its base URL, such as http://pushgateway:9091", shown)
	}
	path, err := groupPath(job, grouping, r)
	if err != nil {
		return err
	}

	var body bytes.Buffer
	if err := Encode(&body, r, version); err != nil {
		return err
	}
	method := http.MethodPut
	if !r.Success {
		method = http.MethodPost
	}
	target := url.URL{Scheme: u.Scheme, Host: u.Host, RawQuery: u.RawQuery}
	target.Path = strings.TrimSuffix(u.Path, "/") + path
	shown = redact(&target)

	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, target.String(), bytes.NewReader(body.Bytes()))
	if err != nil {
		return fmt.Errorf("push metrics to %s: %w", shown, unwrapURLError(err))
	}
	req.Header.Set("Content-Type", "text/plain; version=0.0.4")
	req.Header.Set("User-Agent", "tidegate/"+version)
	if u.User != nil {
		pass, _ := u.User.Password()
		req.SetBasicAuth(u.User.Username(), pass)
	}
	resp, err := cfg.client.Do(req)
	if err != nil {
		err = unwrapURLError(err)
		if errors.Is(err, context.DeadlineExceeded) && cfg.timeout > 0 {
			return fmt.Errorf("push metrics to %s: %w; the Pushgateway did not answer within %s, check that it is reachable from here or raise the timeout", shown, err, cfg.timeout)
		}
		return fmt.Errorf("push metrics to %s: %w; check that the URL is right and the Pushgateway is reachable from here", shown, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	var hint string
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		hint = "check the user and password in the Pushgateway URL (http://user:password@host:port)"
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		hint = "check that the URL is the Pushgateway's base URL, including its --web.route-prefix if it has one"
	case resp.StatusCode == http.StatusBadRequest:
		hint = "the Pushgateway rejected the metrics; check that nothing else pushes tidegate_* metrics with other types or help texts"
	case resp.StatusCode >= 500:
		hint = "the Pushgateway failed; check its logs"
	default:
		hint = "check that the URL points at a Pushgateway"
	}
	detail := strings.TrimSpace(string(msg))
	if detail != "" {
		detail = ": " + detail
	}
	return fmt.Errorf("push metrics to %s: %s%s; %s", shown, resp.Status, detail, hint)
}

// groupPath is the Pushgateway path of the group job and grouping name.
func groupPath(job string, grouping map[string]string, r Run) (string, error) {
	var b strings.Builder
	b.WriteString("/metrics/")
	b.WriteString(pathSegment("job", job))
	names := make([]string, 0, len(grouping))
	for name := range grouping {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		value := grouping[name]
		switch {
		case !validLabelName(name):
			return "", fmt.Errorf("grouping label %q is not a valid Prometheus label name; use letters, digits and underscores, not starting with a digit or __", name)
		case name == "job":
			return "", fmt.Errorf("grouping label \"job\" is not allowed; pass the job as Push's job argument")
		case name == labelCommand && value != r.Command:
			// The Pushgateway would silently overwrite the series' label.
			return "", fmt.Errorf("grouping label %s=%q differs from the run's command %q; leave it out of the grouping or use the run's value", name, value, r.Command)
		case name == labelInventory && value != r.Inventory:
			return "", fmt.Errorf("grouping label %s=%q differs from the run's inventory %q; leave it out of the grouping or use the run's value", name, value, r.Inventory)
		}
		b.WriteString("/")
		b.WriteString(pathSegment(name, value))
	}
	return b.String(), nil
}

// pathSegment is name/value as a Pushgateway path: plain words as they
// are, anything else (including "/", "." and "..", which a router would
// clean away, and the empty string) in base64url with the name's "@base64"
// suffix.
func pathSegment(name, value string) string {
	switch value {
	case "":
		return name + "@base64/="
	case ".", "..":
		return name + "@base64/" + base64.RawURLEncoding.EncodeToString([]byte(value))
	}
	for i := 0; i < len(value); i++ {
		c := value[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return name + "@base64/" + base64.RawURLEncoding.EncodeToString([]byte(value))
		}
	}
	return name + "/" + value
}

func validLabelName(name string) bool {
	if name == "" || strings.HasPrefix(name, "__") {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isNameChar(name[i], i == 0, false) {
			return false
		}
	}
	return true
}

// redact is u without user info, query or fragment, for messages.
func redact(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// unwrapURLError drops the *url.Error around err: its message repeats
// the full URL, query string included.
func unwrapURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}
