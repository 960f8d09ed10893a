package file

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Summary is how a backfill went: printed as text for people and as one JSON line for
// scripts ({"summary":{...}}).
type Summary struct {
	// Status is ok (every document indexed or dead-lettered), undelivered (some were not:
	// run again with the same checkpoint), failed (an input could not be read) or
	// interrupted (stopped by a signal before every input was read).
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`

	Documents    int64 `json:"documents"`
	Indexed      int64 `json:"indexed"`
	DeadLettered int64 `json:"dead_lettered"`
	Undelivered  int64 `json:"undelivered"`
	// DeadLetters counts dead letters by reason (an OpenSearch error type, invalid_json,
	// document_too_large, ...).
	DeadLetters map[string]int64 `json:"dead_letters_by_reason"`

	InputBytes    int64 `json:"input_bytes"`
	DocumentBytes int64 `json:"document_bytes"`

	Inputs   InputCounts `json:"inputs"`
	Failures []Failure   `json:"failures,omitempty"`

	DurationSeconds float64 `json:"duration_seconds"`
	DocsPerSecond   float64 `json:"docs_per_second"`
	Checkpoint      string  `json:"checkpoint,omitempty"`
}

// InputCounts says what happened to the inputs.
type InputCounts struct {
	// Total inputs named (after expanding globs and prefixes).
	Total int64 `json:"total"`
	// Skipped: finished in an earlier run, by the checkpoint.
	Skipped int64 `json:"skipped"`
	// Resumed: an earlier run delivered part of them; reading went on from there.
	Resumed int64 `json:"resumed"`
	// Done: read to the end and delivered in this run.
	Done   int64 `json:"done"`
	Failed int64 `json:"failed"`
	// Queues and streams drained (sqs://, kinesis://).
	Streams int `json:"streams,omitempty"`
}

// SetDuration fills the duration and the rate.
func (s *Summary) SetDuration(d time.Duration) {
	s.DurationSeconds = round(d.Seconds(), 3)
	s.DocsPerSecond = round(rate(s.Documents, d), 1)
}

// JSONLine is {"summary":{...}} and a newline.
func (s Summary) JSONLine() []byte {
	if s.DeadLetters == nil {
		s.DeadLetters = map[string]int64{}
	}
	b, _ := json.Marshal(map[string]Summary{"summary": s})
	return append(b, '\n')
}

// Text is the summary for people.
func (s Summary) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "backfill %s: %s documents in %s (%s docs/s), %.1f MB read\n",
		s.Status, group(s.Documents), formatDuration(time.Duration(s.DurationSeconds*float64(time.Second))),
		group(int64(s.DocsPerSecond)), mb(s.InputBytes))
	fmt.Fprintf(&b, "  indexed %s, dead-lettered %s, undelivered %s\n", group(s.Indexed), group(s.DeadLettered), group(s.Undelivered))
	for _, r := range slices.Sorted(maps.Keys(s.DeadLetters)) {
		fmt.Fprintf(&b, "  dead letters %-34s %s\n", r, group(s.DeadLetters[r]))
	}
	in := s.Inputs
	fmt.Fprintf(&b, "  inputs: %d in all, %d done, %d skipped (finished earlier), %d resumed, %d failed", in.Total, in.Done, in.Skipped, in.Resumed, in.Failed)
	if in.Streams > 0 {
		fmt.Fprintf(&b, "; %d queue(s)/stream(s) drained", in.Streams)
	}
	b.WriteByte('\n')
	for _, f := range s.Failures {
		fmt.Fprintf(&b, "  failed %s: %s\n", f.Input, f.Error)
	}
	if s.Checkpoint != "" {
		fmt.Fprintf(&b, "  checkpoint: %s\n", s.Checkpoint)
	}
	return b.String()
}
