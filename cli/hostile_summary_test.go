package cli

import (
	"strings"
	"testing"

	"github.com/tidegate/tidegate/object"
	"github.com/tidegate/tidegate/propose"
	"github.com/tidegate/tidegate/reconcile"
	"github.com/tidegate/tidegate/source"
)

// TestHostileSummaryTables: the step summary tables of reconcile and of
// images update --propose hold names and reasons from the repository
// and the API server. Whatever they contain, each row keeps its three
// cells and nothing renders as HTML, a heading or a mention.
func TestHostileSummaryTables(t *testing.T) {
	hostile := "a|b\n# heading\n<img src=x onerror=alert(1)> @admins `x`"
	rep := &reconcile.Report{Objects: []reconcile.Entry{
		{Change: object.Change{ID: object.ID{Kind: "ConfigMap", Namespace: "default", Name: hostile}, Action: reconcile.Action("failed"), Reason: hostile}},
	}}
	res := &propose.Result{Proposals: []propose.Proposal{{Branch: "tidegate/" + hostile, Action: propose.ActionCreated}}}
	for name, md := range map[string]string{
		"reconcile":     reportSummary("reconcile", rep, nil).Markdown,
		"images update": proposeSummary(&source.Checkout{URL: "x"}, res, nil).Markdown,
	} {
		lines := strings.Split(strings.TrimSuffix(md, "\n"), "\n")
		if len(lines) != 3 {
			t.Errorf("%s: %d lines, want header, rule and one row:\n%s", name, len(lines), md)
		}
		for _, l := range lines {
			if n := strings.Count(l, "|") - strings.Count(l, `\|`); n != 4 {
				t.Errorf("%s: row with %d cell separators, want 4: %s", name, n, l)
			}
		}
		for _, bad := range []string{"<img", "\n# heading", " @admins"} {
			if strings.Contains(outsideCode(md), bad) {
				t.Errorf("%s: the table holds %q raw:\n%s", name, bad, md)
			}
		}
	}
}

// outsideCode is md without its code spans (escaped backticks are text),
// where Markdown renders nothing.
func outsideCode(md string) string {
	var b strings.Builder
	for i := 0; i < len(md); {
		if md[i] == '\\' && i+1 < len(md) {
			b.WriteString(md[i : i+2])
			i += 2
			continue
		}
		if md[i] != '`' {
			b.WriteByte(md[i])
			i++
			continue
		}
		n := 0
		for i+n < len(md) && md[i+n] == '`' {
			n++
		}
		fence := md[i : i+n]
		rest := md[i+n:]
		end := -1
		for j := 0; j+n <= len(rest); j++ {
			if rest[j:j+n] == fence && (j+n == len(rest) || rest[j+n] != '`') && (j == 0 || rest[j-1] != '`') {
				end = j
				break
			}
		}
		if end < 0 {
			b.WriteString(fence)
			i += n
			continue
		}
		i += n + end + n
	}
	return b.String()
}
