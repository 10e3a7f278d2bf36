package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/tidegate/tidegate/notify"
)

// secretPath is where every test webhook lives; it stands for the token
// Slack and Discord put in the path and must never show up in an error.
const (
	token      = "s3cr3tT0k3nABCDEF"
	secretPath = "/services/T0001/B0001/" + token
	sha        = "abc1234def5678abc1234def5678abc1234def56"
)

// received is one request a receiver got.
type received struct {
	method string
	path   string
	header http.Header
	body   []byte
}

// receiver is a real HTTP server standing in for a webhook service.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []received
}

// newReceiver answers request n (1-based) with respond, or 200 "ok"
// when respond is nil.
func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{r.Method, r.URL.Path, r.Header.Clone(), body})
		n := len(rc.got)
		rc.mu.Unlock()
		if respond == nil {
			_, _ = io.WriteString(w, "ok")
			return
		}
		respond(n, w, r)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + secretPath }

func (rc *receiver) host() string { return strings.TrimPrefix(rc.srv.URL, "http://") }

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// only returns the single request the receiver got.
func (rc *receiver) only(t *testing.T) received {
	t.Helper()
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	return got[0]
}

// sleeps records the waits a Notifier asks for, without waiting.
type sleeps struct {
	mu sync.Mutex
	ds []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ds)
}

// decodeStrict decodes body into v, failing on any field v does not
// declare: the test types mirror the documented formats, so an extra
// field is a deviation from them.
func decodeStrict(t *testing.T, body []byte, v any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("payload does not match the documented format: %v\n%s", err, body)
	}
}

// units measures text as Discord does (UTF-16 code units).
func units(s string) int { return len(utf16.Encode([]rune(s))) }

const table = "| object | action |\n|---|---|\n" +
	"| `Deployment/default/web` | configured |\n" +
	"| `Service/default/web` | configured |\n" +
	"| `ConfigMap/default/old` | deleted |\n"

func successEvent() notify.Event {
	return notify.Event{
		Command:        "reconcile",
		Source:         "https://github.com/acme/fleet.git",
		Revision:       sha,
		Changed:        true,
		Counts:         map[string]int{"configured": 2, "deleted": 1, "unchanged": 10},
		PullRequestURL: "https://github.com/acme/fleet/pull/7",
		Duration:       3250 * time.Millisecond,
		Markdown:       table,
		Cluster:        "prod",
	}
}

func failureEvent() notify.Event {
	e := successEvent()
	e.Changed = false
	e.Counts = map[string]int{"failed": 1, "unchanged": 2}
	e.PullRequestURL = ""
	e.Err = "apply Deployment/default/web: forbidden: a < b & c\nsecond line"
	return e
}

func send(t *testing.T, target string, e notify.Event, opts ...notify.Option) error {
	t.Helper()
	tg, err := notify.ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	return notify.New([]notify.Target{tg}, opts...).Send(context.Background(), e)
}

func TestTitle(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    notify.Event
		want string
	}{
		{"success", notify.Event{Command: "reconcile", Revision: sha, Counts: map[string]int{"deleted": 1, "configured": 2, "unchanged": 9}},
			"tidegate reconcile: 2 configured, 1 deleted (abc1234) ✔"},
		{"cluster", successEvent(), "tidegate reconcile on prod: 2 configured, 1 deleted (abc1234) ✔"},
		{"no changes", notify.Event{Command: "reconcile", Revision: sha, Counts: map[string]int{"unchanged": 4}},
			"tidegate reconcile: no changes (abc1234) ✔"},
		{"unknown actions sort after known ones", notify.Event{Command: "images update", Counts: map[string]int{"bumps": 3, "opened": 1, "created": 1}},
			"tidegate images update: 1 created, 3 bumps, 1 opened ✔"},
		{"branch revision kept whole", notify.Event{Command: "diff", Revision: "main-branch"},
			"tidegate diff: no changes (main-branch) ✔"},
		{"failure", notify.Event{Command: "reconcile", Revision: sha, Err: "render: kustomize build failed\n  details"},
			"tidegate reconcile (abc1234) ✗ failed: render: kustomize build failed …"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Title(); got != tc.want {
				t.Errorf("Title() = %q\nwant     %q", got, tc.want)
			}
		})
	}
}

