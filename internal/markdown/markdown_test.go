package markdown_test

import (
	"strings"
	"testing"

	"github.com/tidegate/tidegate/internal/markdown"
)

func TestEscapes(t *testing.T) {
	for _, tc := range []struct{ fn, in, want string }{
		{"line", "1.2.3\n| x | y |\r\x1b[31m\u202e", `1.2.3\n| x | y |\r\x1b[31m\u202e`},
		{"line", "bad\xffbyte", `bad\xffbyte`},
		{"code", "1.2.3", "`1.2.3`"},
		{"code", "a`b", "``a`b``"},
		{"code", "`x``", "``` `x`` ```"},
		{"code", "", "`  `"},
		{"code", "x\n# heading", "`x\\n# heading`"},
		{"cell", "a|b", "`a\\|b`"},
		{"text", "<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"},
		{"text", "# title\n- item\n1. one\n> quote", `\# title<br>\- item<br>1\. one<br>&gt; quote`},
		{"text", "ping @admins and bot@example.com", "ping @\u200badmins and bot@example.com"},
		{"text", "a|b `c` *d* [e](f) ![g](h)", "a\\|b \\`c\\` \\*d\\* \\[e\\](f) \\!\\[g\\](h)"},
		{"text", "v1.2.3-rc.1", "v1.2.3-rc.1"},
	} {
		var got string
		switch tc.fn {
		case "line":
			got = markdown.Line(tc.in)
		case "code":
			got = markdown.Code(tc.in)
		case "cell":
			got = markdown.Cell(tc.in)
		case "text":
			got = markdown.Text(tc.in)
		}
		if got != tc.want {
			t.Errorf("%s(%q) = %q, want %q", tc.fn, tc.in, got, tc.want)
		}
	}
}

// FuzzEscapes checks what every caller relies on: nothing any function
// returns holds a line break or a control character, and a code span
// holds its content unchanged between its fences.
func FuzzEscapes(f *testing.F) {
	for _, s := range []string{"", "`", "a\nb", "|", "``x``", "\u2028", "@x", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, out := range map[string]string{"Line": markdown.Line(s), "Code": markdown.Code(s), "Cell": markdown.Cell(s), "Text": markdown.Text(s)} {
			if strings.ContainsAny(out, "\n\r\x00\x1b\u2028\u2029") {
				t.Fatalf("%s(%q) = %q holds a line break or control character", name, s, out)
			}
		}
		code, line := markdown.Code(s), markdown.Line(s)
		fence := code[:strings.IndexFunc(code, func(r rune) bool { return r != '`' })]
		inner := strings.TrimSuffix(strings.TrimPrefix(code, fence), fence)
		if strings.Contains(inner, fence) || strings.TrimSpace(inner) != strings.TrimSpace(line) {
			t.Fatalf("Code(%q) = %q: the fence %q is not unique or the content changed", s, code, fence)
		}
	})
}
