package notify

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// payload encodes e in the format of a target kind.
func payload(kind string, e Event) ([]byte, error) {
	switch kind {
	case KindSlack:
		return json.Marshal(slackPayload(e))
	case KindDiscord:
		return json.Marshal(discordPayload(e))
	case KindTeams:
		return teamsJSON(e)
	case KindJSON:
		return json.Marshal(e)
	}
	return nil, fmt.Errorf("unknown notification kind %q; use %s", kind, targetForms)
}

// fact is one labelled detail of an event, in display order.
type fact struct{ label, value string }

// facts are the details every format shows besides the title, the table
// and the error.
func facts(e Event) []fact {
	var fs []fact
	add := func(label, value string) {
		if value = strings.TrimSpace(value); value != "" {
			fs = append(fs, fact{label, value})
		}
	}
	add("Source", e.Source)
	add("Revision", e.Revision)
	if len(e.Counts) > 0 {
		add("Objects", countsText(e.Counts, true))
	}
	add("Duration", durationText(e.Duration))
	add("Cluster", e.Cluster)
	add("Host", e.Host)
	add("Pull request", e.PullRequestURL)
	return fs
}

// fence keeps text inside a ``` code block from closing it early.
func fence(s string) string {
	return strings.ReplaceAll(s, "```", "`\u200b`\u200b`")
}

// httpURL reports whether s is an absolute http(s) URL, which is all the
// services accept as a link target; anything else is sent as text.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// Slack: https://api.slack.com/messaging/webhooks and
// https://api.slack.com/reference/block-kit/blocks#section.
// The top-level text is the notification and fallback text; the blocks
// are the message.
const (
	slackSectionText = 3000 // section block text
	slackFieldText   = 2000 // one section field
	slackMaxFields   = 10
)

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type   string      `json:"type"`
	Text   *slackText  `json:"text,omitempty"`
	Fields []slackText `json:"fields,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// slackEscape escapes the three characters Slack's mrkdwn treats as
// control characters; everything else is literal.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func slackSection(text string) slackBlock {
	return slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: text}}
}

// slackCode is a code block holding as many whole lines of s as fit in a
// section.
func slackCode(label, s string) slackBlock {
	head := label + "```"
	body := clipLines(fence(s), slackSectionText-width(head)-width("\n```"), 0, slackEscape)
	return slackSection(head + body + "\n```")
}

func slackPayload(e Event) slackMessage {
	title := slackEscape(e.Title())
	m := slackMessage{
		Text:   truncate(title, slackSectionText),
		Blocks: []slackBlock{slackSection(truncate("*"+title+"*", slackSectionText))},
	}
	var fields []slackText
	for _, f := range facts(e) {
		label := "*" + f.label + "*\n"
		value := slackEscape(f.value)
		if f.label == "Pull request" && httpURL(f.value) {
			value = "<" + value + "|" + slackEscape(shortURL(f.value)) + ">"
		}
		if width(label+value) > slackFieldText {
			value = truncate(slackEscape(f.value), slackFieldText-width(label))
		}
		fields = append(fields, slackText{Type: "mrkdwn", Text: label + value})
	}
	if len(fields) > slackMaxFields {
		fields = fields[:slackMaxFields]
	}
	if len(fields) > 0 {
		m.Blocks = append(m.Blocks, slackBlock{Type: "section", Fields: fields})
	}
	if e.Err != "" {
		m.Blocks = append(m.Blocks, slackCode("*Error*\n", e.Err))
	}
	if t := plainTable(e.Markdown); strings.TrimSpace(t) != "" {
		m.Blocks = append(m.Blocks, slackCode("", t))
	}
	return m
}

// shortURL is how a pull request link reads: host and path, no scheme.
func shortURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Host + u.Path
}

// Discord: https://discord.com/developers/docs/resources/webhook#execute-webhook
// and the embed limits in
// https://discord.com/developers/docs/resources/message#embed-object-embed-limits.
// A message over any limit is rejected as a whole, so every text is cut
// to fit.
const (
	discordContent     = 2000
	discordTitle       = 256
	discordDescription = 4096
	discordFieldName   = 256
	discordFieldValue  = 1024
	discordMaxFields   = 25
	discordEmbedTotal  = 6000 // title, description, field names and values together

	discordGreen = 0x57F287
	discordRed   = 0xED4245
)

type discordMessage struct {
	Content         string          `json:"content"`
	Embeds          []discordEmbed  `json:"embeds"`
	AllowedMentions discordMentions `json:"allowed_mentions"`
}

type discordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	URL         string         `json:"url,omitempty"`
	Color       int            `json:"color"`
	Fields      []discordField `json:"fields,omitempty"`
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

// discordMentions with an empty parse list turns off @everyone, @here,
// role and user pings: an error message or object name must never page
// a whole server.
type discordMentions struct {
	Parse []string `json:"parse"`
}

