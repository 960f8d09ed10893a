package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// WriteTable prints one line per run.
func WriteTable(w io.Writer, res *Result) error {
	fmt.Fprintf(w, "target %s (auth %s), %s documents (avg %.0f B), index %s\n",
		res.Target, res.Auth, res.Load.Source, res.Load.AvgDocBytes, res.Load.Index)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clients\tbulk\tdocs/s min\tmedian\tmax\tMB/s med\tp50 ms\tp90\tp99\tp99.9\t429 req/items\terr req/items\tCPU-s/M docs\tload\t")
	for _, r := range res.Runs {
		fmt.Fprintf(tw, "%d\t%d\t%.0f\t%.0f\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%s/%s\t%s/%s\t%.2f\t%.1f\t\n",
			r.Clients, r.BulkDocs, r.DocsPerSec.Min, r.DocsPerSec.Median, r.DocsPerSec.Max, r.MBPerSec.Median,
			r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999,
			pct(r.Request429Rate), pct(r.Item429Rate), pct(r.RequestErrorRate), pct(r.ItemErrorRate),
			r.CPUSecondsPerMillion, r.LoadAvg)
	}
	return tw.Flush()
}

func pct(f float64) string {
	if f == 0 {
		return "0"
	}
	return fmt.Sprintf("%.2g%%", f*100)
}

// Change is one configuration's figures in an old and a new result.
type Change struct {
	Key               string
	Clients, BulkDocs int
	OldDocs, NewDocs  float64 // median docs/s
	OldP99, NewP99    float64 // ms
	OldCPU, NewCPU    float64 // CPU-s per million docs
	OnlyOld, OnlyNew  bool
}

// DocsChange is the relative change of median docs/s (+0.1 = 10% faster); NaN if unknown.
func (c Change) DocsChange() float64 { return rel(c.OldDocs, c.NewDocs) }

// P99Change is the relative change of p99 latency (+0.1 = 10% slower).
func (c Change) P99Change() float64 { return rel(c.OldP99, c.NewP99) }

// CPUChange is the relative change of CPU-s per million docs.
func (c Change) CPUChange() float64 { return rel(c.OldCPU, c.NewCPU) }

func rel(old, new float64) float64 {
	if old == 0 {
		return math.NaN()
	}
	return new/old - 1
}

// Compare matches runs of old and new by clients and bulk size, in new's order, then the
// configurations only old has.
func Compare(old, new *Result) []Change {
	byKey := map[string]Run{}
	for _, r := range old.Runs {
		byKey[r.Key()] = r
	}
	var out []Change
	seen := map[string]bool{}
	for _, n := range new.Runs {
		c := Change{Key: n.Key(), Clients: n.Clients, BulkDocs: n.BulkDocs,
			NewDocs: n.DocsPerSec.Median, NewP99: n.Latency.P99, NewCPU: n.CPUSecondsPerMillion}
		if o, ok := byKey[n.Key()]; ok {
			c.OldDocs, c.OldP99, c.OldCPU = o.DocsPerSec.Median, o.Latency.P99, o.CPUSecondsPerMillion
			seen[n.Key()] = true
		} else {
			c.OnlyNew = true
		}
		out = append(out, c)
	}
	for _, o := range old.Runs {
		if !seen[o.Key()] {
			out = append(out, Change{Key: o.Key(), Clients: o.Clients, BulkDocs: o.BulkDocs, OnlyOld: true,
				OldDocs: o.DocsPerSec.Median, OldP99: o.Latency.P99, OldCPU: o.CPUSecondsPerMillion})
		}
	}
	return out
}

// WriteCompare prints Compare's changes as a table.
func WriteCompare(w io.Writer, old, new *Result) error {
	fmt.Fprintf(w, "old: %s %s (%s)\nnew: %s %s (%s)\n", old.Target, old.Started.Format("2006-01-02 15:04"), old.Version,
		new.Target, new.Started.Format("2006-01-02 15:04"), new.Version)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "clients\tbulk\tdocs/s old\tnew\tchange\tp99 ms old\tnew\tchange\tCPU-s/M old\tnew\tchange\t")
	for _, c := range Compare(old, new) {
		switch {
		case c.OnlyNew:
			fmt.Fprintf(tw, "%d\t%d\t-\t%.0f\tnew\t-\t%.1f\t\t-\t%.2f\t\t\n", c.Clients, c.BulkDocs, c.NewDocs, c.NewP99, c.NewCPU)
		case c.OnlyOld:
			fmt.Fprintf(tw, "%d\t%d\t%.0f\t-\tgone\t%.1f\t-\t\t%.2f\t-\t\t\n", c.Clients, c.BulkDocs, c.OldDocs, c.OldP99, c.OldCPU)
		default:
			fmt.Fprintf(tw, "%d\t%d\t%.0f\t%.0f\t%s\t%.1f\t%.1f\t%s\t%.2f\t%.2f\t%s\t\n", c.Clients, c.BulkDocs,
				c.OldDocs, c.NewDocs, signed(c.DocsChange()), c.OldP99, c.NewP99, signed(c.P99Change()),
				c.OldCPU, c.NewCPU, signed(c.CPUChange()))
		}
	}
	return tw.Flush()
}

func signed(f float64) string {
	if math.IsNaN(f) {
		return "n/a"
	}
	s := fmt.Sprintf("%+.1f%%", f*100)
	return strings.Replace(s, "+0.0%", "0.0%", 1)
}
