package httpsource

import (
	"errors"
	"math"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"unsafe"

	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/pipeline/docscan"
)

// errNoDocuments refuses a body that holds nothing to index.
var errNoDocuments = errors.New("request body holds no documents")

// errTooManyDocs refuses a body whose records could never fit in the pipeline's queue; it
// is found before they are built, since tiny documents cost far more as records than as
// bytes of body (a 10MiB body of "{}" lines is 3.5 million records).
var errTooManyDocs = errors.New("request holds more documents than the pipeline queue can take")

// recordCost is the memory a record takes besides its document.
const recordCost = int64(unsafe.Sizeof(pipeline.Record{}))

// maxDocs is the most records a body of n bytes may become.
func (s *Source) maxDocs(n int) int {
	room := s.p.Capacity() - int64(n)
	if room <= 0 {
		return 0
	}
	return int(min(room/recordCost, math.MaxInt32))
}

// validator checks JSON without extracting anything; framing uses it to tell a pretty-printed
// object from NDJSON.
var validator = docscan.Compile(docscan.Spec{})

// framing is how an /v1/ingest body was split into documents.
type framing uint8

const (
	framingNDJSON framing = iota // one document per non-blank line; Offset = 1-based line
	framingArray                 // one per element; Offset = 0-based element index
	framingSingle                // the whole body, pretty-printed; Offset = its first line
)

// elemPool holds the scratch that SplitArray fills before the records are allocated at
// their exact number; counting first would validate the array twice.
var elemPool = sync.Pool{New: func() any { s := make([][]byte, 0, 512); return &s }}

const maxPooledElems = 64 << 10

// frameIngest splits an /v1/ingest body into records that copy tmpl and alias body.
//
//   - ndjson (Content-Type application/x-ndjson): one document per non-blank line.
//   - First non-space byte '[': a JSON array, one document per element. The array must be
//     well-formed: its elements cannot be told apart otherwise, so a malformed one refuses
//     the request (400, nothing taken) rather than guess.
//   - Otherwise NDJSON, unless the first non-blank line ends inside a value (a
//     pretty-printed object starts with "{" alone, for instance). Then the whole body is
//     one document when it is valid JSON. When it is not, it is NDJSON whose first line is
//     broken only if every later line is a valid document on its own; else it is one
//     broken document. This never indexes a fragment of a pretty-printed object as a
//     document of its own, and a broken body is dead-lettered whole, with the offset of
//     its fault, which is what a person needs to fix it.
func frameIngest(body []byte, ndjson bool, tmpl pipeline.Record, maxDocs int) ([]pipeline.Record, framing, error) {
	return frameIngestInto(nil, body, ndjson, tmpl, maxDocs)
}

// frameIngestInto is frameIngest that builds NDJSON records in dst's storage (a pooled slice
// kept with the request body, see body.recs), growing it only when it is too small.
func frameIngestInto(dst []pipeline.Record, body []byte, ndjson bool, tmpl pipeline.Record, maxDocs int) ([]pipeline.Record, framing, error) {
	start := docscan.SkipSpace(body, 0)
	if start == len(body) {
		return nil, framingNDJSON, errNoDocuments
	}
	if !ndjson && body[start] == '[' {
		recs, err := frameArray(body, tmpl, maxDocs)
		return recs, framingArray, err
	}
	if !ndjson {
		if doc, line, ok := singleDocument(body); ok {
			recs := make([]pipeline.Record, 1)
			recs[0] = tmpl
			recs[0].Doc = doc
			recs[0].Offset = int64(line)
			return recs, framingSingle, nil
		}
	}
	// One pass over the body: the records go into dst's storage, which the body pool keeps
	// from one request to the next, so it rarely grows (counting the lines first, as this
	// once did, read every byte of the body a second time).
	recs := dst[:0]
	err := docscan.Lines(body, func(no int, line []byte) error {
		if len(recs) == maxDocs {
			return errTooManyDocs
		}
		recs = append(recs, tmpl)
		r := &recs[len(recs)-1]
		r.Doc, r.OneLine = line, true
		r.Offset = int64(no)
		return nil
	})
	if err != nil {
		clear(recs) // the pooled storage must not pin this body
		return nil, framingNDJSON, err
	}
	return recs, framingNDJSON, nil
}

func frameArray(body []byte, tmpl pipeline.Record, maxDocs int) ([]pipeline.Record, error) {
	sp := elemPool.Get().(*[][]byte)
	elems := (*sp)[:0]
	defer func() {
		if cap(elems) > maxPooledElems {
			return // a rare huge array: let its scratch go
		}
		clear(elems) // the pool must not pin request bodies
		*sp = elems[:0]
		elemPool.Put(sp)
	}()
	err := docscan.SplitArray(body, func(_ int, elem []byte) error {
		if len(elems) == maxDocs {
			return errTooManyDocs
		}
		elems = append(elems, elem)
		return nil
	})
	if errors.Is(err, errTooManyDocs) {
		return nil, err
	}
	if err != nil {
		return nil, &frameError{msg: "body is not a well-formed JSON array: " + err.Error()}
	}
	if len(elems) == 0 {
		return nil, errNoDocuments
	}
	recs := make([]pipeline.Record, len(elems))
	for i, e := range elems {
		recs[i] = tmpl
		recs[i].Doc = e
		recs[i].Offset = int64(i)
	}
	return recs, nil
}

