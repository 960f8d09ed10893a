package kinesis

import "sync"

// position is a user record's place in its shard: the Kinesis sequence number and, for a
// record de-aggregated from a KPL record, its sub-sequence number (0 for a plain record).
type position struct {
	seq string
	sub int64
}

func (p position) isZero() bool { return p.seq == "" }

// Group states in a tracker.
const (
	groupPending uint8 = iota
	groupDelivered
	groupFailed
)

// tracker follows the groups of records one shard reader handed to the pipeline, in read
// order, and tells the checkpoint: the position of the last record of the longest prefix
// of groups that are all delivered (indexed or dead-lettered). Groups finish out of order;
// the checkpoint only moves over a contiguous delivered prefix, so a checkpoint never
// covers a record that is still in flight. A group left undelivered (shutdown) stops the
// checkpoint for good: its records are read again by whoever holds the lease next.
type tracker struct {
	// mu guards every field below.
	mu       sync.Mutex
	first    uint64 // id of groups[0]
	groups   []trackedGroup
	done     position // checkpoint: everything up to and including it is delivered
	stuck    bool     // a group was not delivered
	inFlight int      // groups not finished yet, delivered or not
	idle     chan struct{}
}

type trackedGroup struct {
	last  position
	state uint8
}

// newTracker starts from the shard's current checkpoint (zero when it has none).
func newTracker(start position) *tracker {
	idle := make(chan struct{})
	close(idle)
	return &tracker{done: start, idle: idle}
}

// add registers the next group, whose last record is at last, and returns its id for finish.
func (t *tracker) add(last position) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inFlight == 0 {
		t.idle = make(chan struct{})
	}
	t.inFlight++
	t.groups = append(t.groups, trackedGroup{last: last})
	return t.first + uint64(len(t.groups)) - 1
}

// finish records the outcome of group id; each group is finished exactly once.
func (t *tracker) finish(id uint64, delivered bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := int(id - t.first)
	if id < t.first || i >= len(t.groups) || t.groups[i].state != groupPending {
		return
	}
	if delivered {
		t.groups[i].state = groupDelivered
	} else {
		t.groups[i].state = groupFailed
		t.stuck = true
	}
	t.inFlight--
	if t.inFlight == 0 {
		close(t.idle)
	}
	if t.stuck {
		return
	}
	n := 0
	for n < len(t.groups) && t.groups[n].state == groupDelivered {
		t.done = t.groups[n].last
		n++
	}
	if n > 0 {
		t.groups = t.groups[n:]
		t.first += uint64(n)
	}
}

// checkpoint returns the highest position below which everything is delivered.
func (t *tracker) checkpoint() position {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done
}

// settled reports whether every group handed over is delivered: nothing is in flight and
// nothing failed, so the checkpoint is the last record read.
func (t *tracker) settled() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inFlight == 0 && !t.stuck
}

// idleCh is closed while no group is in flight.
func (t *tracker) idleCh() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.idle
}