func discordPayload(e Event) discordMessage {
	embed := discordEmbed{
		Title: truncate(e.Title(), discordTitle),
		Color: discordGreen,
	}
	if e.Failed() {
		embed.Color = discordRed
	}
	if httpURL(e.PullRequestURL) {
		embed.URL = e.PullRequestURL
	}
	budget := discordEmbedTotal - width(embed.Title)
	addField := func(name, value string, inline bool) {
		name = truncate(name, discordFieldName)
		value = truncate(value, discordFieldValue)
		if value == "" || len(embed.Fields) >= discordMaxFields || width(name)+width(value) > budget {
			return
		}
		embed.Fields = append(embed.Fields, discordField{Name: name, Value: value, Inline: inline})
		budget -= width(name) + width(value)
	}
	if e.Err != "" {
		// The error first: it is what the reader needs, and it gets the
		// budget before anything else.
		addField("Error", codeBlock(e.Err, discordFieldValue), false)
	}
	for _, f := range facts(e) {
		inline := f.label != "Source" && f.label != "Pull request"
		addField(f.label, f.value, inline)
	}
	if t := plainTable(e.Markdown); strings.TrimSpace(t) != "" {
		if d := codeBlock(t, min(discordDescription, budget)); d != "" {
			embed.Description = d
		}
	}
	return discordMessage{
		Content:         truncate(e.Title(), discordContent),
		Embeds:          []discordEmbed{embed},
		AllowedMentions: discordMentions{Parse: []string{}},
	}
}

// codeBlock wraps as many whole lines of s as fit in max units in a ```
// block; "" when not even the fences fit.
func codeBlock(s string, max int) string {
	const open, closing = "```\n", "\n```"
	room := max - width(open) - width(closing)
	if room < 20 {
		return ""
	}
	return open + clipLines(fence(s), room, 0, func(s string) string { return s }) + closing
}

// Microsoft Teams: the Workflows ("Post to a channel when a webhook
// request is received") webhook takes a message with one Adaptive Card
// attachment:
// https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook
// Adaptive Card markdown has no tables and no code blocks, and where a
// single "\n" breaks a line differs between clients, so the table is
// sent as one monospace TextBlock per line.
//
// Teams limits the whole request to 28 KB, in bytes, which characters
// cannot bound (one may take four), so the message is measured once
// encoded and rebuilt with less text until it fits.
const (
	teamsMaxBytes   = 27 << 10
	teamsMaxLines   = 100
	teamsTableChars = 16000
	teamsErrorChars = 4000
	teamsCardSchema = "http://adaptivecards.io/schemas/adaptive-card.json"
	teamsCardType   = "application/vnd.microsoft.card.adaptive"
)

type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"` // documented as null
	Content     adaptiveCard `json:"content"`
}

type adaptiveCard struct {
	Schema  string        `json:"$schema"`
	Type    string        `json:"type"`
	Version string        `json:"version"`
	Body    []any         `json:"body"`
	Actions []cardAction  `json:"actions,omitempty"`
	MSTeams *teamsOptions `json:"msteams,omitempty"`
}

// teamsOptions widens the card to the channel's width, which a table
// needs to stay readable.
type teamsOptions struct {
	Width string `json:"width"`
}

type textBlock struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Wrap     bool   `json:"wrap"`
	Weight   string `json:"weight,omitempty"`
	Size     string `json:"size,omitempty"`
	Color    string `json:"color,omitempty"`
	FontType string `json:"fontType,omitempty"`
	Spacing  string `json:"spacing,omitempty"`
}

type factSet struct {
	Type  string     `json:"type"`
	Facts []cardFact `json:"facts"`
}

type cardFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type container struct {
	Type    string      `json:"type"`
	Items   []textBlock `json:"items"`
	Spacing string      `json:"spacing,omitempty"`
}

type cardAction struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// teamsJSON encodes the largest card for e that Teams accepts.
func teamsJSON(e Event) ([]byte, error) {
	table, errText := teamsTableChars, teamsErrorChars
	for {
		b, err := json.Marshal(teamsPayload(e, table, errText))
		if err != nil || len(b) <= teamsMaxBytes || (table == 0 && errText < 100) {
			return b, err
		}
		table, errText = table/2, errText/2
		if table < 500 {
			table = 0
		}
	}
}

// teamsPayload builds the card with at most tableChars of the change
// table and errChars of the error.
func teamsPayload(e Event, tableChars, errChars int) teamsMessage {
	color := "Good"
	if e.Failed() {
		color = "Attention"
	}
	card := adaptiveCard{
		Schema:  teamsCardSchema,
		Type:    "AdaptiveCard",
		Version: "1.4",
		Body: []any{textBlock{
			Type: "TextBlock", Text: truncate(e.Title(), 500), Wrap: true,
			Weight: "Bolder", Size: "Medium", Color: color,
		}},
		MSTeams: &teamsOptions{Width: "Full"},
	}
	if fs := facts(e); len(fs) > 0 {
		set := factSet{Type: "FactSet"}
		for _, f := range fs {
			set.Facts = append(set.Facts, cardFact{Title: f.label, Value: truncate(f.value, 500)})
		}
		card.Body = append(card.Body, set)
	}
	if e.Err != "" {
		card.Body = append(card.Body, textBlock{
			Type: "TextBlock", Text: truncate(e.Err, errChars), Wrap: true, Color: "Attention",
		})
	}
	if t := plainTable(e.Markdown); strings.TrimSpace(t) != "" && tableChars > 0 {
		lines := strings.Split(clipLines(t, tableChars, teamsMaxLines, func(s string) string { return s }), "\n")
		table := container{Type: "Container", Spacing: "Medium"}
		for _, l := range lines {
			if l == "" {
				l = " " // an empty TextBlock is invalid
			}
			table.Items = append(table.Items, textBlock{
				Type: "TextBlock", Text: l, Wrap: true, FontType: "Monospace", Size: "Small", Spacing: "None",
			})
		}
		card.Body = append(card.Body, table)
	}
	if httpURL(e.PullRequestURL) {
		card.Actions = []cardAction{{Type: "Action.OpenUrl", Title: "Open pull request", URL: e.PullRequestURL}}
	}
	return teamsMessage{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: teamsCardType,
			Content:     card,
		}},
	}
}
