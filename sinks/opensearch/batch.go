package opensearch

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/weir-ingest/weir/pipeline"
)

// batch is one _bulk request body and the records it carries. Item i is
// buf[offs[i]:offs[i+1]] (the last one ends at len(buf)): items can be copied into a retry
// or split batch without encoding them again. Batches are pooled with all their slices, so
// encoding allocates nothing per document once the pool is warm.
type batch struct {
	buf     []byte
	recs    []*pipeline.Record
	offs    []int
	created time.Time
	// round counts item retries: 0 for a fresh batch, k for the k-th resend of refused items.
	round int

	// Reused per response.
	resp    []byte
	items   []item
	letters []pipeline.DeadLetter
	dlRecs  []*pipeline.Record
}

func (b *batch) n() int { return len(b.recs) }

func (b *batch) end(i int) int {
	if i+1 < len(b.offs) {
		return b.offs[i+1]
	}
	return len(b.buf)
}

// reset empties the batch for reuse, dropping record pointers so pooled batches do not
// keep documents alive.
func (b *batch) reset() {
	clear(b.recs)
	clear(b.dlRecs)
	clear(b.letters)
	b.buf, b.recs, b.offs = b.buf[:0], b.recs[:0], b.offs[:0]
	b.items, b.letters, b.dlRecs = b.items[:0], b.letters[:0], b.dlRecs[:0]
	b.round = 0
	b.created = time.Time{}
}

// copyItem appends item i of src, already encoded, to b.
func (b *batch) copyItem(src *batch, i int) {
	b.offs = append(b.offs, len(b.buf))
	b.buf = append(b.buf, src.buf[src.offs[i]:src.end(i)]...)
	b.recs = append(b.recs, src.recs[i])
}

// dropLast removes the last item.
func (b *batch) dropLast() {
	last := len(b.recs) - 1
	b.buf = b.buf[:b.offs[last]]
	b.recs[last] = nil
	b.recs, b.offs = b.recs[:last], b.offs[:last]
}

// add encodes rec as one bulk item. scratch is reused to hash position ids.
func (b *batch) add(rec *pipeline.Record, scratch *[]byte) {
	b.offs = append(b.offs, len(b.buf))
	b.recs = append(b.recs, rec)
	b.buf = appendItem(b.buf, rec, scratch)
}

// appendItem writes the action line and the document:
//
//	{"index":{"_index":"NAME","_id":"ID"}}\n DOC \n
func appendItem(buf []byte, rec *pipeline.Record, scratch *[]byte) []byte {
	if rec.Op == pipeline.OpCreate {
		buf = append(buf, `{"create":{"_index":"`...)
	} else {
		buf = append(buf, `{"index":{"_index":"`...)
	}
	buf = appendEscaped(buf, rec.Index)
	switch {
	case rec.ID != nil:
		// Already JSON string content: written as it is.
		buf = append(buf, `","_id":"`...)
		buf = append(buf, rec.ID...)
	case rec.PositionID:
		buf = append(buf, `","_id":"`...)
		buf = appendPositionID(buf, rec.Source, rec.Key, rec.Offset, scratch)
	}
	buf = append(buf, "\"}}\n"...)
	start := len(buf)
	buf = append(buf, rec.Doc...)
	// A newline inside valid JSON can only be whitespace between tokens (inside strings it
	// must be escaped), but _bulk reads one document per line: a pretty-printed document
	// would be cut. A space is equivalent whitespace and keeps the length.
	if bytes.IndexByte(rec.Doc, '\n') >= 0 {
		for i := start; i < len(buf); i++ {
			if buf[i] == '\n' {
				buf[i] = ' '
			}
		}
	}
	return append(buf, '\n')
}

const hexDigits = "0123456789abcdef"

// appendEscaped appends s as JSON string content. Valid index names need no escaping, so
// this is a plain copy in practice; it is here so that no name can break the action line.
func appendEscaped(buf []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\r':
			buf = append(buf, '\\', 'r')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	return append(buf, s[start:]...)
}

// positionIDLen is the length of a position id: 15 bytes of SHA-256 in unpadded base64url.
const positionIDLen = 20

// appendPositionID appends the deterministic _id of the document at offset in source
// message key: base64url (no padding) of the first 15 bytes (120 bits: collisions are not
// a practical concern) of SHA-256 over source, NUL, key, NUL, decimal offset. A redelivered
// message then overwrites its documents instead of duplicating them.
func appendPositionID(buf []byte, source, key string, offset int64, scratch *[]byte) []byte {
	s := append((*scratch)[:0], source...)
	s = append(s, 0)
	s = append(s, key...)
	s = append(s, 0)
	s = strconv.AppendInt(s, offset, 10)
	*scratch = s
	sum := sha256.Sum256(s)
	return base64.RawURLEncoding.AppendEncode(buf, sum[:15])
}

// PositionID returns the _id weir writes for a record with PositionID set and no ID: the
// same for the same source, message key and offset, whichever weir process computes it.
func PositionID(source, key string, offset int64) string {
	var scratch []byte
	return string(appendPositionID(make([]byte, 0, positionIDLen), source, key, offset, &scratch))
}

// recordID is the _id a dead letter reports for rec: its own, or the position id weir made.
func recordID(rec *pipeline.Record) string {
	if rec.ID == nil && rec.PositionID {
		return PositionID(rec.Source, rec.Key, rec.Offset)
	}
	return string(rec.ID)
}
