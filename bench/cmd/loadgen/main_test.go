package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPacerSpreadsRequestsAtTheRate(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		rate       float64
		perRequest int
		want       []time.Duration // offsets of the first requests from start
	}{
		{"1000 docs/s at 500 a request: two requests a second", 1000, 500, []time.Duration{0, 500 * time.Millisecond, time.Second}},
		{"300k docs/s at 500 a request", 300_000, 500, []time.Duration{0, 1666666, 3333332}},
		{"not paced", 0, 500, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPacer(tc.rate, tc.perRequest, start)
			if tc.want == nil {
				assert.True(t, p.next().IsZero())
				return
			}
			for i, off := range tc.want {
				assert.Equal(t, start.Add(off), p.next(), "request %d", i)
			}
		})
	}
}
