package httpsource

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/pipeline/docscan"
)

// maxIDBytes is OpenSearch's limit on an _id.
const maxIDBytes = 512

// action is a parsed bulk action line. Index and id are raw JSON string content, sub-slices
// of the request body.
type action struct {
	op       string // index, create, delete or update
	index    []byte
	indexEsc bool
	id       []byte
	idEsc    bool
}

// countLines counts the non-blank lines of body.
func countLines(body []byte) int {
	n := 0
	_ = docscan.Lines(body, func(int, []byte) error { n++; return nil })
	return n
}

// bulkRefusal is an item refused without reaching the pipeline.
type bulkRefusal struct {
	item   int // position among the request's items
	op     string
	index  string
	id     []byte
	status int
	typ    string
	reason string
	lines  int // non-blank lines the item took: its action, and its source line if any
}

// bulkBatch is a parsed _bulk body: records and refusals, both in item order.
type bulkBatch struct {
	recs    []pipeline.Record
	refused []bulkRefusal
	items   int
	lines   int // non-blank lines read
}

// parseBulk reads an OpenSearch bulk body. index and create take the next non-blank line
// as the document (as OpenSearch does, whatever it holds); delete and update are refused per
// item (update's body line is consumed). A malformed action line refuses its item alone:
// the next line is taken as that item's document unless it parses as an action line itself,
// so that one bad line does not shift every later pair. Records copy tmpl, whose Index is
// the URL's (or configured) index, used when an action names none.
func parseBulk(body []byte, tmpl pipeline.Record, maxDocs int) (bulkBatch, error) {
	return parseBulkInto(nil, body, tmpl, maxDocs)
}

// parseBulkInto is parseBulk that builds the records in dst's storage when it is large
// enough (a pooled slice kept with the request body, see body.recs).
func parseBulkInto(dst []pipeline.Record, body []byte, tmpl pipeline.Record, maxDocs int) (bulkBatch, error) {
	var bt bulkBatch
	// Each record takes two non-blank lines: counting them sizes the records in one
	// allocation that blank lines cannot inflate.
	n := countLines(body)/2 + 1
	if n-1 > maxDocs {
		return bt, errTooManyDocs
	}
	if cap(dst) >= n {
		bt.recs = dst[:0]
	} else {
		bt.recs = make([]pipeline.Record, 0, n)
	}
	const (
		wantAction = iota
		wantSource
		skipSource  // the refused item's document line
		maybeSource // after a malformed action: its document line, unless an action
	)
	state := wantAction
	var pend action
	var pendIndex string
	var pendLine int
	// lastIndex lets records of one index share one string: shippers send runs of one index.
	var lastIndex string
	indexString := func(raw []byte, esc bool) string {
		if esc {
			if dec, err := docscan.Unescape(nil, raw); err == nil {
				raw = dec
			}
		}
		if string(raw) != lastIndex {
			lastIndex = string(raw)
		}
		return lastIndex
	}
	refuse := func(op, index string, id []byte, status int, typ, reason string) {
		bt.refused = append(bt.refused, bulkRefusal{
			item: bt.items, op: op, index: index, id: id, status: status, typ: typ, reason: reason, lines: 1,
		})
		bt.items++
	}
	_ = docscan.Lines(body, func(no int, line []byte) error {
		bt.lines++
		switch state {
		case wantSource:
			bt.recs = append(bt.recs, tmpl)
			r := &bt.recs[len(bt.recs)-1]
			r.Doc, r.OneLine, r.Offset, r.ID = line, true, int64(no), pend.id
			if pend.op == "create" {
				r.Op = pipeline.OpCreate
			} else {
				r.Op = pipeline.OpIndex
			}
			r.Index = pendIndex
			bt.items++
			state = wantAction
			return nil
		case skipSource:
			bt.refused[len(bt.refused)-1].lines++
			state = wantAction
			return nil
		}
		a, err := parseAction(line)
		if state == maybeSource && err != nil {
			bt.refused[len(bt.refused)-1].lines++
			state = wantAction
			return nil
		}
		state = wantAction
		if err != nil {
			refuse("index", tmpl.Index, nil, http.StatusBadRequest, errTypeIllegalArg,
				"malformed action/metadata line ["+strconv.Itoa(no)+"]: "+err.Error())
			state = maybeSource
			return nil
		}
		index := tmpl.Index
		if len(a.index) > 0 {
			index = indexString(a.index, a.indexEsc)
		}
		switch a.op {
		case "delete", "update":
			refuse(a.op, index, a.id, http.StatusBadRequest, errTypeIllegalArg,
				"the "+a.op+" action is not supported by weir, which only adds documents (index and create)")
			if a.op == "update" {
				state = skipSource
			}
			return nil
		}
		if a.id != nil {
			if msg := checkID(a.id, a.idEsc); msg != "" {
				refuse(a.op, index, a.id, http.StatusBadRequest, errTypeValidation, msg)
				state = skipSource
				return nil
			}
		}
		pend, pendIndex, pendLine = a, index, no
		state = wantSource
		return nil
	})
	if state == wantSource {
		refuse(pend.op, pendIndex, pend.id, http.StatusBadRequest, errTypeValidation,
			"the "+pend.op+" action on line ["+strconv.Itoa(pendLine)+"] has no document line after it")
	}
	return bt, nil
}

