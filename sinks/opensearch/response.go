package opensearch

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// item is one bulk item's answer. errType and reason are raw JSON string content (still
// escaped) that alias the response body; unquote copies them out when they are needed.
type item struct {
	status  int
	errType []byte
	reason  []byte
}

// bulkResult is a parsed _bulk answer.
type bulkResult struct {
	// allOK: "errors":false came before "items", so the items were not read: every one
	// succeeded. Items is empty then.
	allOK  bool
	errors bool
	items  []item
}

var errBadResponse = errors.New("malformed bulk response")

// parseBulkResponse reads a _bulk answer without building a document tree: it walks the top
// level for "errors" and "items", stops at "errors":false (OpenSearch writes it before the
// items), and otherwise reads each item's status, error.type and error.reason, skipping
// everything else. items is reused for the result. Duplicate keys: the last one wins, as
// with encoding/json. It never panics on any input.
func parseBulkResponse(body []byte, items []item) (bulkResult, error) {
	p := parser{b: body}
	res := bulkResult{items: items[:0]}
	if err := p.objectStart(); err != nil {
		return res, err
	}
	for first := true; ; first = false {
		key, esc, ok, err := p.nextKey(first)
		if err != nil {
			return res, err
		}
		if !ok {
			return res, nil
		}
		switch {
		case keyIs(key, esc, "errors"):
			v, err := p.boolOrNull()
			if err != nil {
				return res, err
			}
			res.errors = v
			if !v && len(res.items) == 0 {
				res.allOK = true
				return res, nil
			}
		case keyIs(key, esc, "items"):
			res.items = res.items[:0]
			if res.items, err = p.items(res.items); err != nil {
				return res, err
			}
		default:
			if err := p.skip(); err != nil {
				return res, err
			}
		}
	}
}

// parseErrorBody reads the error of a refused request, {"error":{"type":…,"reason":…}} or
// {"error":"…"}, for logging. Empty results when the body says nothing usable.
func parseErrorBody(body []byte) (typ, reason string) {
	p := parser{b: body}
	if p.objectStart() != nil {
		return "", ""
	}
	for first := true; ; first = false {
		key, esc, ok, err := p.nextKey(first)
		if err != nil || !ok {
			return typ, reason
		}
		if !keyIs(key, esc, "error") {
			if p.skip() != nil {
				return typ, reason
			}
			continue
		}
		var it item
		if p.errorValue(&it) != nil {
			return typ, reason
		}
		typ, reason = unquote(it.errType), unquote(it.reason)
	}
}

type parser struct {
	b []byte
	i int
}

func (p *parser) fail() error {
	return errors.New("malformed bulk response at byte " + strconv.Itoa(p.i))
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (p *parser) peek() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *parser) objectStart() error {
	if p.peek() != '{' {
		return p.fail()
	}
	p.i++
	return nil
}

// nextKey reads the next key of an object whose '{' was consumed, and its ':'. ok is false
// at the closing '}', which it consumes.
func (p *parser) nextKey(first bool) (key []byte, esc, ok bool, err error) {
	c := p.peek()
	if c == '}' {
		p.i++
		return nil, false, false, nil
	}
	if !first {
		if c != ',' {
			return nil, false, false, p.fail()
		}
		p.i++
		c = p.peek()
	}
	if c != '"' {
		return nil, false, false, p.fail()
	}
	key, esc, err = p.str()
	if err != nil {
		return nil, false, false, err
	}
	if p.peek() != ':' {
		return nil, false, false, p.fail()
	}
	p.i++
	return key, esc, true, nil
}

// str reads a string at the opening quote and returns its raw content, and whether it has
// escapes. It checks escapes and control characters as JSON requires.
func (p *parser) str() (s []byte, esc bool, err error) {
	p.i++ // opening quote
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s = p.b[start:p.i]
			p.i++
			return s, esc, nil
		case c == '\\':
			esc = true
			if p.i+1 >= len(p.b) {
				return nil, false, p.fail()
			}
			switch p.b[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if p.i+6 > len(p.b) || !isHex4(p.b[p.i+2:p.i+6]) {
					return nil, false, p.fail()
				}
				p.i += 6
			default:
				return nil, false, p.fail()
			}
		case c < 0x20:
			return nil, false, p.fail()
		default:
			p.i++
		}
	}
	return nil, false, p.fail()
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (p *parser) literal(word string) bool {
	if len(p.b)-p.i >= len(word) && string(p.b[p.i:p.i+len(word)]) == word {
		p.i += len(word)
		return true
	}
	return false
}

func (p *parser) boolOrNull() (bool, error) {
	switch p.peek() {
	case 't':
		if p.literal("true") {
			return true, nil
		}
	case 'f':
		if p.literal("false") {
			return false, nil
		}
	case 'n':
		if p.literal("null") {
			return false, nil
		}
	}
	return false, p.fail()
}

// statusValue reads an integer status (null reads as 0, as encoding/json leaves it).
// Fractions and exponents are refused, as they are for an int field in encoding/json.
func (p *parser) statusValue() (int, error) {
	c := p.peek()
	if c == 'n' {
		if p.literal("null") {
			return 0, nil
		}
		return 0, p.fail()
	}
	neg := false
	if c == '-' {
		neg = true
		p.i++
	}
	start, n := p.i, 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		n = n*10 + int(p.b[p.i]-'0')
		p.i++
		if p.i-start > 9 {
			return 0, p.fail() // not a status; also keeps n from overflowing
		}
	}
	digits := p.i - start
	if digits == 0 || (digits > 1 && p.b[start] == '0') {
		return 0, p.fail()
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, p.fail()
		}
	}
	if neg {
		n = -n
	}
	return n, nil
}

