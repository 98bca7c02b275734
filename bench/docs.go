package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// benchmarksTemplate is docs/benchmarks.md with the run's figures left
// out: `-out DIR` renders it into DIR/benchmarks.md.
//
//go:embed benchmarks.md.tmpl
var benchmarksTemplate string

// Markers of the soak's section of benchmarks.md: `-soak D -out DIR`
// rewrites what is between them, and the benchmark's -out keeps it.
const (
	soakBegin = "<!-- soak:begin (written by `cd bench && go run . -soak 60s -out ../docs`) -->"
	soakEnd   = "<!-- soak:end -->"
)

// Markers of the hand-written reading of the figures: the benchmark's -out
// keeps what is between them, so that the reading is edited in
// docs/benchmarks.md itself, next to the figures it reads.
const (
	readingBegin = "<!-- reading:begin (hand-written: edit it here; the benchmark's -out keeps it) -->"
	readingEnd   = "<!-- reading:end -->"
)

func pagePath(dir string) string { return filepath.Join(dir, "benchmarks.md") }

// pageData is what the template of benchmarks.md gets.
type pageData struct {
	Started string
	Took    string
	Mode    string
	Env     []string
	Targets string // markdown
	Tables  string // markdown
	Soak    string // the soak section, markers included
	Reading string // the reading section, markers included
}

// writePage renders dir/benchmarks.md from the run, keeping the soak
// section of the file that is there.
func writePage(dir string, env environment, h *harness) error {
	soak, err := readSection(pagePath(dir), soakBegin, soakEnd,
		"No soak figures yet: run `cd bench && go run . -soak 60s -out ../docs`.")
	if err != nil {
		return err
	}
	reading, err := readSection(pagePath(dir), readingBegin, readingEnd,
		"No reading of these figures yet: write it here, between these markers.")
	if err != nil {
		return err
	}
	var targets, tables bytes.Buffer
	targetsTable(h.res).writeMarkdown(&targets)
	for _, t := range h.tables {
		if strings.HasPrefix(t.Title, "Targets") {
			continue
		}
		t.writeMarkdown(&tables)
	}
	data := pageData{
		Started: env.Started.UTC().Format(time.RFC3339),
		Took:    fmt.Sprintf("%.0f s", env.Took.Seconds()),
		Mode:    env.Mode,
		Env:     env.lines(),
		Targets: strings.TrimSpace(targets.String()),
		Tables:  strings.TrimSpace(tables.String()),
		Soak:    soak,
		Reading: reading,
	}
	return writeFile(pagePath(dir), func(w io.Writer) error { return renderPage(w, data) })
}

func renderPage(w io.Writer, data pageData) error {
	tmpl, err := template.New("benchmarks.md").Parse(benchmarksTemplate)
	if err != nil {
		return fmt.Errorf("page template: %w", err)
	}
	return tmpl.Execute(w, data)
}

// readSection returns the section between begin and end of the page at
// path, markers included, or placeholder between the markers when the file
// or the section is missing.
func readSection(path, begin, end, placeholder string) (string, error) {
	empty := begin + "\n\n" + placeholder + "\n\n" + end
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	s := string(data)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return empty, nil
	}
	return s[i : j+len(end)], nil
}

// writeSoakSection replaces the soak section of the page at path with
// body. The page must exist with its markers (the benchmark's -out
// writes them).
func writeSoakSection(path, body string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("soak figures go into %s, which the benchmark's -out writes first: %w", path, err)
	}
	s := string(data)
	i, j := strings.Index(s, soakBegin), strings.Index(s, soakEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no soak section (markers %q … %q)", path, soakBegin, soakEnd)
	}
	out := s[:i] + soakBegin + "\n\n" + strings.TrimSpace(body) + "\n\n" + soakEnd + s[j+len(soakEnd):]
	return writeFile(path, func(w io.Writer) error {
		_, err := io.WriteString(w, out)
		return err
	})
}
