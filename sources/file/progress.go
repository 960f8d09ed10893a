package file

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Snapshot is what a progress line shows.
type Snapshot struct {
	// Documents finished so far (indexed, dead-lettered or undelivered).
	Documents    int64 `json:"documents"`
	Indexed      int64 `json:"indexed"`
	DeadLettered int64 `json:"dead_lettered"`
	// Bytes of input read; TotalBytes of input to read, 0 when unknown.
	Bytes       int64 `json:"bytes"`
	TotalBytes  int64 `json:"total_bytes,omitempty"`
	InputsDone  int64 `json:"inputs_done"`
	InputsTotal int64 `json:"inputs_total"`
}

// Progress reports a running backfill: on a terminal one line redrawn in place (with '\r'),
// elsewhere one JSON object per interval ({"progress":{...}}), which log collectors keep
// whole.
type Progress struct {
	w     io.Writer
	tty   bool
	every time.Duration
	now   func() time.Time
	snap  func() Snapshot

	start   time.Time
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// NewProgress reports snap() to w every interval (redrawn in place when tty), timed by now.
func NewProgress(w io.Writer, tty bool, every time.Duration, now func() time.Time, snap func() Snapshot) *Progress {
	if now == nil {
		now = time.Now
	}
	return &Progress{w: w, tty: tty, every: every, now: now, snap: snap, start: now(),
		stop: make(chan struct{}), stopped: make(chan struct{})}
}

// Start reports until Stop.
func (p *Progress) Start() {
	go func() {
		defer close(p.stopped)
		t := time.NewTicker(p.every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.report()
			}
		}
	}()
}

// Stop reports one last time (ending the terminal line) and stops. Safe to call twice.
func (p *Progress) Stop() {
	p.once.Do(func() {
		close(p.stop)
		<-p.stopped
		p.report()
		if p.tty {
			fmt.Fprintln(p.w)
		}
	})
}

func (p *Progress) report() {
	s := p.snap()
	elapsed := p.now().Sub(p.start)
	if p.tty {
		// '\r' returns to the line's start and ESC[K clears what a longer line left.
		fmt.Fprintf(p.w, "\r%s\x1b[K", FormatLine(s, elapsed))
		return
	}
	_, _ = p.w.Write(FormatJSON(s, elapsed))
}

// FormatLine is the terminal line: documents, megabytes (of the total when known), the
// rate, and the time left when the total is known (from the byte rate so far).
func FormatLine(s Snapshot, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "backfill: %s docs", group(s.Documents))
	if s.TotalBytes > 0 {
		fmt.Fprintf(&b, "  %.1f/%.1f MB (%d%%)", mb(s.Bytes), mb(s.TotalBytes), percent(s.Bytes, s.TotalBytes))
	} else {
		fmt.Fprintf(&b, "  %.1f MB", mb(s.Bytes))
	}
	fmt.Fprintf(&b, "  %s docs/s", group(int64(rate(s.Documents, elapsed))))
	if eta, ok := ETA(s, elapsed); ok {
		fmt.Fprintf(&b, "  ETA %s", formatDuration(eta))
	}
	if s.DeadLettered > 0 {
		fmt.Fprintf(&b, "  %s dead-lettered", group(s.DeadLettered))
	}
	fmt.Fprintf(&b, "  inputs %d/%d  %s", s.InputsDone, s.InputsTotal, formatDuration(elapsed))
	return b.String()
}

// FormatJSON is the progress line for logs: {"progress":{...}} and a newline.
func FormatJSON(s Snapshot, elapsed time.Duration) []byte {
	type line struct {
		Snapshot
		Elapsed    float64  `json:"elapsed_seconds"`
		DocsPerSec float64  `json:"docs_per_second"`
		ETA        *float64 `json:"eta_seconds,omitempty"`
	}
	l := line{Snapshot: s, Elapsed: round(elapsed.Seconds(), 3), DocsPerSec: round(rate(s.Documents, elapsed), 1)}
	if eta, ok := ETA(s, elapsed); ok {
		v := round(eta.Seconds(), 1)
		l.ETA = &v
	}
	b, _ := json.Marshal(map[string]line{"progress": l})
	return append(b, '\n')
}

// ETA estimates the time left from the bytes read so far, when the total is known.
func ETA(s Snapshot, elapsed time.Duration) (time.Duration, bool) {
	if s.TotalBytes <= 0 || s.Bytes <= 0 || elapsed <= 0 {
		return 0, false
	}
	left := max(s.TotalBytes-s.Bytes, 0)
	return time.Duration(float64(elapsed) * float64(left) / float64(s.Bytes)).Round(time.Second), true
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func mb(b int64) float64 { return float64(b) / 1e6 }

func percent(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	return min(100*a/b, 100)
}

func round(v float64, digits int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', digits, 64), 64)
	return f
}

// group writes n with thousands separators: 1,234,567.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatDuration writes 4.2s, 3m07s or 2h05m.
func formatDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
