package report

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// palette colours one line per bulk size; colour-blind-safe (Okabe–Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"}

const (
	svgW, svgH         = 760, 630
	plotL, plotR       = 90, 600 // x extent of both panels
	topY0, topY1       = 90, 300 // throughput panel
	botY0, botY1       = 370, 570
	legendX            = 620
	gridLines          = 5
	fontFamily         = "DejaVu Sans, Helvetica, Arial, sans-serif"
	titleMaxCharacters = 110
)

// WriteSVG draws throughput (median docs/s of 1 s intervals) and p99 bulk latency against
// the number of clients, one line per bulk size, as a standalone SVG 1.1 file: no script,
// no external font or stylesheet, so any browser or rsvg-convert renders it.
func WriteSVG(w io.Writer, res *Result) error {
	bw := bufio.NewWriter(w)
	clients := distinct(res.Runs, func(r Run) int { return r.Clients })
	bulks := distinct(res.Runs, func(r Run) int { return r.BulkDocs })
	xOf := func(c int) float64 {
		i := slices.Index(clients, c)
		if len(clients) == 1 {
			return (plotL + plotR) / 2
		}
		return plotL + 20 + float64(i)*float64(plotR-plotL-40)/float64(len(clients)-1)
	}
	maxDocs, maxP99 := 0.0, 0.0
	for _, r := range res.Runs {
		maxDocs = max(maxDocs, r.DocsPerSec.Median)
		maxP99 = max(maxP99, r.Latency.P99)
	}
	docsTop, p99Top := niceCeil(maxDocs), niceCeil(maxP99)

	fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s">`+"\n",
		svgW, svgH, svgW, svgH, fontFamily)
	fmt.Fprintf(bw, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", svgW, svgH)
	title := fmt.Sprintf("weir bench: %s (auth %s), %s docs ~%.0f B, warm-up %s", res.Target, res.Auth,
		res.Load.Source, res.Load.AvgDocBytes, res.Load.Warmup)
	text(bw, 20, 28, 15, "start", "bold", truncate(title, titleMaxCharacters))
	text(bw, 20, 48, 11, "start", "normal", fmt.Sprintf("%s, %d CPUs, %s", res.Started.UTC().Format("2006-01-02 15:04 UTC"), res.Host.CPUs, res.Version))

	panel := func(y0, y1 float64, top float64, label string, value func(Run) float64, format func(float64) string) {
		// Grid and y labels.
		for i := 0; i <= gridLines; i++ {
			v := top * float64(i) / gridLines
			y := y1 - (y1-y0)*float64(i)/gridLines
			fmt.Fprintf(bw, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#dddddd" stroke-width="1"/>`+"\n", plotL, y, plotR, y)
			text(bw, plotL-8, y+4, 11, "end", "normal", format(v))
		}
		fmt.Fprintf(bw, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="none" stroke="#444444" stroke-width="1"/>`+"\n",
			plotL, y0, plotR-plotL, y1-y0)
		text(bw, plotL, y0-10, 13, "start", "bold", label)
		for _, c := range clients {
			x := xOf(c)
			fmt.Fprintf(bw, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#444444" stroke-width="1"/>`+"\n", x, y1, x, y1+5)
			text(bw, x, y1+18, 11, "middle", "normal", strconv.Itoa(c))
		}
		text(bw, (plotL+plotR)/2, y1+34, 11, "middle", "normal", "clients (concurrent bulk requests)")
		yOf := func(v float64) float64 {
			if top <= 0 {
				return y1
			}
			return y1 - (y1-y0)*v/top
		}
		for bi, b := range bulks {
			col := palette[bi%len(palette)]
			var pts []string
			for _, c := range clients {
				for _, r := range res.Runs {
					if r.Clients == c && r.BulkDocs == b {
						pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(c), yOf(value(r))))
					}
				}
			}
			if len(pts) > 1 {
				fmt.Fprintf(bw, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), col)
			}
			for _, p := range pts {
				x, y, _ := strings.Cut(p, ",")
				fmt.Fprintf(bw, `<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`+"\n", x, y, col)
			}
		}
	}
	panel(topY0, topY1, docsTop, "Throughput: docs/s (median of 1 s intervals)",
		func(r Run) float64 { return r.DocsPerSec.Median }, compact)
	panel(botY0, botY1, p99Top, "Bulk request latency p99 (ms)",
		func(r Run) float64 { return r.Latency.P99 }, func(v float64) string { return compact(v) })

	text(bw, legendX, topY0+4, 12, "start", "bold", "bulk size (docs)")
	for bi, b := range bulks {
		y := float64(topY0 + 24 + bi*20)
		col := palette[bi%len(palette)]
		fmt.Fprintf(bw, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="2"/>`+"\n", legendX, y-4, legendX+24, y-4, col)
		fmt.Fprintf(bw, `<circle cx="%d" cy="%.1f" r="3.5" fill="%s"/>`+"\n", legendX+12, y-4, col)
		text(bw, legendX+32, y, 12, "start", "normal", strconv.Itoa(b))
	}
	fmt.Fprintln(bw, `</svg>`)
	return bw.Flush()
}

func distinct(runs []Run, f func(Run) int) []int {
	var out []int
	for _, r := range runs {
		if !slices.Contains(out, f(r)) {
			out = append(out, f(r))
		}
	}
	slices.Sort(out)
	return out
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten, so grid labels are round.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// compact formats 12500 as 12.5k and 1500000 as 1.5M.
func compact(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trimZero(strconv.FormatFloat(v/1e6, 'f', 2, 64)) + "M"
	case a >= 1e3:
		return trimZero(strconv.FormatFloat(v/1e3, 'f', 1, 64)) + "k"
	case a >= 10 || a == 0:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return trimZero(strconv.FormatFloat(v, 'f', 2, 64))
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func text(w io.Writer, x, y float64, size int, anchor, weight, s string) {
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" font-weight="%s" fill="#222222">`, x, y, size, anchor, weight)
	_ = xml.EscapeText(w, []byte(s))
	fmt.Fprintln(w, `</text>`)
}