func TestParseTarget(t *testing.T) {
	good := []struct {
		in   string
		want notify.Target
	}{
		{"slack=https://hooks.slack.com/services/T0/B0/XyZ", notify.Target{Kind: "slack", URL: "https://hooks.slack.com/services/T0/B0/XyZ"}},
		{"discord=https://discord.com/api/webhooks/1/tok", notify.Target{Kind: "discord", URL: "https://discord.com/api/webhooks/1/tok"}},
		{"teams=https://prod.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?api-version=2016-06-01&sig=abc", notify.Target{Kind: "teams", URL: "https://prod.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?api-version=2016-06-01&sig=abc"}},
		{"json=http://alerts.internal:8080/hook", notify.Target{Kind: "json", URL: "http://alerts.internal:8080/hook"}},
		{"https://example.com/hook?a=b", notify.Target{Kind: "json", URL: "https://example.com/hook?a=b"}},
		{"  SLACK = https://hooks.slack.com/x  ", notify.Target{Kind: "slack", URL: "https://hooks.slack.com/x"}},
	}
	for _, tc := range good {
		got, err := notify.ParseTarget(tc.in)
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseTarget(%q) = %#v, want kind %q url %q", tc.in, got, tc.want.Kind, tc.want.URL)
		}
	}

	bad := []struct{ in, wantErr string }{
		{"", "empty notification target"},
		{"email=https://example.com/" + token, `unknown notification kind "email"`},
		{"slack=ftp://hooks.slack.com/" + token, "must start with https://"},
		{"slack=hooks.slack.com/services/" + token, "must start with https://"},
		{"hooks.slack.com/services/" + token, "neither KIND=URL nor an http(s) URL"},
		{"slack=https:///" + token, "has no host"},
		{"slack=https://h/%zz" + token, "not a valid URL"},
		{"ftp://x/" + token + "=y", `unknown notification kind "?"`},
	}
	for _, tc := range bad {
		_, err := notify.ParseTarget(tc.in)
		if err == nil {
			t.Errorf("ParseTarget(%q) succeeded, want an error", tc.in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.wantErr) {
			t.Errorf("ParseTarget(%q) = %q, want it to contain %q", tc.in, msg, tc.wantErr)
		}
		if !strings.Contains(msg, "slack=URL, discord=URL, teams=URL, json=URL") {
			t.Errorf("ParseTarget(%q) = %q, want it to list the accepted forms", tc.in, msg)
		}
		if strings.Contains(msg, token) {
			t.Errorf("ParseTarget(%q) error leaks the token: %q", tc.in, msg)
		}
	}
}

// A []Target can be filled from text (flags, environment, config files).
func TestTargetUnmarshalText(t *testing.T) {
	var ts []notify.Target
	if err := json.Unmarshal([]byte(`["slack=https://hooks.slack.com/x", "https://example.com/h"]`), &ts); err != nil {
		t.Fatal(err)
	}
	want := []notify.Target{{Kind: "slack", URL: "https://hooks.slack.com/x"}, {Kind: "json", URL: "https://example.com/h"}}
	if !slices.Equal(ts, want) {
		t.Errorf("got %v, want %v", ts, want)
	}
	if err := json.Unmarshal([]byte(`["smtp=x"]`), &ts); err == nil || !strings.Contains(err.Error(), "unknown notification kind") {
		t.Errorf("bad target: err = %v", err)
	}
}

