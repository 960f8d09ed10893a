package pipeline

import (
	"context"
	"time"
)

// DeadLetter is a document that will not be indexed as it is, with why, so that a person can
// inspect it, fix the cause and replay it.
type DeadLetter struct {
	Time     time.Time `json:"time"`
	Source   string    `json:"source"`
	Key      string    `json:"key,omitempty"`
	Offset   int64     `json:"offset"`
	Index    string    `json:"index,omitempty"`
	ID       string    `json:"id,omitempty"`
	Status   int       `json:"status,omitempty"`
	Reason   string    `json:"reason"`
	Error    string    `json:"error,omitempty"`
	Attempts int       `json:"attempts"`
	// Doc is the original document, exactly as received (written as raw JSON when it is
	// valid JSON, as a string otherwise).
	Doc []byte `json:"-"`
}

// DeadLetterSink stores dead letters durably. WriteDeadLetters returns only after they are
// stored: the source message may be acknowledged right after.
type DeadLetterSink interface {
	WriteDeadLetters(ctx context.Context, letters []DeadLetter) error
}

// NewDeadLetter describes rec refused with the given status, reason and message.
func NewDeadLetter(rec *Record, status int, reason, msg string) DeadLetter {
	return DeadLetter{
		Time:     time.Now().UTC(),
		Source:   rec.Source,
		Key:      rec.Key,
		Offset:   rec.Offset,
		Index:    rec.Index,
		ID:       string(rec.ID),
		Status:   status,
		Reason:   reason,
		Error:    msg,
		Attempts: rec.Attempts,
		Doc:      rec.Doc,
	}
}

// DeadLetterRecords writes one dead letter per record and finishes each record: as
// DeadLettered once stored, or as Undelivered when the dead-letter sink fails, so that the
// source keeps the message rather than lose the document.
func DeadLetterRecords(ctx context.Context, sink DeadLetterSink, recs []*Record, letters []DeadLetter) error {
	err := sink.WriteDeadLetters(ctx, letters)
	for i, r := range recs {
		res := Result{Outcome: DeadLettered, Status: letters[i].Status, Reason: letters[i].Reason, Error: letters[i].Error}
		if err != nil {
			res.Outcome = Undelivered
		}
		r.Finish(res)
	}
	return err
}
