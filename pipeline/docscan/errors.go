package docscan

import "strconv"

// SyntaxError reports where a document stops being valid JSON.
type SyntaxError struct {
	Offset int    // byte offset of the offending byte, or len(doc) when the input ends early
	Msg    string // short, constant per kind of fault, so it can serve as a metric label
}

func (e *SyntaxError) Error() string {
	return "invalid JSON at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// KindError reports a valid-looking document whose top-level value is of the wrong kind, such
// as an array where an object is wanted. It is a separate type so callers can count it apart
// from malformed input.
type KindError struct {
	Offset int  // offset of the value's first byte
	Kind   Kind // the kind found, judged from the first byte only
	Want   Kind
}

func (e *KindError) Error() string {
	want := "an object"
	if e.Want == Array {
		want = "an array"
	}
	return "document is " + e.Kind.article() + ", not " + want
}

// The messages are constants: callers may match on them and tests pin them.
const (
	msgEOF            = "unexpected end of input"
	msgEmpty          = "document is empty"
	msgValue          = "expected a value"
	msgKeyOrEnd       = "expected string key or '}' after '{'"
	msgKey            = "expected string key after ','"
	msgColon          = "expected ':' after object key"
	msgAfterMember    = "expected ',' or '}' after object member"
	msgAfterElement   = "expected ',' or ']' after array element"
	msgTrailingObject = "trailing comma in object"
	msgTrailingArray  = "trailing comma in array"
	msgTrailingData   = "unexpected data after top-level value"
	msgControl        = "control character in string"
	msgUTF8           = "invalid UTF-8 in string"
	msgEscape         = "invalid escape sequence in string"
	msgUnicodeEscape  = "invalid \\u escape in string"
	msgMinus          = "expected digit after '-'"
	msgLeadingZero    = "leading zero in number"
	msgFraction       = "expected digit after decimal point"
	msgExponent       = "expected digit in exponent"
	msgTrue           = "invalid literal, expected true"
	msgFalse          = "invalid literal, expected false"
	msgNull           = "invalid literal, expected null"
	msgDepth          = "nesting deeper than 512 levels"
)

func syntaxErr(off int, msg string) error { return &SyntaxError{Offset: off, Msg: msg} }