func TestTargetPrintsNoSecret(t *testing.T) {
	tg := notify.Target{Kind: "slack", URL: "https://user:pw@hooks.slack.com" + secretPath + "?sig=" + token}
	for _, s := range []string{
		fmt.Sprint(tg), fmt.Sprintf("%v %+v %s %#v", tg, tg, tg, tg), fmt.Sprint([]notify.Target{tg}),
	} {
		if strings.Contains(s, token) || strings.Contains(s, "pw") {
			t.Errorf("printed target leaks a secret: %s", s)
		}
		if !strings.Contains(s, "hooks.slack.com") {
			t.Errorf("printed target does not name the host: %s", s)
		}
	}
	if got, want := tg.String(), "slack (hooks.slack.com)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T/B/" + token:         "https://hooks.slack.com",
		"https://user:" + token + "@example.com:8443/x?sig=abc": "https://example.com:8443",
		"http://127.0.0.1:9/" + token:                           "http://127.0.0.1:9",
		"not a url " + token:                                    "(invalid URL)",
		"":                                                      "(invalid URL)",
	} {
		if got := notify.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// The documented Slack incoming-webhook format: text plus Block Kit
// section blocks with mrkdwn text objects.
type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackMessage struct {
	Text   string `json:"text"`
	Blocks []struct {
		Type   string      `json:"type"`
		Text   *slackText  `json:"text"`
		Fields []slackText `json:"fields"`
	} `json:"blocks"`
}

func checkSlackLimits(t *testing.T, m slackMessage) {
	t.Helper()
	if len(m.Blocks) == 0 || len(m.Blocks) > 50 {
		t.Errorf("%d blocks, want 1..50", len(m.Blocks))
	}
	for i, b := range m.Blocks {
		if b.Type != "section" {
			t.Errorf("block %d has type %q, want section", i, b.Type)
		}
		if b.Text == nil && len(b.Fields) == 0 {
			t.Errorf("block %d has neither text nor fields", i)
		}
		if b.Text != nil && (b.Text.Type != "mrkdwn" || units(b.Text.Text) > 3000 || b.Text.Text == "") {
			t.Errorf("block %d text: type %q, %d chars; want mrkdwn, 1..3000", i, b.Text.Type, units(b.Text.Text))
		}
		if len(b.Fields) > 10 {
			t.Errorf("block %d has %d fields, want <= 10", i, len(b.Fields))
		}
		for _, f := range b.Fields {
			if f.Type != "mrkdwn" || units(f.Text) > 2000 {
				t.Errorf("block %d field: type %q, %d chars; want mrkdwn, <= 2000", i, f.Type, units(f.Text))
			}
		}
	}
}

func TestSlack(t *testing.T) {
	rc := newReceiver(t, nil)
	if err := send(t, "slack="+rc.url(), successEvent()); err != nil {
		t.Fatal(err)
	}
	req := rc.only(t)
	if req.method != http.MethodPost || req.path != secretPath {
		t.Errorf("got %s %s, want POST %s", req.method, req.path, secretPath)
	}
	if ct := req.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if ua := req.header.Get("User-Agent"); ua != "tidegate" {
		t.Errorf("User-Agent = %q", ua)
	}
	var m slackMessage
	decodeStrict(t, req.body, &m)
	checkSlackLimits(t, m)

	wantTitle := "tidegate reconcile on prod: 2 configured, 1 deleted (abc1234) ✔"
	if m.Text != wantTitle {
		t.Errorf("text = %q, want %q", m.Text, wantTitle)
	}
	if len(m.Blocks) != 3 {
		t.Fatalf("got %d blocks, want title, fields, table: %s", len(m.Blocks), req.body)
	}
	if got := m.Blocks[0].Text.Text; got != "*"+wantTitle+"*" {
		t.Errorf("title block = %q", got)
	}
	var fields []string
	for _, f := range m.Blocks[1].Fields {
		fields = append(fields, f.Text)
	}
	for _, want := range []string{
		"*Source*\nhttps://github.com/acme/fleet.git",
		"*Revision*\n" + sha,
		"*Objects*\n2 configured, 1 deleted, 10 unchanged",
		"*Duration*\n3.3s",
		"*Cluster*\nprod",
		"*Pull request*\n<https://github.com/acme/fleet/pull/7|github.com/acme/fleet/pull/7>",
	} {
		if !slices.Contains(fields, want) {
			t.Errorf("fields %q lack %q", fields, want)
		}
	}
	wantTable := "```" + strings.Join([]string{
		"object                  action",
		"----------------------  ----------",
		"Deployment/default/web  configured",
		"Service/default/web     configured",
		"ConfigMap/default/old   deleted",
	}, "\n") + "\n```"
	if got := m.Blocks[2].Text.Text; got != wantTable {
		t.Errorf("table block =\n%s\nwant\n%s", got, wantTable)
	}
}

func TestSlackFailureEscapes(t *testing.T) {
	rc := newReceiver(t, nil)
	if err := send(t, "slack="+rc.url(), failureEvent()); err != nil {
		t.Fatal(err)
	}
	var m slackMessage
	decodeStrict(t, rc.only(t).body, &m)
	checkSlackLimits(t, m)
	want := "tidegate reconcile on prod (abc1234) ✗ failed: apply Deployment/default/web: forbidden: a &lt; b &amp; c …"
	if m.Text != want {
		t.Errorf("text = %q, want %q", m.Text, want)
	}
	var errBlock string
	for _, b := range m.Blocks {
		if b.Text != nil && strings.HasPrefix(b.Text.Text, "*Error*") {
			errBlock = b.Text.Text
		}
	}
	if wantErr := "*Error*\n```apply Deployment/default/web: forbidden: a &lt; b &amp; c\nsecond line\n```"; errBlock != wantErr {
		t.Errorf("error block = %q, want %q", errBlock, wantErr)
	}
}

func TestSlackTruncatesTable(t *testing.T) {
	rc := newReceiver(t, nil)
	e := successEvent()
	e.Markdown = hugeTable(2000)
	e.Err = strings.Repeat("<&>", 5000)
	if err := send(t, "slack="+rc.url(), e); err != nil {
		t.Fatal(err)
	}
	var m slackMessage
	decodeStrict(t, rc.only(t).body, &m)
	checkSlackLimits(t, m)
	last := m.Blocks[len(m.Blocks)-1].Text.Text
	if !strings.HasSuffix(last, "more lines\n```") {
		t.Errorf("truncated table does not say what was left out: ...%s", last[len(last)-60:])
	}
}

// The documented Discord execute-webhook format.
type discordMessage struct {
	Content string `json:"content"`
	Embeds  []struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		URL         string `json:"url"`
		Color       int    `json:"color"`
		Fields      []struct {
			Name   string `json:"name"`
			Value  string `json:"value"`
			Inline bool   `json:"inline"`
		} `json:"fields"`
	} `json:"embeds"`
	AllowedMentions *struct {
		Parse []string `json:"parse"`
	} `json:"allowed_mentions"`
}

