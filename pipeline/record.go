// Package pipeline carries documents from sources to sinks: records and their acks, the
// bounded queue between them, the worker pool that validates and routes documents, and the
// lifecycle that drains it all on shutdown.
//
// The contract that keeps weir at-least-once: a source hands over the documents of one
// message together with an Ack, and acknowledges the message at its origin (deletes the SQS
// message, moves the Kinesis checkpoint, answers the HTTP client) only from the Ack's
// callback, which runs once every document is indexed or dead-lettered.
package pipeline

import (
	"sync/atomic"
	"time"
)

// Op is the bulk action used to write a document.
type Op uint8

const (
	// OpIndex creates or replaces the document.
	OpIndex Op = iota
	// OpCreate creates the document and fails with 409 if its _id exists; weir counts the
	// 409 as already indexed, which makes redelivery harmless.
	OpCreate
)

func (o Op) String() string {
	if o == OpCreate {
		return "create"
	}
	return "index"
}

// Record is one document on its way to a sink. Sources build records in slices (one
// allocation per message, not per document) and Doc usually aliases the source's buffer:
// nothing downstream modifies it.
type Record struct {
	// Doc is one JSON object, exactly as received.
	Doc []byte
	// Index is the target index or an index template such as "logs-%{yyyy.MM.dd}"; empty
	// means the pipeline's default. Workers replace a template with the resolved name.
	Index string
	// ID is the document _id as JSON string content (escaped as in JSON, no quotes); nil
	// leaves it to the pipeline's id policy.
	ID []byte
	// OneLine says Doc holds no newline byte: the source cut it out of NDJSON at newlines,
	// so the sink need not look for one to keep _bulk's one-document-per-line format.
	OneLine bool
	// PositionID asks for a deterministic _id derived from Source, Key and Offset, so that a
	// redelivered message overwrites instead of duplicating.
	PositionID bool
	Op         Op
	// Time is the document's event time in Unix nanoseconds, 0 when unknown; it drives index
	// date math.
	Time int64
	// Source names the source ("http", "sqs"); Key identifies the source message (an SQS
	// MessageId, a Kinesis shard and sequence) and Offset the document's place in it. They
	// make position ids and let a dead letter be traced back.
	Source string
	Key    string
	Offset int64
	// Attempts counts delivery attempts made by the sink.
	Attempts int

	sub *submission
	seq int32
}

// Outcome is what finally happened to a record.
type Outcome uint8

const (
	// Pending: not finished yet.
	Pending Outcome = iota
	// Indexed: OpenSearch stored it (or already had it, for a 409 on create).
	Indexed
	// DeadLettered: refused for good and written to the dead-letter sink.
	DeadLettered
	// Undelivered: not indexed before shutdown; its source message stays unacknowledged
	// at its origin so it is delivered again.
	Undelivered
)

var outcomeNames = [...]string{"pending", "indexed", "dead_lettered", "undelivered"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Result is a record's outcome with the item status and error OpenSearch gave, if any.
type Result struct {
	Outcome Outcome
	Status  int
	// Reason is a short machine label (an OpenSearch error type such as
	// mapper_parsing_exception, or invalid_json); Error the human message.
	Reason string
	Error  string
}

// Finish reports the record's final outcome. It must be called exactly once per record
// handed to the pipeline; the submission and the Ack count on it.
func (r *Record) Finish(res Result) {
	s := r.sub
	if s == nil {
		return
	}
	run := [1]*Record{r}
	s.finishRun(run[:], res)
}

// FinishAll finishes recs with one result. A run of records from one submission (the
// records of a message stay together in a batch) is counted with one atomic update per
// counter instead of one per record: four contended adds per document were 5% of weir's CPU
// at 800k documents/s.
func FinishAll(recs []*Record, res Result) {
	for i := 0; i < len(recs); {
		s := recs[i].sub
		j := i + 1
		for j < len(recs) && recs[j].sub == s {
			j++
		}
		if s != nil {
			s.finishRun(recs[i:j], res)
		}
		i = j
	}
}

// submission is one Submit call: the bytes it reserved in the queue are released when its
// last record finishes, because its records alias one source buffer.
type submission struct {
	p       *Pipeline
	ack     *Ack
	weight  int64
	pending atomic.Int64
	counts  [4]atomic.Int64
}

// finishRun finishes recs, all of s, with one result.
func (s *submission) finishRun(recs []*Record, res Result) {
	if res.Outcome == Pending || int(res.Outcome) >= len(s.counts) {
		res.Outcome = Undelivered
	}
	n := int64(len(recs))
	a := s.ack
	for _, r := range recs {
		if a.results != nil && int(r.seq) < len(a.results) {
			a.results[r.seq] = res
		}
		r.sub = nil
	}
	s.counts[res.Outcome].Add(n)
	a.count(res.Outcome, n)
	a.done(n)
	if s.pending.Add(-n) == 0 {
		s.p.release(s)
	}
}

// Ack tracks the records of one source message and calls its callback once, when every
// record has finished and the source has sealed it (declared that no more records follow).
type Ack struct {
	// pending counts unfinished records plus one for the seal, so the callback cannot run
	// while the source is still adding records.
	pending      atomic.Int64
	next         atomic.Int32
	indexed      atomic.Int64
	deadLettered atomic.Int64
	undelivered  atomic.Int64
	results      []Result
	onDone       func(*Ack)
	start        time.Time
}

// NewAck returns an Ack that calls onDone (which may be nil) once all records are finished
// and Seal has been called.
func NewAck(onDone func(*Ack)) *Ack {
	a := &Ack{onDone: onDone}
	a.pending.Store(1)
	return a
}

// NewTrackedAck is NewAck that also keeps each record's Result, in submission order, for
// sources that answer per document (the HTTP source in sync mode). n is the number of
// records the message will have.
func NewTrackedAck(n int, onDone func(*Ack)) *Ack {
	a := NewAck(onDone)
	a.results = make([]Result, n)
	return a
}

// Seal declares that the source will add no more records. Call it exactly once.
func (a *Ack) Seal() { a.done(1) }

func (a *Ack) add(n int) int32 {
	a.pending.Add(int64(n))
	return a.next.Add(int32(n)) - int32(n)
}

func (a *Ack) count(o Outcome, n int64) {
	switch o {
	case Indexed:
		a.indexed.Add(n)
	case DeadLettered:
		a.deadLettered.Add(n)
	default:
		a.undelivered.Add(n)
	}
}

// done takes n off pending (finished records, or the seal) and calls back when none is left.
func (a *Ack) done(n int64) {
	if a.pending.Add(-n) == 0 && a.onDone != nil {
		a.onDone(a)
	}
}

// Counts reports how many records were indexed, dead-lettered and left undelivered.
func (a *Ack) Counts() (indexed, deadLettered, undelivered int64) {
	return a.indexed.Load(), a.deadLettered.Load(), a.undelivered.Load()
}

// Delivered reports whether every record was indexed or dead-lettered, which is when a
// source may acknowledge the message at its origin.
func (a *Ack) Delivered() bool { return a.undelivered.Load() == 0 }

// Results returns per-record results for a tracked Ack; read it only from onDone or after.
func (a *Ack) Results() []Result { return a.results }
