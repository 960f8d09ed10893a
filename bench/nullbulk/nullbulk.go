// Package nullbulk is a null OpenSearch: an http.Handler that answers `_bulk` like a node
// without storing anything, so that sink tests and benchmarks measure weir and not the
// index. Tests shape its answers with hooks (per-item statuses, whole-request statuses,
// extra headers, delays).
package nullbulk

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server answers POST /_bulk, POST /{index}/_bulk, GET / and GET /_cluster/health. Its
// counters may be read at any time.
type Server struct {
	compact    bool
	itemStatus func(i int) (status int, errType string)
	items      func(n int64, i int, action, doc []byte) (status int, errType string)
	maxBody    int
	reqStatus  func(n int64) int
	header     func(n int64) http.Header
	delay      func(n int64) time.Duration
	onRequest  func(n int64, body []byte)

	requests  atomic.Int64
	documents atomic.Int64
	bytes     atomic.Int64
	autoID    atomic.Int64

	// bufs recycles request bodies and answers; a benchmark's allocations should be weir's,
	// not the receiver's.
	bufs sync.Pool
	gz   sync.Pool
}

// Option adjusts a Server.
type Option func(*Server)

// WithCompact answers `{"index":{"status":201}}` per item instead of the full item a node
// sends (_index, _id, _version, result, _shards, _seq_no, _primary_term): a smaller answer
// for benchmarks that want to measure the sender, not the parser.
func WithCompact() Option { return func(s *Server) { s.compact = true } }

// WithItemStatus decides each item's status; i is the item's place in its request (from 0).
// A status >= 300 makes the item an error of type errType, and the response "errors":true.
// Returning 0 keeps the default (201, or 200 for update and delete).
func WithItemStatus(f func(i int) (status int, errType string)) Option {
	return func(s *Server) { s.itemStatus = f }
}

// WithItems is WithItemStatus with more to decide on: the request's number n (from 1), the
// item's place i in it, its action line and its source line (nil for delete). Slices are
// only valid during the call. It wins over WithItemStatus.
func WithItems(f func(n int64, i int, action, doc []byte) (status int, errType string)) Option {
	return func(s *Server) { s.items = f }
}

// WithMaxBodyBytes answers 413 to bodies larger than n, as a node does past
// http.max_content_length.
func WithMaxBodyBytes(n int) Option { return func(s *Server) { s.maxBody = n } }

// WithRequestStatus decides the whole request's status from its number (1 for the first
// request): a non-zero status other than 200 answers the request with an OpenSearch-shaped
// error body and that status, without looking at the items.
func WithRequestStatus(f func(n int64) int) Option {
	return func(s *Server) { s.reqStatus = f }
}

// WithHeader adds headers (Retry-After, say) to the answer of request n.
func WithHeader(f func(n int64) http.Header) Option { return func(s *Server) { s.header = f } }

// WithDelay holds the answer of request n for the returned duration, or until the client
// gives up.
func WithDelay(f func(n int64) time.Duration) Option { return func(s *Server) { s.delay = f } }

// WithRequestHook sees every _bulk request body (decompressed) before it is answered; the
// body is only valid during the call.
func WithRequestHook(f func(n int64, body []byte)) Option {
	return func(s *Server) { s.onRequest = f }
}

// New returns a Server.
func New(opts ...Option) *Server {
	s := &Server{}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	for _, o := range opts {
		o(s)
	}
	return s
}

// Requests counts _bulk requests received.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Documents counts index and create actions received.
func (s *Server) Documents() int64 { return s.documents.Load() }

// Bytes counts _bulk body bytes received, after decompression.
func (s *Server) Bytes() int64 { return s.bytes.Load() }