// checkDiscordLimits enforces
// https://discord.com/developers/docs/resources/message#embed-object-embed-limits.
func checkDiscordLimits(t *testing.T, m discordMessage) {
	t.Helper()
	if units(m.Content) > 2000 {
		t.Errorf("content has %d chars, want <= 2000", units(m.Content))
	}
	if len(m.Embeds) != 1 {
		t.Fatalf("%d embeds, want 1", len(m.Embeds))
	}
	e := m.Embeds[0]
	total := units(e.Title) + units(e.Description)
	if units(e.Title) > 256 || units(e.Description) > 4096 || len(e.Fields) > 25 {
		t.Errorf("title %d, description %d chars, %d fields; want <= 256, 4096, 25", units(e.Title), units(e.Description), len(e.Fields))
	}
	for _, f := range e.Fields {
		if f.Name == "" || f.Value == "" || units(f.Name) > 256 || units(f.Value) > 1024 {
			t.Errorf("field %q: name %d, value %d chars; want 1..256, 1..1024", f.Name, units(f.Name), units(f.Value))
		}
		total += units(f.Name) + units(f.Value)
	}
	if total > 6000 {
		t.Errorf("embed has %d chars in total, want <= 6000", total)
	}
	if m.AllowedMentions == nil || m.AllowedMentions.Parse == nil || len(m.AllowedMentions.Parse) != 0 {
		t.Errorf("allowed_mentions = %+v, want parse: [] so nobody is pinged", m.AllowedMentions)
	}
}

func TestDiscord(t *testing.T) {
	for _, tc := range []struct {
		name  string
		e     notify.Event
		color int
	}{
		{"success is green", successEvent(), 0x57F287},
		{"failure is red", failureEvent(), 0xED4245},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
			if err := send(t, "discord="+rc.url(), tc.e); err != nil {
				t.Fatal(err)
			}
			var m discordMessage
			decodeStrict(t, rc.only(t).body, &m)
			checkDiscordLimits(t, m)
			e := m.Embeds[0]
			if m.Content != tc.e.Title() || e.Title != tc.e.Title() {
				t.Errorf("content %q, title %q; want both %q", m.Content, e.Title, tc.e.Title())
			}
			if e.Color != tc.color {
				t.Errorf("color = %#x, want %#x", e.Color, tc.color)
			}
			fields := map[string]string{}
			inline := map[string]bool{}
			for _, f := range e.Fields {
				fields[f.Name] = f.Value
				inline[f.Name] = f.Inline
			}
			if fields["Revision"] != sha || !inline["Revision"] {
				t.Errorf("Revision field = %q (inline %v)", fields["Revision"], inline["Revision"])
			}
			if fields["Source"] != tc.e.Source || inline["Source"] {
				t.Errorf("Source field = %q (inline %v)", fields["Source"], inline["Source"])
			}
			if !strings.HasPrefix(e.Description, "```\nobject                  action\n") || !strings.HasSuffix(e.Description, "ConfigMap/default/old   deleted\n```") {
				t.Errorf("description =\n%s", e.Description)
			}
			if tc.e.Failed() {
				if e.Fields[0].Name != "Error" || e.Fields[0].Value != "```\n"+tc.e.Err+"\n```" {
					t.Errorf("first field = %+v, want the error", e.Fields[0])
				}
				if fields["Objects"] != "1 failed, 2 unchanged" {
					t.Errorf("Objects field = %q", fields["Objects"])
				}
				if e.URL != "" {
					t.Errorf("url = %q, want none without a pull request", e.URL)
				}
			} else {
				if _, ok := fields["Error"]; ok {
					t.Error("success has an Error field")
				}
				if fields["Objects"] != "2 configured, 1 deleted, 10 unchanged" || fields["Duration"] != "3.3s" || fields["Cluster"] != "prod" {
					t.Errorf("fields = %v", fields)
				}
				if e.URL != tc.e.PullRequestURL || fields["Pull request"] != tc.e.PullRequestURL {
					t.Errorf("url %q, Pull request field %q; want %q", e.URL, fields["Pull request"], tc.e.PullRequestURL)
				}
			}
		})
	}
}

// hugeTable is a change table far beyond any service's limit, with
// characters that take two UTF-16 units.
func hugeTable(rows int) string {
	var b strings.Builder
	b.WriteString("| object | action |\n|---|---|\n")
	for i := range rows {
		fmt.Fprintf(&b, "| `ConfigMap/team-🚀/config-%05d` | configured |\n", i)
	}
	return b.String()
}