// items reads the items array, appending to dst.
func (p *parser) items(dst []item) ([]item, error) {
	switch p.peek() {
	case 'n':
		if p.literal("null") {
			return dst, nil
		}
		return dst, p.fail()
	case '[':
		p.i++
	default:
		return dst, p.fail()
	}
	if p.peek() == ']' {
		p.i++
		return dst, nil
	}
	for {
		var it item
		if err := p.itemValue(&it); err != nil {
			return dst, err
		}
		dst = append(dst, it)
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return dst, nil
		default:
			return dst, p.fail()
		}
	}
}

// itemValue reads {"index":{…}} (or create, update, delete: any key whose value is an
// object is read as the item's result).
func (p *parser) itemValue(it *item) error {
	if p.peek() == 'n' {
		if p.literal("null") {
			return nil
		}
		return p.fail()
	}
	if err := p.objectStart(); err != nil {
		return err
	}
	for first := true; ; first = false {
		_, _, ok, err := p.nextKey(first)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if p.peek() != '{' {
			if err := p.skip(); err != nil {
				return err
			}
			continue
		}
		*it = item{}
		if err := p.result(it); err != nil {
			return err
		}
	}
}

// result reads one item's result object for status and error.
func (p *parser) result(it *item) error {
	p.i++ // '{'
	for first := true; ; first = false {
		key, esc, ok, err := p.nextKey(first)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		switch {
		case keyIs(key, esc, "status"):
			if it.status, err = p.statusValue(); err != nil {
				return err
			}
		case keyIs(key, esc, "error"):
			if err := p.errorValue(it); err != nil {
				return err
			}
		default:
			if err := p.skip(); err != nil {
				return err
			}
		}
	}
}

// errorValue reads {"type":…,"reason":…,…}, a bare string (taken as the reason) or null.
func (p *parser) errorValue(it *item) error {
	it.errType, it.reason = nil, nil
	switch p.peek() {
	case '"':
		s, _, err := p.str()
		it.reason = s
		return err
	case '{':
		p.i++
	default:
		return p.skip()
	}
	for first := true; ; first = false {
		key, esc, ok, err := p.nextKey(first)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		isType, isReason := keyIs(key, esc, "type"), keyIs(key, esc, "reason")
		if (isType || isReason) && p.peek() == '"' {
			s, _, err := p.str()
			if err != nil {
				return err
			}
			if isType {
				it.errType = s
			} else {
				it.reason = s
			}
			continue
		}
		if err := p.skip(); err != nil {
			return err
		}
	}
}

// skip passes over one value of any kind. Containers are skipped by counting brackets
// outside strings, without recursion, so deep nesting cannot exhaust the stack. It checks
// less than a full parser (it would accept [1 2]); the values it skips are ones weir does
// not read.
func (p *parser) skip() error {
	switch c := p.peek(); c {
	case '"':
		_, _, err := p.str()
		return err
	case '{', '[':
		depth := 0
		for p.i < len(p.b) {
			switch p.b[p.i] {
			case '"':
				if _, _, err := p.str(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					p.i++
					return nil
				}
			}
			p.i++
		}
		return p.fail()
	case 't':
		if p.literal("true") {
			return nil
		}
	case 'f':
		if p.literal("false") {
			return nil
		}
	case 'n':
		if p.literal("null") {
			return nil
		}
	default:
		if c == '-' || c >= '0' && c <= '9' {
			start := p.i
			for p.i < len(p.b) {
				switch b := p.b[p.i]; {
				case b >= '0' && b <= '9', b == '-', b == '+', b == '.', b == 'e', b == 'E':
					p.i++
					continue
				}
				break
			}
			if p.i > start {
				return nil
			}
		}
	}
	return p.fail()
}

// keyIs compares a raw key with an ASCII name, decoding escapes only when the key has them.
func keyIs(raw []byte, esc bool, name string) bool {
	if !esc {
		return string(raw) == name
	}
	j := 0
	for i := 0; i < len(raw); {
		c := raw[i]
		if c == '\\' && i+1 < len(raw) {
			switch raw[i+1] {
			case 'u':
				if i+6 > len(raw) {
					return false
				}
				v, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
				if err != nil || v >= utf8.RuneSelf {
					return false // every name weir looks for is ASCII
				}
				c = byte(v)
				i += 6
			case 'b':
				c, i = '\b', i+2
			case 'f':
				c, i = '\f', i+2
			case 'n':
				c, i = '\n', i+2
			case 'r':
				c, i = '\r', i+2
			case 't':
				c, i = '\t', i+2
			default:
				c, i = raw[i+1], i+2
			}
		} else {
			i++
		}
		if j >= len(name) || name[j] != c {
			return false
		}
		j++
	}
	return j == len(name)
}

// unquote turns raw JSON string content into a Go string.
func unquote(raw []byte) string {
	for _, c := range raw {
		if c == '\\' {
			q := make([]byte, 0, len(raw)+2)
			q = append(append(append(q, '"'), raw...), '"')
			var s string
			if json.Unmarshal(q, &s) == nil {
				return s
			}
			return string(raw)
		}
	}
	return string(raw)
}
