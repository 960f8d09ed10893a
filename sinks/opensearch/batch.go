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

// add encodes rec as one bulk item.
func (b *batch) add(rec *pipeline.Record, ids *itemCache) {
	b.offs = append(b.offs, len(b.buf))
	b.recs = append(b.recs, rec)
	b.buf = appendItem(b.buf, rec, ids)
}

// appendItem writes the action line and the document:
//
//	{"index":{"_index":"NAME","_id":"ID"}}\n DOC \n
func appendItem(buf []byte, rec *pipeline.Record, ids *itemCache) []byte {
	if rec.Op == pipeline.OpCreate {
		buf = append(buf, `{"create":{"_index":"`...)
	} else {
		buf = append(buf, `{"index":{"_index":"`...)
	}
	buf = ids.appendIndex(buf, rec.Index)
	switch {
	case rec.ID != nil:
		// Already JSON string content: written as it is.
		buf = append(buf, `","_id":"`...)
		buf = append(buf, rec.ID...)
	case rec.PositionID:
		buf = append(buf, `","_id":"`...)
		buf = ids.appendPositionID(buf, rec.Source, rec.Key, rec.Offset)
	}
	buf = append(buf, "\"}}\n"...)
	start := len(buf)
	buf = append(buf, rec.Doc...)
	// A newline inside valid JSON can only be whitespace between tokens (inside strings it
	// must be escaped), but _bulk reads one document per line: a pretty-printed document
	// would be cut. A space is equivalent whitespace and keeps the length. A document cut
	// out of NDJSON has none, and is not read a second time to find out.
	if !rec.OneLine && bytes.IndexByte(rec.Doc, '\n') >= 0 {
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

// positionPrefixLen is the length of a position id's message part: 12 bytes of SHA-256 in
// unpadded base64url. The offset follows it in decimal.
const positionPrefixLen = 16

// itemCache keeps what consecutive items share: the message part of position ids for the
// last message seen, and the last index name as escaped JSON. A message's documents reach
// the sink together, so one SHA-256 per message serves all of them (hashing every
// document's id cost 7% of weir's CPU at 300k documents/s), and one index name's escaping
// serves a run of documents (escaping it per document was 2.5% at 800k documents/s).
type itemCache struct {
	source, key string
	prefix      [positionPrefixLen]byte
	valid       bool
	scratch     []byte

	index        string
	indexEscaped []byte
	indexValid   bool
}

// appendIndex appends index as JSON string content.
func (c *itemCache) appendIndex(buf []byte, index string) []byte {
	if !c.indexValid || index != c.index {
		c.indexEscaped = appendEscaped(c.indexEscaped[:0], index)
		c.index, c.indexValid = index, true
	}
	return append(buf, c.indexEscaped...)
}

// appendPositionID appends the deterministic _id of the document at offset in source message
// key: base64url (no padding) of the first 12 bytes of SHA-256 over source, NUL, key, then
// the decimal offset. The prefix has a fixed length, so (message, offset) → id is one to one
// for a given message hash; 96 bits make two messages sharing a hash a non-concern (a 10^-5
// chance over 10^12 messages). A redelivered message then overwrites its documents instead
// of duplicating them.
func (c *itemCache) appendPositionID(buf []byte, source, key string, offset int64) []byte {
	if !c.valid || key != c.key || source != c.source {
		s := append(c.scratch[:0], source...)
		s = append(s, 0)
		s = append(s, key...)
		c.scratch = s
		sum := sha256.Sum256(s)
		base64.RawURLEncoding.Encode(c.prefix[:], sum[:12])
		c.source, c.key, c.valid = source, key, true
	}
	buf = append(buf, c.prefix[:]...)
	return strconv.AppendInt(buf, offset, 10)
}

// PositionID returns the _id weir writes for a record with PositionID set and no ID: the
// same for the same source, message key and offset, whichever weir process computes it.
func PositionID(source, key string, offset int64) string {
	var c itemCache
	return string(c.appendPositionID(make([]byte, 0, positionPrefixLen+20), source, key, offset))
}

// recordID is the _id a dead letter reports for rec: its own, or the position id weir made.
func recordID(rec *pipeline.Record) string {
	if rec.ID == nil && rec.PositionID {
		return PositionID(rec.Source, rec.Key, rec.Offset)
	}
	return string(rec.ID)
}