func TestDiscordTruncation(t *testing.T) {
	rc := newReceiver(t, nil)
	e := failureEvent()
	e.Markdown = hugeTable(5000)
	e.Err = strings.Repeat("error detail 🚀 ", 2000)
	e.Source = strings.Repeat("s", 3000)
	e.Command = strings.Repeat("c", 500)
	e.Counts = map[string]int{}
	for i := range 40 {
		e.Counts[fmt.Sprintf("action-%02d", i)] = i + 1
	}
	if err := send(t, "discord="+rc.url(), e); err != nil {
		t.Fatal(err)
	}
	var m discordMessage
	decodeStrict(t, rc.only(t).body, &m)
	checkDiscordLimits(t, m)
	d := m.Embeds[0].Description
	if d != "" && (!strings.HasPrefix(d, "```\n") || !strings.HasSuffix(d, "more lines\n```")) {
		t.Errorf("truncated description is not a closed code block ending in a note: ...%q", d[max(0, len(d)-80):])
	}

	// The table alone, at its largest, fills the description.
	rc = newReceiver(t, nil)
	e = successEvent()
	e.Markdown = hugeTable(5000)
	if err := send(t, "discord="+rc.url(), e); err != nil {
		t.Fatal(err)
	}
	m = discordMessage{}
	decodeStrict(t, rc.only(t).body, &m)
	checkDiscordLimits(t, m)
	d = m.Embeds[0].Description
	if units(d) < 3500 || !strings.HasSuffix(d, "more lines\n```") || !strings.Contains(d, "ConfigMap/team-🚀/config-00000  configured") {
		t.Errorf("description has %d units, want most of 4096 and a note; ends %q", units(d), d[max(0, len(d)-80):])
	}
}

// The documented Teams Workflows format: a message with one Adaptive
// Card attachment.
type teamsMessage struct {
	Type        string `json:"type"`
	Attachments []struct {
		ContentType string          `json:"contentType"`
		ContentURL  json.RawMessage `json:"contentUrl"`
		Content     struct {
			Schema  string            `json:"$schema"`
			Type    string            `json:"type"`
			Version string            `json:"version"`
			Body    []json.RawMessage `json:"body"`
			Actions []struct {
				Type  string `json:"type"`
				Title string `json:"title"`
				URL   string `json:"url"`
			} `json:"actions"`
			MSTeams struct {
				Width string `json:"width"`
			} `json:"msteams"`
		} `json:"content"`
	} `json:"attachments"`
}

// cardElement covers the elements the card uses.
type cardElement struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Wrap     bool   `json:"wrap"`
	Weight   string `json:"weight"`
	Size     string `json:"size"`
	Color    string `json:"color"`
	FontType string `json:"fontType"`
	Spacing  string `json:"spacing"`
	Facts    []struct {
		Title string `json:"title"`
		Value string `json:"value"`
	} `json:"facts"`
	Items []cardElement `json:"items"`
}

func TestTeams(t *testing.T) {
	for _, tc := range []struct {
		name  string
		e     notify.Event
		color string
	}{
		{"success", successEvent(), "Good"},
		{"failure", failureEvent(), "Attention"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
			if err := send(t, "teams="+rc.url(), tc.e); err != nil {
				t.Fatal(err)
			}
			var m teamsMessage
			body := rc.only(t).body
			decodeStrict(t, body, &m)
			if m.Type != "message" || len(m.Attachments) != 1 {
				t.Fatalf("type %q with %d attachments, want message with 1", m.Type, len(m.Attachments))
			}
			a := m.Attachments[0]
			if a.ContentType != "application/vnd.microsoft.card.adaptive" || string(a.ContentURL) != "null" {
				t.Errorf("contentType %q, contentUrl %s", a.ContentType, a.ContentURL)
			}
			c := a.Content
			if c.Schema != "http://adaptivecards.io/schemas/adaptive-card.json" || c.Type != "AdaptiveCard" || c.Version != "1.4" {
				t.Errorf("card header: %q %q %q", c.Schema, c.Type, c.Version)
			}
			if c.MSTeams.Width != "Full" {
				t.Errorf("msteams.width = %q", c.MSTeams.Width)
			}
			var els []cardElement
			for _, raw := range c.Body {
				var el cardElement
				decodeStrict(t, raw, &el)
				els = append(els, el)
			}
			if els[0].Type != "TextBlock" || els[0].Text != tc.e.Title() || els[0].Color != tc.color || els[0].Weight != "Bolder" || !els[0].Wrap {
				t.Errorf("title block = %+v", els[0])
			}
			if els[1].Type != "FactSet" {
				t.Fatalf("second element is %q, want FactSet", els[1].Type)
			}
			facts := map[string]string{}
			for _, f := range els[1].Facts {
				facts[f.Title] = f.Value
			}
			if facts["Revision"] != sha || facts["Source"] != tc.e.Source || facts["Cluster"] != "prod" {
				t.Errorf("facts = %v", facts)
			}
			table := els[len(els)-1]
			if table.Type != "Container" {
				t.Fatalf("last element is %q, want the table Container", table.Type)
			}
			var lines []string
			for _, it := range table.Items {
				if it.Type != "TextBlock" || it.FontType != "Monospace" {
					t.Errorf("table line %+v is not a monospace TextBlock", it)
				}
				lines = append(lines, it.Text)
			}
			if len(lines) != 5 || lines[2] != "Deployment/default/web  configured" {
				t.Errorf("table lines = %q", lines)
			}
			if tc.e.Failed() {
				errBlock := els[2]
				if errBlock.Text != tc.e.Err || errBlock.Color != "Attention" {
					t.Errorf("error block = %+v", errBlock)
				}
				if len(c.Actions) != 0 {
					t.Errorf("actions = %+v, want none without a pull request", c.Actions)
				}
			} else if len(c.Actions) != 1 || c.Actions[0].Type != "Action.OpenUrl" || c.Actions[0].URL != tc.e.PullRequestURL {
				t.Errorf("actions = %+v, want one Action.OpenUrl to the pull request", c.Actions)
			}
		})
	}
}