// checkID applies OpenSearch's rules for an explicit _id, so that a bad one is refused with
// the request's answer rather than fail later in the sink.
func checkID(raw []byte, esc bool) string {
	n := len(raw)
	if esc {
		dec, err := docscan.Unescape(make([]byte, 0, len(raw)), raw)
		if err != nil {
			return "_id holds an invalid escape sequence"
		}
		n = len(dec)
	}
	if n == 0 {
		return "if _id is specified it must not be empty"
	}
	if n > maxIDBytes {
		return "_id is too long, must be no longer than 512 bytes but was: " + strconv.Itoa(n)
	}
	return ""
}

var (
	errActionEmpty  = errors.New("expected one of [index, create, delete, update] but found an empty object")
	errActionMulti  = errors.New("an action line must hold exactly one action")
	errMetaObject   = errors.New("the action's metadata must be an object")
	errIndexString  = errors.New("_index must be a string")
	errIDStringOrNo = errors.New("_id must be a string")
)

// parseAction reads {"<op>":{"_index":…,"_id":…,…}}. The line is validated first, so the
// walk below only has to follow the structure of valid JSON. Keys other than _index and _id
// (routing, pipeline, _type, require_alias…) are ignored: weir routes documents itself.
func parseAction(line []byte) (action, error) {
	var a action
	if _, err := validator.Scan(line); err != nil {
		return a, err
	}
	i := docscan.SkipSpace(line, 0) + 1 // past '{'
	i = docscan.SkipSpace(line, i)
	if line[i] == '}' {
		return a, errActionEmpty
	}
	key, _, i := readString(line, i)
	switch string(key) {
	case "index":
		a.op = "index"
	case "create":
		a.op = "create"
	case "delete":
		a.op = "delete"
	case "update":
		a.op = "update"
	default:
		return a, errors.New("expected one of [index, create, delete, update] but found [" + string(key) + "]")
	}
	i = docscan.SkipSpace(line, docscan.SkipSpace(line, i)+1) // past ':'
	if line[i] != '{' {
		return a, errMetaObject
	}
	i = docscan.SkipSpace(line, i+1)
	for line[i] != '}' {
		var k []byte
		k, _, i = readString(line, i)
		i = docscan.SkipSpace(line, docscan.SkipSpace(line, i)+1)
		switch string(k) {
		case "_index":
			switch {
			case line[i] == '"':
				a.index, a.indexEsc, i = readString(line, i)
			case line[i] == 'n':
				i += len("null")
			default:
				return a, errIndexString
			}
		case "_id":
			switch c := line[i]; {
			case c == '"':
				a.id, a.idEsc, i = readString(line, i)
			case c == '-' || (c >= '0' && c <= '9'):
				// A number is taken as the string of its digits, as OpenSearch does.
				end := skipValue(line, i)
				a.id, i = line[i:end], end
			case c == 'n':
				i += len("null")
			default:
				return a, errIDStringOrNo
			}
		default:
			i = skipValue(line, i)
		}
		i = docscan.SkipSpace(line, i)
		if line[i] == ',' {
			i = docscan.SkipSpace(line, i+1)
		}
	}
	if i = docscan.SkipSpace(line, i+1); line[i] != '}' {
		return a, errActionMulti
	}
	return a, nil
}

// readString reads the string whose opening quote is at line[i] and returns its raw content,
// whether it holds escapes, and the offset past its closing quote. line is valid JSON.
func readString(line []byte, i int) (raw []byte, esc bool, next int) {
	j := i + 1
	for line[j] != '"' {
		if line[j] == '\\' {
			esc = true
			j++
		}
		j++
	}
	return line[i+1 : j], esc, j + 1
}

