package main

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// bar is one bar of a chart panel.
type bar struct {
	Label string
	Value float64
	Text  string // the value as printed next to the bar
	Color string
}

// panel is one horizontal bar chart with its own scale.
type panel struct {
	Title string
	Bars  []bar
}

// Chart geometry, in SVG user units.
const (
	chartWidth  = 1000
	labelWidth  = 360
	barArea     = 420
	barHeight   = 18
	barGap      = 6
	titleHeight = 34
	panelGap    = 18
)

func libColor(lib string) string {
	switch lib {
	case libAtomic:
		return "#60a5fa"
	case libAtomicFast:
		return "#1d4ed8"
	case libAtomicUnbatched:
		return "#93c5fd"
	case libSCS:
		return "#f59e0b"
	case libRaw:
		return "#16a34a"
	}
	return "#6b7280"
}

// writeSVG draws panels one under another, each bar scaled to its panel's
// largest value.
func writeSVG(w io.Writer, title, subtitle string, panels []panel) error {
	height := 70
	for _, p := range panels {
		height += titleHeight + len(p.Bars)*(barHeight+barGap) + panelGap
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="13">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="16" y="28" font-size="18" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="16" y="50" fill="#555555">%s</text>`+"\n", html.EscapeString(subtitle))
	y := 70
	for _, p := range panels {
		y = drawPanel(&b, p, y)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func drawPanel(b *strings.Builder, p panel, y int) int {
	fmt.Fprintf(b, `<text x="16" y="%d" font-size="15" font-weight="bold">%s</text>`+"\n", y+22, html.EscapeString(p.Title))
	y += titleHeight
	top := 0.0
	for _, br := range p.Bars {
		top = max(top, br.Value)
	}
	for _, br := range p.Bars {
		width := 0.0
		if top > 0 {
			width = br.Value / top * barArea
		}
		if br.Value > 0 && width < 1 {
			width = 1
		}
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelWidth-8, y+barHeight-4, html.EscapeString(br.Label))
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", labelWidth, y, width, barHeight, br.Color)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" fill="#333333">%s</text>`+"\n", float64(labelWidth)+width+6, y+barHeight-4, html.EscapeString(br.Text))
		y += barHeight + barGap
	}
	return y + panelGap
}

// chartPanels turns a run's results into the chart's panels.
func chartPanels(res results, cfg config) []panel {
	var out []panel
	kept := panel{Title: fmt.Sprintf("Lost updates: increments kept of those acknowledged (%d clients × %d, two instances)", cfg.Lost.Clients, cfg.Lost.PerClient)}
	for _, r := range res.Lost {
		if r.Kind != lostIncrements || r.Err != nil {
			continue
		}
		label := r.Library + " · " + r.Backend
		if strings.HasSuffix(r.Setup, unsharedConns) {
			label += " (" + unsharedConns + ")"
		}
		kept.Bars = append(kept.Bars, bar{label, float64(r.Kept), fmt.Sprintf("%s of %s kept (%s lost)", count(int64(r.Kept)), count(int64(r.Expected)), percent(r.Lost(), r.Expected)), libColor(r.Library)})
	}
	out = append(out, kept)
	out = append(out, tputPanels(res.Tput, cfg)...)
	if p, ok := walPanel(res.Tput); ok {
		out = append(out, p)
	}
	largest := cfg.Sizes[len(cfg.Sizes)-1]
	sent := panel{Title: fmt.Sprintf("Bytes sent to the store for a one-key write on a %s session", sizeName(largest))}
	recv := panel{Title: "Bytes received from the store for the same write"}
	untouched := panel{Title: "Store round trips for a request that does not touch its session"}
	for _, r := range res.Trips {
		if r.Err != nil || r.Backend == cookieOnly {
			continue
		}
		if r.Request == tripWrite && r.Size == largest && r.Library != libRaw {
			sent.Bars = append(sent.Bars, bar{r.Library + " · " + r.Backend, r.Traffic.Sent, count(int64(r.Traffic.Sent+0.5)) + " bytes", libColor(r.Library)})
			recv.Bars = append(recv.Bars, bar{r.Library + " · " + r.Backend, r.Traffic.Recv, count(int64(r.Traffic.Recv+0.5)) + " bytes", libColor(r.Library)})
		}
		if r.Request == tripUntouched && r.Size == cfg.Sizes[0] && r.Library != libRaw {
			untouched.Bars = append(untouched.Bars, bar{r.Library + " · " + r.Backend, r.Traffic.Trips, plural(r.Traffic.Trips, "round trip"), libColor(r.Library)})
		}
	}
	return append(out, sent, recv, untouched)
}

// tputPanels gives one throughput panel per scenario, its bars in the
// order the rows ran: per store SCS, atomicsession and the raw store (the
// limit), then the cookie-only rows.
func tputPanels(rs []tputResult, cfg config) []panel {
	var out []panel
	for _, sc := range tputScenarios {
		p := panel{Title: fmt.Sprintf("(%s) Requests/s, %s, %d clients (green: the raw store, the limit)", sc.Key, sc.Title, cfg.Tput.Clients)}
		for _, r := range rs {
			if r.Err != nil || r.Scenario != sc.Key {
				continue
			}
			label := r.Library + " · " + r.Backend
			if r.Library == libRaw {
				label = "raw store (limit) · " + r.Backend
			}
			p.Bars = append(p.Bars, bar{label, r.RPS(), fmt.Sprintf("%s req/s, p99 %s", count(int64(r.RPS()+0.5)), ms(r.P99)), libColor(r.Library)})
		}
		if len(p.Bars) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// walPanel gives the PostgreSQL WAL written per request in scenario (b),
// if it ran.
func walPanel(rs []tputResult) (panel, bool) {
	p := panel{Title: "(b) PostgreSQL WAL bytes per request: read a small key + write a small key on a 64 KB session"}
	for _, r := range rs {
		if r.Err != nil || r.Scenario != "b" || !r.HasWAL {
			continue
		}
		label := r.Library + " · " + r.Backend
		if r.Library == libRaw {
			label = "raw store (limit) · " + r.Backend
		}
		p.Bars = append(p.Bars, bar{label, r.WAL, count(int64(r.WAL+0.5)) + " bytes", libColor(r.Library)})
	}
	return p, len(p.Bars) > 0
}

// plural formats n and noun, adding "s" unless n is 1.
func plural(n float64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return countf(n) + " " + noun + "s"
}