// Teams limits the request to 28 KB, in bytes.
func TestTeamsTruncation(t *testing.T) {
	wide := "| object | action |\n|---|---|\n" + strings.Repeat("| "+strings.Repeat("名前", 400)+" | configured |\n", 200)
	for name, e := range map[string]notify.Event{
		"many rows":           {Command: "reconcile", Markdown: hugeTable(5000)},
		"multibyte rows":      {Command: "reconcile", Markdown: wide},
		"multibyte and error": {Command: "reconcile", Markdown: wide, Err: strings.Repeat("エラー", 5000)},
	} {
		t.Run(name, func(t *testing.T) {
			rc := newReceiver(t, nil)
			if err := send(t, "teams="+rc.url(), e); err != nil {
				t.Fatal(err)
			}
			body := rc.only(t).body
			var m teamsMessage
			decodeStrict(t, body, &m)
			if len(body) > 28<<10 {
				t.Errorf("payload is %d bytes, over Teams' 28 KB", len(body))
			}
			if len(body) < 10<<10 {
				t.Errorf("payload is %d bytes: truncated far more than needed", len(body))
			}
			if !bytes.Contains(body, []byte(`more line`)) {
				t.Error("truncated table does not say what was left out")
			}
		})
	}
}

func TestJSON(t *testing.T) {
	rc := newReceiver(t, nil)
	if err := send(t, rc.url(), successEvent()); err != nil { // a bare URL means json
		t.Fatal(err)
	}
	body := rc.only(t).body
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"title":          "tidegate reconcile on prod: 2 configured, 1 deleted (abc1234) ✔",
		"command":        "reconcile",
		"source":         "https://github.com/acme/fleet.git",
		"revision":       sha,
		"changed":        true,
		"failed":         false,
		"outcome":        "ok",
		"counts":         map[string]any{"configured": 2.0, "deleted": 1.0, "unchanged": 10.0},
		"pullRequestURL": "https://github.com/acme/fleet/pull/7",
		"error":          "",
		"duration":       3.25,
		"markdown":       table,
		"cluster":        "prod",
		"host":           "",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("json payload\n got %v\nwant %v", got, want)
	}

	rc = newReceiver(t, nil)
	if err := send(t, "json="+rc.url(), notify.Event{Command: "render", Err: "boom"}); err != nil {
		t.Fatal(err)
	}
	got = nil
	if err := json.Unmarshal(rc.only(t).body, &got); err != nil {
		t.Fatal(err)
	}
	if got["error"] != "boom" || got["failed"] != true || got["outcome"] != "failed" || fmt.Sprint(got["counts"]) != "map[]" || got["duration"] != 0.0 {
		t.Errorf("failure payload = %v", got)
	}
}

func TestRetriesServerErrors(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			http.Error(w, "upstream down", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	var s sleeps
	if err := send(t, "slack="+rc.url(), successEvent(), notify.WithSleep(s.sleep)); err != nil {
		t.Fatalf("Send after two 503s: %v", err)
	}
	reqs := rc.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want 3", len(reqs))
	}
	if !bytes.Equal(reqs[0].body, reqs[2].body) {
		t.Error("a retry sent a different body")
	}
	if got, want := s.all(), []time.Duration{500 * time.Millisecond, time.Second}; !slices.Equal(got, want) {
		t.Errorf("backoff waits = %v, want %v", got, want)
	}
}

