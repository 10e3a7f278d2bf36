// Package markdown escapes text tidegate did not write itself (tags from
// registries, file names and values from repositories, names from the
// command line) before it goes into Markdown (pull and merge request
// bodies, step summaries, notes) or a commit message. Such text is data:
// a newline must not end a title or a table row, a pipe must not open a
// cell, a backtick must not close a code span, and "<img>", "# x" or
// "@team" must not become HTML, a heading or a mention.
package markdown

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line makes s one printable line: every control character (newline,
// carriage return, escape, tab, DEL, the Unicode line separators and
// bidirectional overrides) and every invalid UTF-8 byte becomes its Go
// escape (\n, \x1b, \u202e). Commit message titles and every other
// function here start from it.
func Line(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i]), 16))
		case unicode.IsControl(r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) || isBidi(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isBidi reports the bidirectional controls that reorder what a reader
// sees (the "Trojan Source" characters).
func isBidi(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F || r == 0x061C
}

// Code returns s as an inline code span nothing in s can close: its
// fence is longer than any run of backticks in s, and Line has removed
// the newlines that would end it. Inside a code span Markdown renders no
// HTML, link, emphasis or mention.
func Code(s string) string {
	s = Line(s)
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if s == "" || s[0] == '`' || s[len(s)-1] == '`' || s[0] == ' ' && s[len(s)-1] == ' ' {
		s = " " + s + " "
	}
	return fence + s + fence
}

// Cell is Code for a table cell: pipes are escaped too, which GitHub and
// GitLab read as a pipe inside the span rather than a new cell.
func Cell(s string) string {
	return strings.ReplaceAll(Code(s), "|", `\|`)
}

// Text escapes s as Markdown text, usable in a paragraph, a list item
// and a table cell alike: each line is Line'd and its punctuation
// escaped, a line that would start a heading, a list or a quote is
// defused, a mention gets a zero-width space after its @, and the lines
// are joined with <br> (a table cell cannot hold a newline).
func Text(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = textLine(Line(strings.TrimSuffix(l, "\r")))
	}
	return strings.Join(lines, "<br>")
}

func textLine(s string) string {
	var b strings.Builder
	// lead: only spaces so far; digits: only spaces and digits.
	lead, digits := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '\\', '`', '*', '_', '[', ']', '|', '~', '!':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '@':
			b.WriteByte(c)
			// GitHub and GitLab turn @name into a mention wherever it stands
			// in text; a zero-width space keeps it a plain word.
			if (i == 0 || !isWord(s[i-1])) && i+1 < len(s) && isWord(s[i+1]) {
				b.WriteString("\u200b")
			}
		case '#', '-', '+', '=':
			if lead {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		case '.', ')':
			// "1." and "1)" open an ordered list at the start of a line.
			if digits && !lead {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
		lead = lead && c == ' '
		digits = digits && (c == ' ' || c >= '0' && c <= '9')
	}
	return b.String()
}

func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}