const (
	rootBody = `{"name":"nullbulk","cluster_name":"nullbulk","cluster_uuid":"nullbulk","version":` +
		`{"distribution":"opensearch","number":"2.19.6","build_type":"nullbulk","lucene_version":"9.12.3",` +
		`"minimum_wire_compatibility_version":"7.10.0","minimum_index_compatibility_version":"7.0.0"},` +
		`"tagline":"The OpenSearch Project: https://opensearch.org/"}`
	healthBody = `{"cluster_name":"nullbulk","status":"green","timed_out":false,"number_of_nodes":1,` +
		`"number_of_data_nodes":1,"discovered_master":true,"discovered_cluster_manager":true,` +
		`"active_primary_shards":0,"active_shards":0,"relocating_shards":0,"initializing_shards":0,` +
		`"unassigned_shards":0,"delayed_unassigned_shards":0,"number_of_pending_tasks":0,` +
		`"number_of_in_flight_fetch":0,"task_max_waiting_in_queue_millis":0,"active_shards_percent_as_number":100.0}`
)

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		writeJSON(w, http.StatusOK, rootBody)
	case path == "/_cluster/health" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, healthBody)
	case r.Method == http.MethodPost || r.Method == http.MethodPut:
		idx, ok := bulkPath(path)
		if !ok {
			notFound(w, r)
			return
		}
		s.bulk(w, r, idx)
	default:
		notFound(w, r)
	}
}

// bulkPath recognises /_bulk and /{index}/_bulk and returns the default index.
func bulkPath(p string) (string, bool) {
	if p == "/_bulk" {
		return "", true
	}
	rest, ok := strings.CutSuffix(p, "/_bulk")
	if !ok || len(rest) < 2 || strings.Contains(rest[1:], "/") {
		return "", false
	}
	return rest[1:], true
}