func TestRetriesExhausted(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	})
	var s sleeps
	err := send(t, "discord="+rc.url(), successEvent(), notify.WithSleep(s.sleep))
	if err == nil {
		t.Fatal("Send succeeded against a failing server")
	}
	if n := len(rc.requests()); n != 3 {
		t.Errorf("got %d requests, want 1 + 2 retries", n)
	}
	for _, want := range []string{"notify discord (" + rc.host() + ")", "HTTP 502", "upstream down", "gave up after 3 attempts: HTTP 502", "try again later"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	rc = newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	if err := send(t, "json="+rc.url(), successEvent(), notify.WithRetries(0)); err == nil {
		t.Fatal("Send succeeded against a failing server")
	}
	if n := len(rc.requests()); n != 1 {
		t.Errorf("WithRetries(0): got %d requests, want 1", n)
	}
}

func TestRetryAfter(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	var s sleeps
	if err := send(t, "discord="+rc.url(), successEvent(), notify.WithSleep(s.sleep)); err != nil {
		t.Fatal(err)
	}
	if n := len(rc.requests()); n != 2 {
		t.Errorf("got %d requests, want 2", n)
	}
	if got, want := s.all(), []time.Duration{7 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits = %v, want Retry-After's %v", got, want)
	}
}

func TestRetryAfterCapped(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	var s sleeps
	if err := send(t, "slack="+rc.url(), successEvent(), notify.WithSleep(s.sleep), notify.WithTimeout(0)); err != nil {
		t.Fatal(err)
	}
	if got, want := s.all(), []time.Duration{30 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits = %v, want the 30s cap", got)
	}
}

// A wait that would end after the timeout is not started: the run should
// not sit idle only to give up.
func TestRetryAfterBeyondTimeout(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "20")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	})
	var s sleeps
	err := send(t, "slack="+rc.url(), successEvent(), notify.WithSleep(s.sleep), notify.WithTimeout(5*time.Second))
	if err == nil || !strings.Contains(err.Error(), "HTTP 429") || !strings.Contains(err.Error(), "after the notification timeout") {
		t.Errorf("err = %v", err)
	}
	if n, w := len(rc.requests()), len(s.all()); n != 1 || w != 0 {
		t.Errorf("%d requests and %d waits, want 1 and 0", n, w)
	}
}

func TestClientErrorNotRetried(t *testing.T) {
	long := "invalid_payload " + strings.Repeat("x", 500)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadRequest)
		// Echo the path, as a careless server might.
		_, _ = io.WriteString(w, "path "+r.URL.Path+" "+long)
	})
	var s sleeps
	err := send(t, "slack="+rc.url(), successEvent(), notify.WithSleep(s.sleep))
	if err == nil {
		t.Fatal("Send succeeded against a 400")
	}
	if n, w := len(rc.requests()), len(s.all()); n != 1 || w != 0 {
		t.Errorf("%d requests and %d waits, want 1 and 0: a 400 is not transient", n, w)
	}
	msg := err.Error()
	for _, want := range []string{"notify slack (" + rc.host() + ")", "HTTP 400 Bad Request", "invalid_payload", "check that the URL is a slack webhook"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, token) || strings.Contains(msg, secretPath) {
		t.Errorf("error leaks the webhook token: %q", msg)
	}
	if strings.Contains(msg, strings.Repeat("x", 250)) {
		t.Errorf("error holds more than 200 bytes of the body: %q", msg)
	}
}

func TestGoneHint(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"message": "Unknown Webhook", "code": 10015}`, http.StatusNotFound)
	})
	err := send(t, "discord="+rc.url(), successEvent())
	if err == nil || !strings.Contains(err.Error(), "Unknown Webhook") || !strings.Contains(err.Error(), "create a new webhook") {
		t.Errorf("err = %v", err)
	}
}

func TestNetworkErrorRetriedAndRedacted(t *testing.T) {
	rc := newReceiver(t, nil)
	u := rc.url()
	rc.srv.Close() // nothing listens there any more
	var s sleeps
	err := send(t, "teams="+u+"?sig="+token, successEvent(), notify.WithSleep(s.sleep))
	if err == nil {
		t.Fatal("Send succeeded with no server")
	}
	if w := len(s.all()); w != 2 {
		t.Errorf("%d waits, want 2: network errors are retried", w)
	}
	msg := err.Error()
	if !strings.Contains(msg, "cannot reach "+rc.host()) || !strings.Contains(msg, "check the network") {
		t.Errorf("error %q does not say what failed and what to do", msg)
	}
	if strings.Contains(msg, token) || strings.Contains(msg, "/services/") || strings.Contains(msg, `Post "`) {
		t.Errorf("error leaks the webhook URL: %q", msg)
	}
}

