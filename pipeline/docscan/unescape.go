package docscan

import (
	"bytes"
	"unicode/utf8"
)

// Unescape appends the decoded form of raw, the content of a JSON string between its quotes,
// to dst. It decodes exactly as encoding/json does, including turning an unpaired UTF-16
// surrogate escape into U+FFFD. Bytes other than escapes are copied as they are; raw taken
// from Scan is valid UTF-8, so the result is too.
func Unescape(dst, raw []byte) ([]byte, error) {
	off := 0
	for {
		j := bytes.IndexByte(raw[off:], '\\')
		if j < 0 {
			return append(dst, raw[off:]...), nil
		}
		dst = append(dst, raw[off:off+j]...)
		off += j
		r, w := decodeEscape(raw[off:])
		if w == 0 {
			return dst, syntaxErr(off, msgEscape)
		}
		dst = utf8.AppendRune(dst, r)
		off += w
	}
}

// decodeEscape decodes the escape at b[0] == '\\' and returns the rune and the bytes it took,
// 0 when the escape is invalid.
func decodeEscape(b []byte) (rune, int) {
	if len(b) < 2 {
		return 0, 0
	}
	switch b[1] {
	case '"', '\\', '/':
		return rune(b[1]), 2
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r := hex4(b[2:])
		if r < 0 {
			return 0, 0
		}
		if r < 0xD800 || r > 0xDFFF {
			return r, 6
		}
		// A high surrogate followed by an escaped low one is one rune; anything else is
		// U+FFFD and the next escape is read on its own, as encoding/json does.
		if r < 0xDC00 && len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
			if lo := hex4(b[8:]); lo >= 0xDC00 && lo <= 0xDFFF {
				return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), 12
			}
		}
		return utf8.RuneError, 6
	}
	return 0, 0
}

func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		v := hexVal[c]
		if v < 0 {
			return -1
		}
		r = r<<4 | rune(v)
	}
	return r
}

// unescapedPrefix reports whether the decoded form of the escaped key raw is a prefix of want,
// and its decoded length. It decodes as it compares, so it needs no buffer.
func unescapedPrefix(raw []byte, want string) (int, bool) {
	var buf [utf8.UTFMax]byte
	k := 0
	for j := 0; j < len(raw); {
		if raw[j] != '\\' {
			if k >= len(want) || want[k] != raw[j] {
				return 0, false
			}
			k++
			j++
			continue
		}
		r, w := decodeEscape(raw[j:])
		if w == 0 {
			return 0, false
		}
		e := utf8.EncodeRune(buf[:], r)
		if len(want)-k < e || want[k:k+e] != string(buf[:e]) {
			return 0, false
		}
		k += e
		j += w
	}
	return k, true
}
