package notify

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// width measures text the way the services' limits do. Discord counts
// JavaScript string length (UTF-16 code units); Slack and Teams count
// characters, which are never more than UTF-16 units, so one measure
// keeps every limit.
func width(s string) int {
	n := 0
	for _, r := range s {
		if l := utf16.RuneLen(r); l > 0 {
			n += l
		} else {
			n++ // invalid rune, sent as U+FFFD
		}
	}
	return n
}

// truncate shortens s to at most max units, marking the cut with "…".
func truncate(s string, max int) string {
	if width(s) <= max {
		return s
	}
	const ellipsis = "…"
	budget := max - width(ellipsis)
	if budget < 0 {
		return ""
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		w := width(string(r))
		if n+w > budget {
			break
		}
		b.WriteRune(r)
		n += w
	}
	return b.String() + ellipsis
}

// clipLines fits text into max units (after esc is applied) and, when
// maxLines > 0, into maxLines lines. It keeps whole lines where it can and
// ends with a note of how many were left out, so that a truncated table
// still reads as a table.
func clipLines(text string, max, maxLines int, esc func(string) string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if maxLines <= 0 {
		maxLines = len(lines)
	}
	var out []string
	used := 0
	for i, line := range lines {
		e := esc(line)
		sep := 0
		if len(out) > 0 {
			sep = 1
		}
		// Keep room for the note about what follows, if anything does.
		note := moreLines(len(lines) - i - 1)
		slots := len(out) + 1
		if note != "" {
			slots++
		}
		if used+sep+width(e)+noteWidth(note) <= max && slots <= maxLines {
			out = append(out, e)
			used += sep + width(e)
			continue
		}
		note = moreLines(len(lines) - i)
		if len(out) == 0 {
			// Not even the first line fits: cut it, rune by rune, so an
			// escape sequence is never split.
			budget := max - noteWidth(moreLines(len(lines)-i-1)) - width("…")
			var b strings.Builder
			n := 0
			for _, r := range line {
				er := esc(string(r))
				if n+width(er) > budget {
					break
				}
				b.WriteString(er)
				n += width(er)
			}
			if n > 0 {
				out = append(out, b.String()+"…")
				note = moreLines(len(lines) - i - 1)
			}
		}
		if note != "" && used+noteWidth(note) <= max {
			out = append(out, note)
		}
		break
	}
	return strings.Join(out, "\n")
}

func moreLines(n int) string {
	if n <= 0 {
		return ""
	}
	if n == 1 {
		return "… 1 more line"
	}
	return fmt.Sprintf("… %d more lines", n)
}

func noteWidth(note string) int {
	if note == "" {
		return 0
	}
	return 1 + width(note) // with its newline
}

// plainTable turns markdown tables into aligned plain text: none of the
// chat formats renders markdown tables, but all of them show a
// monospace block. Lines that are not table rows pass through.
func plainTable(md string) string {
	lines := strings.Split(strings.TrimRight(md, "\n"), "\n")
	var out []string
	for i := 0; i < len(lines); {
		if !isRow(lines[i]) {
			out = append(out, strings.TrimRight(lines[i], " \t\r"))
			i++
			continue
		}
		var rows [][]string
		header := -1
		for ; i < len(lines) && isRow(lines[i]); i++ {
			cells := splitRow(lines[i])
			if isDelimiterRow(cells) {
				if len(rows) == 1 {
					header = 0
				}
				continue
			}
			rows = append(rows, cells)
		}
		out = append(out, alignRows(rows, header)...)
	}
	return strings.Join(out, "\n")
}

func isRow(line string) bool {
	return strings.HasPrefix(strings.TrimSpace(line), "|")
}

// splitRow splits a markdown table row into its cells, honouring \| and
// dropping the backticks that only mark code in rendered markdown.
func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	if strings.HasSuffix(line, "|") && !strings.HasSuffix(line, `\|`) {
		line = strings.TrimSuffix(line, "|")
	}
	var cells []string
	var cell strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cell.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, cell.String())
			cell.Reset()
		default:
			cell.WriteByte(line[i])
		}
	}
	cells = append(cells, cell.String())
	for i, c := range cells {
		cells[i] = strings.TrimSpace(strings.ReplaceAll(c, "`", ""))
	}
	return cells
}

func isDelimiterRow(cells []string) bool {
	for _, c := range cells {
		c = strings.Trim(c, ":")
		if c == "" || strings.Trim(c, "-") != "" {
			return false
		}
	}
	return true
}

// alignRows pads cells to their column's width; header is the index of
// the header row, which gets a rule under it, or -1.
func alignRows(rows [][]string, header int) []string {
	var widths []int
	for _, r := range rows {
		for j, c := range r {
			if j >= len(widths) {
				widths = append(widths, 0)
			}
			widths[j] = max(widths[j], utf8.RuneCountInString(c))
		}
	}
	var out []string
	for i, r := range rows {
		var b strings.Builder
		for j, c := range r {
			if j > 0 {
				b.WriteString("  ")
			}
			b.WriteString(c)
			if j < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[j]-utf8.RuneCountInString(c)))
			}
		}
		out = append(out, strings.TrimRight(b.String(), " "))
		if i == header {
			var rule []string
			for _, w := range widths {
				rule = append(rule, strings.Repeat("-", max(w, 1)))
			}
			out = append(out, strings.Join(rule, "  "))
		}
	}
	return out
}
