package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReserveWaitsThenSubmits: room reserved before a message is read is used by the
// submission, which gives back what it does not need or takes what it lacks.
func TestReserveWaitsThenSubmits(t *testing.T) {
	t.Parallel()
	tgt := &funcTarget{} // holds everything until released
	p := newTest(t, testConfig(), tgt, &memDLQ{})
	doc := []byte(`{"a":1}`)
	// A fresh record each time: a submission owns its records.
	one := func() []Record { return []Record{{Doc: doc, Source: "t"}} }
	const kib = 1 << 10

	// 700 KiB of a 1 MiB queue held by a message the target keeps.
	require.NoError(t, p.TrySubmit(NewAck(nil), one(), 700*kib-RecordOverhead))
	require.Eventually(t, func() bool { return tgt.got.Load() == 1 }, 5*time.Second, time.Millisecond)

	// A 400 KiB reservation waits for room, and gets it once the message finishes.
	got := make(chan *Reservation, 1)
	go func() {
		res, err := p.Reserve(context.Background(), 400*kib)
		assert.NoError(t, err)
		got <- res
	}()
	select {
	case <-got:
		t.Fatal("Reserve returned while the queue was full")
	case <-time.After(50 * time.Millisecond):
	}
	tgt.release(Result{Outcome: Indexed})
	res := <-got

	// The reservation is room: a TrySubmit of 700 KiB does not fit beside it.
	assert.ErrorIs(t, p.TrySubmit(NewAck(nil), one(), 700*kib), ErrQueueFull)
	// Using it for 300 KiB gives the other 100 KiB back...
	require.NoError(t, p.TrySubmitReserved(res, NewAck(nil), one(), 300*kib-RecordOverhead))
	res.Release() // a no-op once used
	require.NoError(t, p.TrySubmit(NewAck(nil), one(), 724*kib-RecordOverhead), "the excess was given back")
	assert.ErrorIs(t, p.TrySubmit(NewAck(nil), one(), 10*kib), ErrQueueFull, "the queue is exactly full")
	require.Eventually(t, func() bool { return tgt.got.Load() == 3 }, 5*time.Second, time.Millisecond)
	tgt.release(Result{Outcome: Indexed})
	require.Eventually(t, func() bool { return p.QueuedBytes() == 0 }, 5*time.Second, time.Millisecond)

	// ...and a message larger than its reservation takes the rest when there is room.
	res, err := p.Reserve(context.Background(), 100*kib)
	require.NoError(t, err)
	require.NoError(t, p.TrySubmitReserved(res, NewAck(nil), one(), 200*kib-RecordOverhead))
	assert.Equal(t, int64(200*kib), p.QueuedBytes())

	// When there is none, the submission fails and the reservation is still held.
	res, err = p.Reserve(context.Background(), 100*kib)
	require.NoError(t, err)
	require.NoError(t, p.TrySubmit(NewAck(nil), one(), 724*kib-RecordOverhead)) // 1 MiB in use
	assert.ErrorIs(t, p.TrySubmitReserved(res, NewAck(nil), one(), 300*kib), ErrQueueFull)
	res.Release()
	res.Release() // twice is fine
	(*Reservation)(nil).Release()
	require.NoError(t, p.TrySubmit(NewAck(nil), one(), 100*kib-RecordOverhead), "the released room is free again")
}

func TestReserveRefuses(t *testing.T) {
	t.Parallel()
	p := newTest(t, testConfig(), &funcTarget{}, &memDLQ{})
	_, err := p.Reserve(context.Background(), 2<<20)
	assert.ErrorIs(t, err, ErrTooLarge)

	res, err := p.Reserve(context.Background(), 1<<20)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = p.Reserve(ctx, 1)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "full: waits until ctx ends")

	// Shutdown ends the wait of a reservation, and refuses new ones.
	errc := make(chan error, 1)
	go func() {
		_, err := p.Reserve(context.Background(), 1)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	go func() { _ = p.Shutdown(context.Background()) }()
	assert.ErrorIs(t, <-errc, ErrClosed)
	_, err = p.Reserve(context.Background(), 1)
	assert.ErrorIs(t, err, ErrClosed)
	res.Release()
}