// frameError is a body that cannot be split into documents; the request is refused.
type frameError struct{ msg string }

func (e *frameError) Error() string { return e.msg }

// errStop ends a docscan.Lines walk early.
var errStop = errors.New("stop")

// singleDocument reports whether body is one document written over several lines (see
// frameIngest), and returns it without surrounding whitespace, with its first line number.
func singleDocument(body []byte) (doc []byte, lineNo int, ok bool) {
	var first []byte
	_ = docscan.Lines(body, func(no int, line []byte) error {
		first, lineNo = line, no
		return errStop
	})
	if !endsInsideValue(first) {
		return nil, 0, false
	}
	doc = docscan.TrimSpace(body)
	if _, err := validator.Scan(doc); err == nil {
		return doc, lineNo, true
	}
	allValid := true
	_ = docscan.Lines(body, func(no int, line []byte) error {
		if no == lineNo {
			return nil
		}
		if _, err := validator.Scan(line); err != nil {
			allValid = false
			return errStop
		}
		return nil
	})
	if allValid {
		return nil, 0, false
	}
	return doc, lineNo, true
}

// endsInsideValue reports whether line is the opening of a value that continues past it:
// the validator ran out of input rather than finding a fault.
func endsInsideValue(line []byte) bool {
	_, err := validator.Scan(line)
	se, ok := errors.AsType[*docscan.SyntaxError](err)
	return ok && se.Offset >= len(line)
}

// isNDJSON reports a Content-Type that declares newline-delimited JSON.
func isNDJSON(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines":
		return true
	}
	return false
}

func (s *Source) handleIngest(w http.ResponseWriter, r *http.Request) int {
	index, res, bb, code, ok := s.admit(w, r)
	if !ok {
		return code
	}
	defer res.Release() // what the submission did not use
	defer bb.release()
	// PositionID: the request key is random, so these ids do not dedupe a client's resend,
	// but they make the sink's own retries (a timed-out bulk request sent again) overwrite
	// instead of duplicate. An explicit _id or pipeline.id_field takes precedence.
	tmpl := pipeline.Record{Source: SourceName, Key: requestKey(), Index: index, PositionID: true, Op: s.p.Op()}
	recs, _, err := frameIngestInto(bb.recs, bb.b, isNDJSON(r.Header.Get("Content-Type")), tmpl, s.maxDocs(len(bb.b)))
	if err != nil {
		return s.framingError(w, err)
	}
	bb.keepRecords(recs)
	sync := s.cfg.Mode == ModeSync
	d, code, ok := s.submit(w, recs, bb, res, sync)
	if !ok {
		return code
	}
	s.m.documents[endpointIngest].Add(float64(len(recs)))
	o := getOut()
	defer putOut(o)
	if !sync {
		// Async: accepted means in the bounded queue, not yet delivered.
		o.b = append(o.b[:0], `{"accepted":`...)
		o.b = strconv.AppendInt(o.b, int64(len(recs)), 10)
		o.b = append(o.b, '}')
		return writeJSON(w, http.StatusAccepted, o.b)
	}
	if res := s.wait(r, d); res != waitDelivered {
		return s.waitFailed(w, res)
	}
	indexed, dead, undelivered := d.ack.Counts()
	if undelivered > 0 {
		// Some documents were left at shutdown: the request must be sent again (the
		// documents already indexed are indexed twice, which at-least-once allows).
		return s.writeError(w, http.StatusServiceUnavailable, errTypeUnavailable,
			strconv.FormatInt(undelivered, 10)+" of "+strconv.Itoa(len(recs))+
				" documents were not delivered before weir shut down; send the request again")
	}
	o.b = appendIngestResult(o.b[:0], recs, d.ack.Results(), indexed, dead)
	return writeJSON(w, http.StatusOK, o.b)
}

// appendIngestResult writes the sync answer: counts, then one entry per document that was
// not indexed, by its line (NDJSON), element index (array) or first line (single object).
func appendIngestResult(b []byte, recs []pipeline.Record, results []pipeline.Result, indexed, dead int64) []byte {
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(len(recs)), 10)
	b = append(b, `,"indexed":`...)
	b = strconv.AppendInt(b, indexed, 10)
	b = append(b, `,"dead_lettered":`...)
	b = strconv.AppendInt(b, dead, 10)
	b = append(b, `,"errors":[`...)
	first := true
	for i, res := range results {
		if res.Outcome == pipeline.Indexed {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		typ, reason := outcomeError(res)
		b = append(b, `{"line":`...)
		b = strconv.AppendInt(b, recs[i].Offset, 10)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(outcomeStatus(res)), 10)
		b = append(b, `,"reason":`...)
		b = appendString(b, typ)
		b = append(b, `,"error":`...)
		b = appendString(b, reason)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func (s *Source) framingError(w http.ResponseWriter, err error) int {
	if errors.Is(err, errTooManyDocs) {
		return s.writeError(w, http.StatusRequestEntityTooLarge, errTypeTooLarge, err.Error()+"; send smaller requests")
	}
	return s.writeError(w, http.StatusBadRequest, errTypeParse, err.Error())
}
