package httpsource

import (
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Error types, in OpenSearch's style, so that clients written for OpenSearch show them well.
const (
	errTypeParse       = "parse_exception"
	errTypeIllegalArg  = "illegal_argument_exception"
	errTypeValidation  = "action_request_validation_exception"
	errTypeIndexName   = "invalid_index_name_exception"
	errTypeTooLarge    = "request_entity_too_large_exception"
	errTypeRejected    = "rejected_execution_exception"
	errTypeUnavailable = "service_unavailable_exception"
	errTypeTimeout     = "timeout_exception"
	errTypeSecurity    = "security_exception"
	errTypeNotFound    = "no_handler_found_exception"
	errTypeMethod      = "method_not_allowed_exception"
	errTypeMediaType   = "unsupported_media_type_exception"
	errTypeUndelivered = "undelivered"
	reasonUndelivered  = "not delivered before weir shut down; send it again"
	contentTypeJSON    = "application/json; charset=UTF-8"
)

// outBuf is a pooled response buffer: bulk answers grow with the number of items, and
// allocating one per request would be the largest allocation left on the hot path.
type outBuf struct{ b []byte }

var outPool = sync.Pool{New: func() any { return &outBuf{b: make([]byte, 0, 4096)} }}

// maxPooledOut keeps the pool from pinning the buffer of one huge answer.
const maxPooledOut = 1 << 20

func getOut() *outBuf { return outPool.Get().(*outBuf) }

func putOut(o *outBuf) {
	if cap(o.b) <= maxPooledOut {
		o.b = o.b[:0]
		outPool.Put(o)
	}
}

// writeJSON sends body with the status and returns the status, for the metrics.
func writeJSON(w http.ResponseWriter, status int, body []byte) int {
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // a client that went away needs no answer
	return status
}

// writeError answers {"error":{"type":…,"reason":…},"status":N} as OpenSearch does.
func (s *Source) writeError(w http.ResponseWriter, status int, typ, reason string) int {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", s.retryAfter)
	}
	o := getOut()
	defer putOut(o)
	o.b = appendErrorBody(o.b[:0], status, typ, reason)
	return writeJSON(w, status, o.b)
}

func appendErrorBody(b []byte, status int, typ, reason string) []byte {
	b = append(b, `{"error":{"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"reason":`...)
	b = appendString(b, reason)
	b = append(b, `},"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as encoding/json
// does, so the answer stays valid JSON whatever a message quotes.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendRawString appends raw, the content of a JSON string that is already escaped (an
// _id as it appeared in the request, or as the pipeline took it from a document), between
// quotes.
func appendRawString(b, raw []byte) []byte {
	b = append(b, '"')
	b = append(b, raw...)
	return append(b, '"')
}