// skipValue returns the offset past the value starting at line[i]. line is valid JSON.
func skipValue(line []byte, i int) int {
	switch line[i] {
	case '"':
		_, _, next := readString(line, i)
		return next
	case '{', '[':
		depth := 0
		for {
			switch line[i] {
			case '"':
				_, _, i = readString(line, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
	}
	for i < len(line) {
		switch line[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
		i++
	}
	return i
}

func (s *Source) handleBulk(w http.ResponseWriter, r *http.Request) int {
	start := time.Now()
	index, res, bb, code, ok := s.admit(w, r)
	if !ok {
		return code
	}
	defer res.Release() // what the submission did not use
	defer bb.release()
	// PositionID: the request key is random, so these ids do not dedupe a client's resend,
	// but they make the sink's own retries (a timed-out bulk request sent again) overwrite
	// instead of duplicate. An explicit _id or pipeline.id_field takes precedence.
	tmpl := pipeline.Record{Source: SourceName, Key: requestKey(), Index: index, PositionID: true}
	bt, err := parseBulkInto(bb.recs, bb.b, tmpl, s.maxDocs(len(bb.b)))
	if err != nil {
		return s.framingError(w, err)
	}
	bb.keepRecords(bt.recs)
	if bt.items == 0 {
		return s.writeError(w, http.StatusBadRequest, errTypeValidation, "Validation Failed: 1: no requests added;")
	}
	o := getOut()
	defer putOut(o)
	if len(bt.recs) == 0 {
		o.b = appendBulkResult(o.b[:0], start, &bt, nil)
		return writeJSON(w, http.StatusOK, o.b)
	}
	sync := s.cfg.Mode == ModeSync
	if !sync {
		// Written before submitting: once submitted, workers write into the records (the
		// resolved index and id), and reading them here would race.
		o.b = appendBulkResult(o.b[:0], start, &bt, nil)
	}
	d, code, ok := s.submit(w, bt.recs, bb, res, sync)
	if !ok {
		return code
	}
	s.m.documents[endpointBulk].Add(float64(len(bt.recs)))
	if sync {
		if res := s.wait(r, d); res != waitDelivered {
			return s.waitFailed(w, res)
		}
		o.b = appendBulkResult(o.b[:0], start, &bt, d.ack.Results())
	}
	// 200 whatever the items say, as OpenSearch answers: shippers read per-item statuses.
	return writeJSON(w, http.StatusOK, o.b)
}

// appendBulkResult writes a bulk answer, items in request order. results is nil in async
// mode: each accepted item is then reported 201 "created". Shippers count only 200 and 201
// as done (Logstash's DOC_SUCCESS_CODES; a 202 would be retried forever, duplicating), and
// the item is as safe as weir can make it: queued for at-least-once delivery.
func appendBulkResult(b []byte, start time.Time, bt *bulkBatch, results []pipeline.Result) []byte {
	failed := len(bt.refused) > 0
	for _, res := range results {
		if res.Outcome != pipeline.Indexed {
			failed = true
			break
		}
	}
	b = append(b, `{"took":`...)
	b = strconv.AppendInt(b, time.Since(start).Milliseconds(), 10)
	b = append(b, `,"errors":`...)
	b = strconv.AppendBool(b, failed)
	b = append(b, `,"items":[`...)
	ri, fi := 0, 0
	for item := range bt.items {
		if item > 0 {
			b = append(b, ',')
		}
		if fi < len(bt.refused) && bt.refused[fi].item == item {
			f := &bt.refused[fi]
			fi++
			b = appendItemHead(b, f.op, f.index, f.id)
			b = appendItemError(b, f.status, f.typ, f.reason)
			continue
		}
		rec := &bt.recs[ri]
		ri++
		if results == nil {
			b = appendItemHead(b, rec.Op.String(), rec.Index, rec.ID)
			b = appendItemOK(b, http.StatusCreated)
			continue
		}
		res := results[ri-1]
		// Once delivered, the record holds the index and id the pipeline resolved.
		b = appendItemHead(b, rec.Op.String(), rec.Index, rec.ID)
		if res.Outcome == pipeline.Indexed {
			b = appendItemOK(b, outcomeStatus(res))
		} else {
			typ, reason := outcomeError(res)
			b = appendItemError(b, outcomeStatus(res), typ, reason)
		}
	}
	return append(b, "]}"...)
}

func appendItemHead(b []byte, op, index string, id []byte) []byte {
	b = append(b, `{"`...)
	b = append(b, op...)
	b = append(b, `":{`...)
	b = append(b, `"_index":`...)
	b = appendString(b, index)
	if id != nil {
		b = append(b, `,"_id":`...)
		b = appendRawString(b, id)
	}
	return b
}

func appendItemOK(b []byte, status int) []byte {
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	return append(b, `,"result":"created"}}`...)
}

func appendItemError(b []byte, status int, typ, reason string) []byte {
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"error":{"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"reason":`...)
	b = appendString(b, reason)
	return append(b, `}}}`...)
}