func TestConcurrentTargetsOneFails(t *testing.T) {
	// Every receiver holds its request until all three have arrived, so
	// the test only passes if the targets are posted to at once.
	var arrived sync.WaitGroup
	arrived.Add(3)
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	barrier := func(status int) func(int, http.ResponseWriter, *http.Request) {
		return func(_ int, w http.ResponseWriter, _ *http.Request) {
			arrived.Done()
			select {
			case <-all:
			case <-time.After(5 * time.Second):
				http.Error(w, "targets were not posted to concurrently", http.StatusTeapot)
				return
			}
			w.WriteHeader(status)
		}
	}
	slack := newReceiver(t, barrier(http.StatusOK))
	discord := newReceiver(t, barrier(http.StatusNotFound))
	hook := newReceiver(t, barrier(http.StatusOK))

	var targets []notify.Target
	for _, s := range []string{"slack=" + slack.url(), "discord=" + discord.url(), hook.url()} {
		tg, err := notify.ParseTarget(s)
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, tg)
	}
	err := notify.New(targets).Send(context.Background(), successEvent())
	if err == nil {
		t.Fatal("Send succeeded although discord answered 404")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "notify discord ("+discord.host()+"): HTTP 404") || strings.Contains(msg, "\n") {
		t.Errorf("error %q should be one line naming only the discord target", msg)
	}
	if strings.Contains(msg, slack.host()) || strings.Contains(msg, hook.host()) || strings.Contains(msg, token) {
		t.Errorf("error %q names a target that did not fail, or a token", msg)
	}
	for _, rc := range []*receiver{slack, discord, hook} {
		if n := len(rc.requests()); n != 1 {
			t.Errorf("%s got %d requests, want 1", rc.host(), n)
		}
	}
}

func TestInvalidTargetDoesNotStopOthers(t *testing.T) {
	rc := newReceiver(t, nil)
	targets := []notify.Target{
		{Kind: "email", URL: "https://mail.example.com/" + token},
		{Kind: "slack", URL: rc.url()},
	}
	err := notify.New(targets).Send(context.Background(), successEvent())
	if err == nil || !strings.Contains(err.Error(), `notify email (mail.example.com): unknown notification kind "email"`) || strings.Contains(err.Error(), token) {
		t.Errorf("err = %v", err)
	}
	rc.only(t)
}

func TestContextCancelStopsRetries(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The run is interrupted while waiting to retry.
	sleep := func(ctx context.Context, _ time.Duration) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	tg, _ := notify.ParseTarget("slack=" + rc.url())
	err := notify.New([]notify.Target{tg}, notify.WithSleep(sleep), notify.WithRetries(5)).Send(ctx, successEvent())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if err != nil && !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("err %q should keep the failure that caused the retry", err)
	}
	if n := len(rc.requests()); n != 1 {
		t.Errorf("got %d requests after cancellation, want 1", n)
	}
}

// With the real sleep, cancelling during the backoff returns at once.
func TestContextCancelInterruptsBackoff(t *testing.T) {
	first := make(chan struct{}, 1)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		first <- struct{}{}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-first; time.Sleep(50 * time.Millisecond); cancel() }()
	tg, _ := notify.ParseTarget("json=" + rc.url())
	start := time.Now()
	err := notify.New([]notify.Target{tg}, notify.WithRetries(5)).Send(ctx, successEvent())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 450*time.Millisecond {
		t.Errorf("Send took %v after cancellation, want it to stop waiting", d)
	}
	if n := len(rc.requests()); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
}

func TestTimeout(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	})
	start := time.Now()
	err := send(t, "slack="+rc.url(), successEvent(), notify.WithTimeout(200*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "no answer within the notification timeout") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
	if err != nil && strings.Contains(err.Error(), token) {
		t.Errorf("error leaks the token: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send took %v with a 200ms timeout", d)
	}
}

func TestOptions(t *testing.T) {
	// A TLS server only the test's client trusts proves WithHTTPClient is
	// used; the header proves WithUserAgent.
	ua := make(chan string, 10)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua <- r.Header.Get("User-Agent")
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	tg, err := notify.ParseTarget("slack=" + srv.URL + secretPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := notify.New([]notify.Target{tg}, notify.WithRetries(0)).Send(context.Background(), successEvent()); err == nil {
		t.Error("the default client trusted the test CA")
	} else if strings.Contains(err.Error(), token) {
		t.Errorf("TLS error leaks the token: %v", err)
	}
	n := notify.New([]notify.Target{tg}, notify.WithHTTPClient(srv.Client()), notify.WithUserAgent("tidegate/v1.2.3"))
	if err := n.Send(context.Background(), successEvent()); err != nil {
		t.Fatal(err)
	}
	if got := <-ua; got != "tidegate/v1.2.3" {
		t.Errorf("User-Agent = %q", got)
	}
}

func TestNothingToSend(t *testing.T) {
	var n *notify.Notifier
	if err := n.Send(context.Background(), successEvent()); err != nil {
		t.Errorf("nil Notifier: %v", err)
	}
	if err := notify.New(nil).Send(context.Background(), successEvent()); err != nil {
		t.Errorf("no targets: %v", err)
	}
}
