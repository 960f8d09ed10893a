package docscan

import (
	"encoding/binary"
	"math/bits"
)

// MaxDepth bounds the nesting of objects and arrays. Deeper input is refused so that a hostile
// "[[[[…" costs no more than a linear pass over a fixed-size stack.
const MaxDepth = 512

// SWAR constants: every byte 0x01, every byte 0x80.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plain marks string bytes that need no attention: printable ASCII other than '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// IsSpace reports JSON whitespace: space, tab, line feed, carriage return.
func IsSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// SkipSpace returns the offset of the first byte at or after i that is not JSON whitespace.
func SkipSpace(doc []byte, i int) int {
	for i < len(doc) && IsSpace(doc[i]) {
		i++
	}
	return i
}

// TrimSpace trims JSON whitespace only (bytes.TrimSpace also takes Unicode spaces, which
// JSON does not allow around a value).
func TrimSpace(b []byte) []byte {
	i, j := SkipSpace(b, 0), len(b)
	for j > i && IsSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// scanString validates a string whose opening quote is at i-1 and returns the offset just past
// its closing quote, and whether it holds escapes. walk has its own copy of the loop, inlined.
func scanString(doc []byte, i int) (int, bool, error) {
	escaped := false
	for {
		if i+8 <= len(doc) {
			if m := stringMask(binary.LittleEndian.Uint64(doc[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
			} else {
				i = plainRun(doc, i+8)
				continue
			}
		} else {
			for i < len(doc) && plain[doc[i]] {
				i++
			}
			if i >= len(doc) {
				return i, escaped, syntaxErr(len(doc), msgEOF)
			}
		}
		if doc[i] == '"' {
			return i + 1, escaped, nil
		}
		escaped = escaped || doc[i] == '\\'
		var err error
		if i, err = stringSpecial(doc, i); err != nil {
			return i, escaped, err
		}
	}
}

// stringMask flags, in the high bit of each byte of x, the bytes that end a run of plain string
// text: '"', '\\', < 0x20 and >= 0x80. Borrows can only raise false flags above a true one, so
// the lowest flag is exact, which is all the callers use.
func stringMask(x uint64) uint64 {
	q := x ^ (lsb * '"')
	b := x ^ (lsb * '\\')
	return (((x-lsb*0x20)|(q-lsb)|(b-lsb))&^x | x) & msb
}

// plainRunSWAR returns the offset of the first byte at or after i that ends a run of plain
// string text (see stringMask), or the start of the last incomplete word. Two words a turn:
// on a 1 KiB log line (BenchmarkScanLogLine) this and the split out of walk took 410-435 ns
// to 330-357; four words a turn was slower again (390-425). plainRun is this, or a vector
// version where the build and the CPU allow it (plainrun_simd.go).
func plainRunSWAR(doc []byte, i int) int {
	for ; i+16 <= len(doc); i += 16 {
		w := doc[i : i+16 : i+16]
		m0, m1 := stringMask(binary.LittleEndian.Uint64(w)), stringMask(binary.LittleEndian.Uint64(w[8:]))
		if m0|m1 != 0 {
			if m0 != 0 {
				return i + bits.TrailingZeros64(m0)>>3
			}
			return i + 8 + bits.TrailingZeros64(m1)>>3
		}
	}
	for ; i+8 <= len(doc); i += 8 {
		if m := stringMask(binary.LittleEndian.Uint64(doc[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	return i
}

// stringSpecial validates what starts at doc[i] inside a string, which is not plain and not the
// closing quote: an escape, a control character (refused) or a UTF-8 sequence. It is kept out
// of the loops so that they stay small.
func stringSpecial(doc []byte, i int) (int, error) {
	switch c := doc[i]; {
	case c == '\\':
		return scanEscape(doc, i)
	case c < 0x20:
		return i, syntaxErr(i, msgControl)
	}
	if n := utf8Len(doc, i); n > 0 {
		return i + n, nil
	}
	return i, syntaxErr(i, msgUTF8)
}

// scanEscape validates the escape sequence whose backslash is at i.
func scanEscape(doc []byte, i int) (int, error) {
	if i+1 >= len(doc) {
		return i, syntaxErr(len(doc), msgEOF)
	}
	switch doc[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2, nil
	case 'u':
		for k := i + 2; k < i+6; k++ {
			if k >= len(doc) {
				return i, syntaxErr(len(doc), msgEOF)
			}
			if hexVal[doc[k]] < 0 {
				return i, syntaxErr(i, msgUnicodeEscape)
			}
		}
		return i + 6, nil
	}
	return i, syntaxErr(i, msgEscape)
}

var hexVal = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = int8(c - 'a' + 10)
		t[c-'a'+'A'] = int8(c - 'a' + 10)
	}
	return t
}()

// utf8Len returns the length of the well-formed UTF-8 sequence at doc[i] (a byte >= 0x80), or 0.
// It accepts exactly what utf8.Valid accepts: no overlong forms, surrogates or values
// beyond U+10FFFF.
func utf8Len(doc []byte, i int) int {
	c := doc[i]
	rest := len(doc) - i
	cont := func(c byte) bool { return c&0xC0 == 0x80 }
	switch {
	case c < 0xC2:
		return 0
	case c < 0xE0:
		if rest < 2 || !cont(doc[i+1]) {
			return 0
		}
		return 2
	case c < 0xF0:
		if rest < 3 || !cont(doc[i+2]) {
			return 0
		}
		c1 := doc[i+1]
		lo, hi := byte(0x80), byte(0xBF)
		if c == 0xE0 {
			lo = 0xA0
		} else if c == 0xED {
			hi = 0x9F
		}
		if c1 < lo || c1 > hi {
			return 0
		}
		return 3
	case c < 0xF5:
		if rest < 4 || !cont(doc[i+2]) || !cont(doc[i+3]) {
			return 0
		}
		c1 := doc[i+1]
		lo, hi := byte(0x80), byte(0xBF)
		if c == 0xF0 {
			lo = 0x90
		} else if c == 0xF4 {
			hi = 0x8F
		}
		if c1 < lo || c1 > hi {
			return 0
		}
		return 4
	}
	return 0
}

// scanNumber validates the number starting at i ('-' or a digit).
func scanNumber(doc []byte, i int) (int, error) {
	n := len(doc)
	if doc[i] == '-' {
		i++
		if i >= n || !isDigit(doc[i]) {
			return i, syntaxErr(min(i, n), msgMinus)
		}
	}
	if doc[i] == '0' {
		i++
		if i < n && isDigit(doc[i]) {
			return i, syntaxErr(i-1, msgLeadingZero)
		}
	} else {
		for i < n && isDigit(doc[i]) {
			i++
		}
	}
	if i < n && doc[i] == '.' {
		i++
		if i >= n || !isDigit(doc[i]) {
			return i, syntaxErr(i, msgFraction)
		}
		for i < n && isDigit(doc[i]) {
			i++
		}
	}
	if i < n && doc[i]|0x20 == 'e' {
		i++
		if i < n && (doc[i] == '+' || doc[i] == '-') {
			i++
		}
		if i >= n || !isDigit(doc[i]) {
			return i, syntaxErr(i, msgExponent)
		}
		for i < n && isDigit(doc[i]) {
			i++
		}
	}
	return i, nil
}

func isDigit(c byte) bool { return c-'0' <= 9 }

// scanLiteral checks for true, false or null at i.
func scanLiteral(doc []byte, i int) (int, error) {
	switch doc[i] {
	case 't':
		if len(doc)-i >= 4 && string(doc[i:i+4]) == "true" {
			return i + 4, nil
		}
		return i, syntaxErr(i, msgTrue)
	case 'f':
		if len(doc)-i >= 5 && string(doc[i:i+5]) == "false" {
			return i + 5, nil
		}
		return i, syntaxErr(i, msgFalse)
	}
	if len(doc)-i >= 4 && string(doc[i:i+4]) == "null" {
		return i + 4, nil
	}
	return i, syntaxErr(i, msgNull)
}

// walk validates JSON from i and returns the offset just past what it consumed. With inObject
// false it consumes one value (after optional whitespace) held in a container at depth. With
// inObject true, i is just past a member of an object at depth whose members are being read,
// and walk consumes the rest of that object; this lets the field matcher hand off to the fast
// loop once nothing more is wanted.
//
// It is one loop with gotos rather than recursion so that plain bytes cost no calls (only
// numbers, literals and string bytes that need a closer look leave the loop), and the open
// containers cost one bit each.
func walk(doc []byte, i, depth int, inObject bool) (int, error) {
	var objs [MaxDepth/64 + 1]uint64 // bit d: the container at depth d is an object
	var c byte
	var err error
	var inKey bool // where the inlined string loop returns to
	n := len(doc)
	base := depth
	if inObject {
		base = depth - 1
		objs[depth>>6] |= 1 << (depth & 63)
		goto after
	}

value:
	if i >= n {
		return n, syntaxErr(n, msgEOF)
	}
	c = doc[i]
	if c <= ' ' {
		if i = SkipSpace(doc, i); i >= n {
			return n, syntaxErr(n, msgEOF)
		}
		c = doc[i]
	}
	switch c {
	case '"':
		i++
		inKey = false
		goto str
	case '{':
		if depth++; depth > MaxDepth {
			return i, syntaxErr(i, msgDepth)
		}
		objs[depth>>6] |= 1 << (depth & 63)
		if i = SkipSpace(doc, i+1); i >= n {
			return n, syntaxErr(n, msgEOF)
		}
		if doc[i] == '"' {
			goto key
		}
		if doc[i] != '}' {
			return i, syntaxErr(i, msgKeyOrEnd)
		}
		i++
		depth--
	case '[':
		if depth++; depth > MaxDepth {
			return i, syntaxErr(i, msgDepth)
		}
		objs[depth>>6] &^= 1 << (depth & 63)
		if i = SkipSpace(doc, i+1); i < n && doc[i] == ']' {
			i++
			depth--
			goto after
		}
		goto value
	case 't', 'f', 'n':
		if i, err = scanLiteral(doc, i); err != nil {
			return i, err
		}
	default:
		if c != '-' && !isDigit(c) {
			return i, syntaxErr(i, msgValue)
		}
		if i, err = scanNumber(doc, i); err != nil {
			return i, err
		}
	}

after:
	if depth == base {
		return i, nil
	}
	if i >= n {
		return n, syntaxErr(n, msgEOF)
	}
	c = doc[i]
	if c <= ' ' {
		if i = SkipSpace(doc, i); i >= n {
			return n, syntaxErr(n, msgEOF)
		}
		c = doc[i]
	}
	if objs[depth>>6]&(1<<(depth&63)) != 0 {
		switch c {
		case ',':
			if i = SkipSpace(doc, i+1); i >= n {
				return n, syntaxErr(n, msgEOF)
			}
			if doc[i] == '"' {
				goto key
			}
			if doc[i] == '}' {
				return i, syntaxErr(i, msgTrailingObject)
			}
			return i, syntaxErr(i, msgKey)
		case '}':
			i++
			depth--
			goto after
		}
		return i, syntaxErr(i, msgAfterMember)
	}
	switch c {
	case ',':
		if i = SkipSpace(doc, i+1); i < n && doc[i] == ']' {
			return i, syntaxErr(i, msgTrailingArray)
		}
		goto value
	case ']':
		i++
		depth--
		goto after
	}
	return i, syntaxErr(i, msgAfterElement)

key: // doc[i] is the key's opening quote
	i++
	inKey = true

str: // i is inside a string; the same loop as scanString, inlined because strings dominate
	for {
		if i+8 <= n {
			if m := stringMask(binary.LittleEndian.Uint64(doc[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
			} else {
				// A long string (a log message): the rest of its run goes to a small
				// function whose loop keeps everything in registers, which this big one
				// cannot (it reloaded spilled values every eight bytes).
				i = plainRun(doc, i+8)
				continue
			}
		} else {
			for i < n && plain[doc[i]] {
				i++
			}
			if i >= n {
				return n, syntaxErr(n, msgEOF)
			}
		}
		if doc[i] == '"' {
			i++
			break
		}
		if i, err = stringSpecial(doc, i); err != nil {
			return i, err
		}
	}
	if !inKey {
		goto after
	}
	if i < n && doc[i] == ':' {
		i++
		goto value
	}
	if i = SkipSpace(doc, i); i >= n {
		return n, syntaxErr(n, msgEOF)
	}
	if doc[i] != ':' {
		return i, syntaxErr(i, msgColon)
	}
	i++
	goto value
}
