package kinesis

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pos(seq string, sub int64) position { return position{seq: seq, sub: sub} }

func TestTrackerContiguousPrefix(t *testing.T) {
	t.Parallel()
	type step struct {
		finish    int // index into ids
		delivered bool
		want      position
	}
	tests := []struct {
		name  string
		start position
		lasts []position
		steps []step
	}{
		{
			name:  "in order",
			lasts: []position{pos("10", 0), pos("20", 0), pos("30", 0)},
			steps: []step{{0, true, pos("10", 0)}, {1, true, pos("20", 0)}, {2, true, pos("30", 0)}},
		},
		{
			name:  "out of order waits for the gap",
			start: pos("5", 0),
			lasts: []position{pos("10", 0), pos("20", 0), pos("30", 0)},
			steps: []step{{2, true, pos("5", 0)}, {1, true, pos("5", 0)}, {0, true, pos("30", 0)}},
		},
		{
			name:  "sub-sequences of one aggregate split across groups",
			lasts: []position{pos("10", 3), pos("10", 7), pos("11", 0), pos("12", 499)},
			steps: []step{{1, true, position{}}, {0, true, pos("10", 7)}, {3, true, pos("10", 7)}, {2, true, pos("12", 499)}},
		},
		{
			name:  "an undelivered group stops the checkpoint for good",
			lasts: []position{pos("10", 0), pos("20", 0), pos("30", 0)},
			steps: []step{{0, true, pos("10", 0)}, {1, false, pos("10", 0)}, {2, true, pos("10", 0)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := newTracker(tt.start)
			ids := make([]uint64, len(tt.lasts))
			for i, l := range tt.lasts {
				ids[i] = tr.add(l)
			}
			for i, s := range tt.steps {
				tr.finish(ids[s.finish], s.delivered)
				assert.Equal(t, s.want, tr.checkpoint(), "after step %d", i)
			}
			select {
			case <-tr.idleCh():
			default:
				t.Fatal("every group finished: the tracker must be idle")
			}
		})
	}
}

func TestTrackerIdleAndSettled(t *testing.T) {
	t.Parallel()
	tr := newTracker(position{})
	assert.True(t, tr.settled())
	idle := tr.idleCh()
	select {
	case <-idle:
	default:
		t.Fatal("a new tracker is idle")
	}
	a := tr.add(pos("1", 0))
	busy := tr.idleCh()
	select {
	case <-busy:
		t.Fatal("not idle with a group in flight")
	default:
	}
	assert.False(t, tr.settled())
	tr.finish(a, true)
	tr.finish(a, true) // a second finish is ignored
	<-busy
	assert.True(t, tr.settled())
	b := tr.add(pos("2", 0))
	tr.finish(b, false)
	assert.False(t, tr.settled(), "an undelivered group means the shard is not done")
}

// TestTrackerConcurrentAcks: acks arrive from many goroutines in any order; the checkpoint
// ends at the last group and never passes an unfinished one on the way.
func TestTrackerConcurrentAcks(t *testing.T) {
	t.Parallel()
	tr := newTracker(position{})
	const n = 2000
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = tr.add(pos(string(rune('a'+i%26))+"", int64(i)))
	}
	order := rand.Perm(n)
	finished := make([]bool, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < n; k += 8 {
				i := order[k]
				mu.Lock()
				finished[i] = true
				mu.Unlock()
				tr.finish(ids[i], true)
				cp := tr.checkpoint()
				if !cp.isZero() {
					mu.Lock()
					for j := 0; j <= int(cp.sub); j++ {
						if !finished[j] {
							t.Errorf("checkpoint %d passed unfinished group %d", cp.sub, j)
							break
						}
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int64(n-1), tr.checkpoint().sub)
	assert.True(t, tr.settled())
}
