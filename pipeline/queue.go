package pipeline

import "sync"

// chunkQueue hands chunks of records to workers. It never blocks a producer: its length is
// already bounded by the byte semaphore every producer passes first, so a channel's second,
// count-based bound would only add a way to block a source that was told there is room.
type chunkQueue struct {
	mu     sync.Mutex // guards items, head, closed
	cond   *sync.Cond
	items  [][]Record
	head   int
	closed bool
}

func newChunkQueue() *chunkQueue {
	q := &chunkQueue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *chunkQueue) push(c []Record) {
	q.mu.Lock()
	q.items = append(q.items, c)
	q.mu.Unlock()
	q.cond.Signal()
}

// pop waits for a chunk; ok is false once the queue is closed and empty.
func (q *chunkQueue) pop() (c []Record, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.head == len(q.items) && !q.closed {
		q.cond.Wait()
	}
	if q.head == len(q.items) {
		return nil, false
	}
	c = q.items[q.head]
	q.items[q.head] = nil
	q.head++
	switch {
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head >= 64 && q.head >= len(q.items)/2:
		// Under sustained load the queue never drains, and append would grow the backing
		// array (dead prefix included) for as long as the load lasts: at 800k documents/s
		// that was ~9 MiB a minute. Moving the live tail to the front when the dead prefix
		// is at least half the array keeps it at about twice the longest backlog, for a
		// copy whose cost the pops already paid.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return c, true
}

// empty reports whether no chunk is waiting.
func (q *chunkQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.head == len(q.items)
}

func (q *chunkQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
