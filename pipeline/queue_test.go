package pipeline

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChunkQueueStaysBoundedWhenItNeverDrains: under sustained load there is always a chunk
// waiting, so the queue never empties; its backing array must still stop growing.
func TestChunkQueueStaysBoundedWhenItNeverDrains(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		backlog int
	}{{"one waiting", 1}, {"a hundred waiting", 100}, {"a thousand waiting", 1000}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := newChunkQueue()
			next, want := 0, 0
			push := func() { q.push([]Record{{Offset: int64(next)}}); next++ }
			for range tt.backlog {
				push()
			}
			for range 200_000 {
				push()
				c, ok := q.pop()
				require.True(t, ok)
				require.EqualValues(t, want, c[0].Offset, "chunks come out in order")
				want++
			}
			q.mu.Lock()
			defer q.mu.Unlock()
			assert.Equal(t, tt.backlog, len(q.items)-q.head)
			assert.LessOrEqual(t, cap(q.items), 4*max(tt.backlog, 64), "the backing array stops growing")
		})
	}
}
