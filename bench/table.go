package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// table is a result table, printed as plain text or as markdown.
type table struct {
	Title  string
	Header []string
	Align  string // one letter per column: 'l' left, 'r' right
	Rows   [][]string
	Notes  []string
}

func (t *table) add(cells ...string) { t.Rows = append(t.Rows, cells) }

func (t *table) widths() []int {
	w := make([]int, len(t.Header))
	for i, h := range t.Header {
		w[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.Rows {
		for i, c := range r {
			if i < len(w) {
				w[i] = max(w[i], utf8.RuneCountInString(c))
			}
		}
	}
	return w
}

func (t *table) right(i int) bool { return i < len(t.Align) && t.Align[i] == 'r' }

func pad(s string, w int, right bool) string {
	n := w - utf8.RuneCountInString(s)
	if n <= 0 {
		return s
	}
	if right {
		return strings.Repeat(" ", n) + s
	}
	return s + strings.Repeat(" ", n)
}

// writeText writes t as aligned plain text.
func (t *table) writeText(w io.Writer) {
	widths := t.widths()
	line := func(cells []string) {
		parts := make([]string, len(widths))
		for i := range widths {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			parts[i] = pad(c, widths[i], t.right(i))
		}
		fmt.Fprintln(w, strings.TrimRight(strings.Join(parts, "  "), " "))
	}
	fmt.Fprintf(w, "\n== %s\n\n", t.Title)
	line(t.Header)
	rule := make([]string, len(widths))
	for i, n := range widths {
		rule[i] = strings.Repeat("-", n)
	}
	line(rule)
	for _, r := range t.Rows {
		line(r)
	}
	for _, n := range t.Notes {
		fmt.Fprintf(w, "  * %s\n", n)
	}
}

// writeMarkdown writes t as a markdown table under a heading.
func (t *table) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "### %s\n\n", t.Title)
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	cells := make([]string, len(t.Header))
	for i, h := range t.Header {
		cells[i] = esc(h)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	for i := range t.Header {
		cells[i] = "---"
		if t.right(i) {
			cells[i] = "---:"
		}
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	for _, r := range t.Rows {
		for i := range cells {
			cells[i] = ""
			if i < len(r) {
				cells[i] = esc(r[i])
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	if len(t.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range t.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	fmt.Fprintln(w)
}

// count formats n with thousands separators: 65536 → "65,536".
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// countf formats an average: whole numbers as count does, others with one
// decimal.
func countf(f float64) string {
	if f == float64(int64(f)) {
		return count(int64(f))
	}
	return strconv.FormatFloat(f, 'f', 1, 64)
}

// ms formats d in milliseconds.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

// ratio formats a/b as "×1.23", or "–" when b is zero.
func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return "×" + strconv.FormatFloat(a/b, 'f', 2, 64)
}

// percent formats part/whole as a percentage.
func percent(part, whole int) string {
	if whole == 0 {
		return "–"
	}
	return strconv.FormatFloat(100*float64(part)/float64(whole), 'f', 1, 64) + "%"
}

// sizeName formats a session size: 1024 → "1 KB".
func sizeName(n int) string {
	if n%1024 == 0 {
		return strconv.Itoa(n/1024) + " KB"
	}
	return strconv.Itoa(n) + " B"
}