func notFound(w http.ResponseWriter, r *http.Request) {
	reason, _ := json.Marshal("nullbulk has no handler for " + r.Method + " " + r.URL.Path)
	writeJSON(w, http.StatusNotFound, `{"error":{"type":"illegal_argument_exception","reason":`+string(reason)+`},"status":404}`)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (s *Server) bulk(w http.ResponseWriter, r *http.Request, defaultIndex string) {
	n := s.requests.Add(1)
	in := s.bufs.Get().(*bytes.Buffer)
	out := s.bufs.Get().(*bytes.Buffer)
	defer func() {
		in.Reset()
		out.Reset()
		s.bufs.Put(in)
		s.bufs.Put(out)
	}()
	if err := s.readBody(in, r); err != nil {
		writeJSON(w, http.StatusBadRequest, `{"error":{"type":"parse_exception","reason":"cannot read body"},"status":400}`)
		return
	}
	body := in.Bytes()
	s.bytes.Add(int64(len(body)))
	if s.onRequest != nil {
		s.onRequest(n, body)
	}
	if s.delay != nil {
		if d := s.delay(n); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
	}
	if s.header != nil {
		for k, v := range s.header(n) {
			w.Header()[k] = v
		}
	}
	if s.reqStatus != nil {
		if st := s.reqStatus(n); st != 0 && st != http.StatusOK {
			writeJSON(w, st, requestError(st))
			return
		}
	}
	if s.maxBody > 0 && len(body) > s.maxBody {
		writeJSON(w, http.StatusRequestEntityTooLarge, requestError(http.StatusRequestEntityTooLarge))
		return
	}
	docs, errs := s.answer(out, n, body, defaultIndex, parseFilterPath(r.URL.Query().Get("filter_path")))
	s.documents.Add(int64(docs))
	if errs {
		// "errors" is written as false first and flipped here, so the answer is built in one pass.
		b := out.Bytes()
		if i := bytes.Index(b, []byte(`"errors":false`)); i >= 0 {
			copy(b[i:], `"errors":true `)
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(out.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out.Bytes())
}

func requestError(status int) string {
	typ, reason := "exception", "nullbulk was told to fail this request"
	switch {
	case status == http.StatusTooManyRequests:
		typ, reason = "es_rejected_execution_exception", "rejected execution (nullbulk)"
	case status == http.StatusRequestEntityTooLarge:
		typ, reason = "content_too_long_exception", "request body is too large (nullbulk)"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		typ = "security_exception"
	case status >= 500:
		typ = "cluster_block_exception"
	}
	return `{"error":{"root_cause":[{"type":"` + typ + `","reason":"` + reason + `"}],"type":"` + typ +
		`","reason":"` + reason + `"},"status":` + strconv.Itoa(status) + `}`
}

func (s *Server) readBody(dst *bytes.Buffer, r *http.Request) error {
	var src io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, _ := s.gz.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(r.Body)
		} else {
			err = zr.Reset(r.Body)
		}
		if err != nil {
			return err
		}
		defer s.gz.Put(zr)
		src = zr
	}
	_, err := dst.ReadFrom(src)
	return err
}

// answer writes the _bulk response for body into out and returns how many documents it
// held and whether any item failed.
func (s *Server) answer(out *bytes.Buffer, n int64, body []byte, defaultIndex string, f filter) (docs int, errs bool) {
	out.WriteByte('{')
	if !f.on || f.took {
		out.WriteString(`"took":0,`)
	}
	// "errors" is kept even when filtered out, as the marker the caller flips; a client
	// that asked for neither gets one key more than a node would send.
	out.WriteString(`"errors":false,"items":[`)
	i := 0
	for len(body) > 0 {
		line := body
		if j := bytes.IndexByte(body, '\n'); j >= 0 {
			line, body = body[:j], body[j+1:]
		} else {
			body = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		op := actionName(line)
		// index, create and update carry a source line; delete does not.
		var doc []byte
		if op != "delete" && len(body) > 0 {
			if j := bytes.IndexByte(body, '\n'); j >= 0 {
				doc, body = body[:j], body[j+1:]
			} else {
				doc, body = body, nil
			}
		}
		if op == "index" || op == "create" {
			docs++
		}
		status, errType := 201, ""
		if op == "update" || op == "delete" {
			status = 200
		}
		switch {
		case s.items != nil:
			if st, et := s.items(n, i, line, doc); st != 0 {
				status, errType = st, et
			}
		case s.itemStatus != nil:
			if st, et := s.itemStatus(i); st != 0 {
				status, errType = st, et
			}
		}
		if i > 0 {
			out.WriteByte(',')
		}
		s.item(out, op, line, defaultIndex, status, errType, f)
		errs = errs || status >= 300
		i++
	}
	out.WriteString(`]}`)
	return docs, errs
}

func (s *Server) item(out *bytes.Buffer, op string, action []byte, defaultIndex string, status int, errType string, f filter) {
	out.WriteString(`{"`)
	out.WriteString(op)
	out.WriteString(`":{`)
	if s.compact && status < 300 && !f.on {
		f = filter{on: true, fields: fieldStatus}
	}
	comma := false
	key := func(name string) {
		if comma {
			out.WriteByte(',')
		}
		comma = true
		out.WriteByte('"')
		out.WriteString(name)
		out.WriteString(`":`)
	}
	if f.keep(fieldIndex) {
		index := field(action, `"_index":"`)
		if index == nil {
			index = []byte(defaultIndex)
		}
		key("_index")
		out.WriteByte('"')
		out.Write(index)
		out.WriteByte('"')
	}
	if f.keep(fieldID) {
		key("_id")
		out.WriteByte('"')
		if id := field(action, `"_id":"`); id != nil {
			out.Write(id)
		} else {
			out.WriteString("nullbulk-")
			out.WriteString(strconv.FormatInt(s.autoID.Add(1), 10))
		}
		out.WriteByte('"')
	}
	if status < 300 {
		result := "created"
		if status == 200 {
			result = "updated"
		}
		if f.keep(fieldVersion) {
			key("_version")
			out.WriteByte('1')
		}
		if f.keep(fieldResult) {
			key("result")
			out.WriteString(`"` + result + `"`)
		}
		if f.keep(fieldShards) {
			key("_shards")
			out.WriteString(`{"total":1,"successful":1,"failed":0}`)
		}
		if f.keep(fieldSeqNo) {
			key("_seq_no")
			out.WriteByte('0')
		}
		if f.keep(fieldPrimaryTerm) {
			key("_primary_term")
			out.WriteByte('1')
		}
	}
	if f.keep(fieldStatus) {
		key("status")
		writeInt(out, status)
	}
	if status >= 300 && f.keep(fieldError) {
		if errType == "" {
			errType = "exception"
		}
		key("error")
		out.WriteString(`{"type":"`)
		out.WriteString(errType)
		out.WriteString(`","reason":"nullbulk was told to fail item with `)
		out.WriteString(errType)
		out.WriteString(`"}`)
	}
	out.WriteString(`}}`)
}

// filter is the part of a node's filter_path that a _bulk client uses: "took", "errors",
// and the item fields named by "items.*.NAME" (or all of an item's fields by "items").
type filter struct {
	on     bool // filter_path was given
	took   bool
	fields uint16
}

const (
	fieldIndex = 1 << iota
	fieldID
	fieldVersion
	fieldResult
	fieldShards
	fieldSeqNo
	fieldPrimaryTerm
	fieldStatus
	fieldError
)

var itemFields = map[string]uint16{"_index": fieldIndex, "_id": fieldID, "_version": fieldVersion, "result": fieldResult,
	"_shards": fieldShards, "_seq_no": fieldSeqNo, "_primary_term": fieldPrimaryTerm, "status": fieldStatus, "error": fieldError}

func parseFilterPath(v string) filter {
	if v == "" {
		return filter{}
	}
	f := filter{on: true}
	for p := range strings.SplitSeq(v, ",") {
		switch p = strings.TrimSpace(p); {
		case p == "took":
			f.took = true
		case p == "items" || p == "items.*":
			f.fields = ^uint16(0)
		case strings.HasPrefix(p, "items.*."):
			f.fields |= itemFields[strings.TrimPrefix(p, "items.*.")]
		}
	}
	return f
}

// keep says whether the answer carries the field: every field without a filter.
func (f filter) keep(bit uint16) bool {
	return !f.on || f.fields&bit != 0
}

// actionName returns the first key of an action line ("index", "create", ...).
func actionName(line []byte) string {
	i := bytes.IndexByte(line, '"')
	if i < 0 {
		return "index"
	}
	rest := line[i+1:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "index"
	}
	switch string(rest[:j]) { // no allocation: the compiler matches the bytes in place
	case "create":
		return "create"
	case "update":
		return "update"
	case "delete":
		return "delete"
	}
	return "index"
}

// field returns the raw (still escaped) string value following key in an action line.
func field(line []byte, key string) []byte {
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return nil
	}
	v := line[i+len(key):]
	for j := 0; j < len(v); j++ {
		switch v[j] {
		case '\\':
			j++
		case '"':
			return v[:j]
		}
	}
	return nil
}

// writeInt appends n without the allocation strconv.Itoa makes for numbers above 99.
func writeInt(out *bytes.Buffer, n int) {
	var b [20]byte
	out.Write(strconv.AppendInt(b[:0], int64(n), 10))
}

// StatsPath is where the handler from WithStats answers the counters as JSON, so that a
// load generator in another process can count what arrived.
const StatsPath = "/_nullbulk/stats"

// Stats are the receiver's counters at one moment.
type Stats struct {
	Requests  int64 `json:"requests"`
	Documents int64 `json:"documents"`
	Bytes     int64 `json:"bytes"`
}

// Stats reads the counters.
func (s *Server) Stats() Stats {
	return Stats{Requests: s.requests.Load(), Documents: s.documents.Load(), Bytes: s.bytes.Load()}
}

// WithStats returns a handler that serves s and answers GET StatsPath with its Stats.
func (s *Server) WithStats() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != StatsPath {
			s.ServeHTTP(w, r)
			return
		}
		b, _ := json.Marshal(s.Stats())
		writeJSON(w, http.StatusOK, string(b))
	})
}
