package docscan

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScanValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
	}{
		{"empty object", `{}`},
		{"surrounding whitespace", " \t\r\n{ } \n\t\r "},
		{"whitespace everywhere", "{ \"a\" :\n[ 1 , { } , [ ] ] ,\t\"b\"\r: null }"},
		{"literals", `{"t":true,"f":false,"n":null}`},
		{"numbers", `{"a":[0,-0,1,-1,1e5,1E5,1.5E-3,1e+2,0.5,-0.0e0,123456789012345678901234567890]}`},
		{"escapes", `{"s":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}`},
		{"lone surrogate escape", `{"s":"\ud800 and \udc00"}`},
		{"unicode", `{"é":"ünïcödé 中文 😀"}`},
		{"long plain strings", `{"` + strings.Repeat("k", 100) + `":"` + strings.Repeat("v", 1000) + `"}`},
		{"DEL is not a control character", "{\"a\":\"\x7f\"}"},
		{"nested arrays", `{"a":[[[[[]]]],[{"b":[1]}]]}`},
		{"max depth", strings.Repeat(`{"a":`, MaxDepth-1) + `{}` + strings.Repeat(`}`, MaxDepth-1)},
		{"max depth in array", `{"a":` + strings.Repeat(`[`, MaxDepth-1) + strings.Repeat(`]`, MaxDepth-1) + `}`},
	}
	scanners := []*Scanner{Compile(Spec{}), Compile(Spec{ID: "a", Time: "x.y"})}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.True(t, json.Valid([]byte(tt.doc)), "test case must be valid per encoding/json")
			for _, s := range scanners {
				_, err := s.Scan([]byte(tt.doc))
				assert.NoError(t, err)
			}
		})
	}
}

func TestScanErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		doc    string
		offset int
		msg    string
	}{
		{"empty", ``, 0, msgEmpty},
		{"only whitespace", " \n ", 3, msgEmpty},
		{"bad first byte", `x`, 0, msgValue},
		{"BOM", "\xef\xbb\xbf{}", 0, msgValue},
		{"unclosed object", `{`, 1, msgEOF},
		{"unclosed after member", `{"a":1`, 6, msgEOF},
		{"unclosed nested", `{"a":{"b":[1,2`, 14, msgEOF},
		{"key not string", `{a:1}`, 1, msgKeyOrEnd},
		{"single quoted key", `{'a':1}`, 1, msgKeyOrEnd},
		{"missing colon", `{"a" 1}`, 5, msgColon},
		{"missing colon nested", `{"x":{"a" 1}}`, 10, msgColon},
		{"missing value", `{"a":}`, 5, msgValue},
		{"missing comma", `{"a":1 "b":2}`, 7, msgAfterMember},
		{"trailing comma object", `{"a":1,}`, 7, msgTrailingObject},
		{"trailing comma nested object", `{"x":{"a":1, }}`, 13, msgTrailingObject},
		{"trailing comma array", `{"a":[1,]}`, 8, msgTrailingArray},
		{"comma then garbage", `{"a":1,2}`, 7, msgKey},
		{"array missing comma", `{"a":[1 2]}`, 8, msgAfterElement},
		{"array closed by brace", `{"a":[1}`, 7, msgAfterElement},
		{"object closed by bracket", `{"x":{"a":1]}`, 11, msgAfterMember},
		{"trailing data", `{} {}`, 3, msgTrailingData},
		{"trailing garbage", `{}x`, 2, msgTrailingData},
		{"comment", `{/* c */}`, 1, msgKeyOrEnd},
		{"NaN", `{"a":NaN}`, 5, msgValue},
		{"Infinity", `{"a":-Infinity}`, 6, msgMinus},
		{"leading zero", `{"a":01}`, 5, msgLeadingZero},
		{"negative leading zero", `{"a":-012}`, 6, msgLeadingZero},
		{"dot without digits", `{"a":1.}`, 7, msgFraction},
		{"dot first", `{"a":.5}`, 5, msgValue},
		{"plus sign", `{"a":+1}`, 5, msgValue},
		{"exponent without digits", `{"a":1e}`, 7, msgExponent},
		{"exponent sign without digits", `{"a":1e+}`, 8, msgExponent},
		{"hex number", `{"a":0x1}`, 6, msgAfterMember},
		{"minus alone", `{"a":-}`, 6, msgMinus},
		{"bad true", `{"a":tru}`, 5, msgTrue},
		{"bad false", `{"a":fals}`, 5, msgFalse},
		{"bad null", `{"a":nul`, 5, msgNull},
		{"capital True", `{"a":True}`, 5, msgValue},
		{"unterminated string", `{"a":"abc`, 9, msgEOF},
		{"unterminated key", `{"abc`, 5, msgEOF},
		{"unterminated long string", `{"a":"` + strings.Repeat("x", 40), 46, msgEOF},
		{"newline in string", "{\"a\":\"x\ny\"}", 7, msgControl},
		{"NUL in string", "{\"a\":\"\x00\"}", 6, msgControl},
		{"tab in long string", "{\"a\":\"0123456789\t\"}", 16, msgControl},
		{"control in key", "{\"\x1f\":1}", 2, msgControl},
		{"bad escape", `{"a":"\x"}`, 6, msgEscape},
		{"bad escape in key", `{"\a":1}`, 2, msgEscape},
		{"short unicode escape", `{"a":"\u12"}`, 6, msgUnicodeEscape},
		{"non-hex unicode escape", `{"a":"\u12g4"}`, 6, msgUnicodeEscape},
		{"escape at end", `{"a":"\`, 7, msgEOF},
		{"unicode escape at end", `{"a":"\u12`, 10, msgEOF},
		{"invalid UTF-8 byte", "{\"a\":\"\xff\"}", 6, msgUTF8},
		{"invalid UTF-8 after ASCII run", "{\"a\":\"abcdefghij\xc3\"}", 16, msgUTF8},
		{"truncated UTF-8 at end", "{\"a\":\"\xe4\xb8", 6, msgUTF8},
		{"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}", 6, msgUTF8},
		{"UTF-8 surrogate", "{\"a\":\"\xed\xa0\x80\"}", 6, msgUTF8},
		{"UTF-8 beyond U+10FFFF", "{\"a\":\"\xf4\x90\x80\x80\"}", 6, msgUTF8},
		{"invalid UTF-8 in key", "{\"k\xfe\":1}", 3, msgUTF8},
		{"too deep", strings.Repeat(`{"a":`, MaxDepth) + `{}` + strings.Repeat(`}`, MaxDepth), 5 * MaxDepth, msgDepth},
		{"too deep in array", `{"a":` + strings.Repeat(`[`, MaxDepth), 5 + MaxDepth - 1, msgDepth},
	}
	scanners := map[string]*Scanner{
		"validate only": Compile(Spec{}),
		"on path":       Compile(Spec{ID: "a", Time: "x.a"}),
		"off path":      Compile(Spec{ID: "zz", Time: "zz.y"}),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for name, s := range scanners {
				f, err := s.Scan([]byte(tt.doc))
				var se *SyntaxError
				require.ErrorAs(t, err, &se, name)
				assert.Equal(t, tt.offset, se.Offset, name)
				assert.Equal(t, tt.msg, se.Msg, name)
				assert.Equal(t, Fields{}, f, name)
			}
			assert.False(t, json.Valid([]byte(tt.doc)) && !strings.Contains(tt.name, "UTF-8") && !strings.Contains(tt.name, "deep"),
				"encoding/json accepts it, so should we")
		})
	}
}

func TestScanErrorString(t *testing.T) {
	t.Parallel()
	_, err := Compile(Spec{}).Scan([]byte(`{"timestamp" 17}`))
	assert.EqualError(t, err, "invalid JSON at byte 13: expected ':' after object key")
}

func TestScanNotObject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc  string
		kind Kind
		msg  string
	}{
		{`[{"a":1}]`, Array, "document is a JSON array, not an object"},
		{` "x"`, String, "document is a JSON string, not an object"},
		{`-1`, Number, "document is a JSON number, not an object"},
		{`12`, Number, "document is a JSON number, not an object"},
		{`true`, Bool, "document is a JSON boolean, not an object"},
		{`false`, Bool, "document is a JSON boolean, not an object"},
		{`null`, Null, "document is JSON null, not an object"},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(Spec{ID: "a"}).Scan([]byte(tt.doc))
			var ke *KindError
			require.ErrorAs(t, err, &ke)
			assert.Equal(t, tt.kind, ke.Kind)
			assert.Equal(t, Object, ke.Want)
			assert.Equal(t, len(tt.doc)-len(strings.TrimLeft(tt.doc, " ")), ke.Offset)
			assert.EqualError(t, err, tt.msg)
		})
	}
}

func str(raw string, escaped bool) Value {
	return Value{Raw: []byte(raw), Kind: String, Escaped: escaped}
}

func raw(raw string, k Kind) Value { return Value{Raw: []byte(raw), Kind: k} }

func TestScanFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		spec     Spec
		doc      string
		id, time Value
	}{
		{"top level", Spec{ID: "_id", Time: "@timestamp"},
			`{"@timestamp":"2024-01-02T03:04:05Z","x":1,"_id":"abc"}`,
			str("abc", false), str("2024-01-02T03:04:05Z", false)},
		{"absent", Spec{ID: "_id", Time: "ts"}, `{"a":{"_id":1},"b":[{"ts":1}]}`, Value{}, Value{}},
		{"not wanted", Spec{}, `{"_id":"x"}`, Value{}, Value{}},
		{"nested path", Spec{ID: "event.id", Time: "a.b.c"},
			`{"event":{"kind":"x","id":"e1"},"a":{"b":{"c":17}}}`,
			str("e1", false), raw("17", Number)},
		{"literal dotted key", Spec{ID: "event.id"}, `{"event.id":"lit"}`, str("lit", false), Value{}},
		{"mixed dotted keys", Spec{ID: "a.b.c", Time: "a.b.d"}, `{"a.b":{"c":1},"a":{"b.d":2}}`,
			raw("1", Number), raw("2", Number)},
		{"first occurrence wins", Spec{ID: "id"}, `{"id":"first","id":"second"}`, str("first", false), Value{}},
		{"first in document order across spellings", Spec{ID: "a.b"}, `{"a":{"b":1},"a.b":2}`, raw("1", Number), Value{}},
		{"literal before nested", Spec{ID: "a.b"}, `{"a.b":2,"a":{"b":1}}`, raw("2", Number), Value{}},
		{"path through non-object", Spec{ID: "a.b"}, `{"a":1,"a":{"b":2}}`, raw("2", Number), Value{}},
		{"prefix key is not a match", Spec{ID: "ab"}, `{"a":{"b":1},"abc":2}`, Value{}, Value{}},
		{"path inside array not matched", Spec{ID: "a.b"}, `{"a":[{"b":1}]}`, Value{}, Value{}},
		{"object value", Spec{ID: "a"}, `{"a": {"b": [1, 2]} }`, raw(`{"b": [1, 2]}`, Object), Value{}},
		{"array value", Spec{ID: "a"}, `{"a":[1,"x"]}`, raw(`[1,"x"]`, Array), Value{}},
		{"bool and null", Spec{ID: "a", Time: "b"}, `{"a":false,"b":null}`, raw("false", Bool), raw("null", Null)},
		{"number forms", Spec{ID: "a", Time: "b"}, `{"a":-0.5e-3,"b":1700000000000}`,
			raw("-0.5e-3", Number), raw("1700000000000", Number)},
		{"escaped value", Spec{ID: "id"}, `{"id":"a\"b\u00e9"}`, str(`a\"b\u00e9`, true), Value{}},
		{"escaped key", Spec{ID: "_id", Time: "é.t"}, `{"\u005fid":"x","\u00e9":{"\u0074":1}}`,
			str("x", false), raw("1", Number)},
		{"escaped dot in key", Spec{ID: "a.b"}, `{"a\u002eb":1}`, raw("1", Number), Value{}},
		{"escaped key mismatch", Spec{ID: "ab"}, `{"a\u0062c":1,"\u0061":2}`, Value{}, Value{}},
		{"lone surrogate key is U+FFFD", Spec{ID: "\uFFFD"}, `{"\udc00":1}`, raw("1", Number), Value{}},
		{"id is a prefix of time", Spec{ID: "a", Time: "a.b"}, `{"a":{"b":"t"}}`,
			raw(`{"b":"t"}`, Object), str("t", false)},
		{"same field twice", Spec{ID: "a", Time: "a"}, `{"a":"v"}`, str("v", false), str("v", false)},
		{"unicode value", Spec{ID: "id"}, `{"id":"中文😀"}`, str("中文😀", false), Value{}},
		{"empty key path segment", Spec{ID: "a..b"}, `{"a":{"":{"b":1}}}`, raw("1", Number), Value{}},
		{"deep path", Spec{ID: "a.b.c.d.e"}, `{"a":{"x":[{}],"b":{"c":{"d":{"e":"deep"}}}}}`, str("deep", false), Value{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Compile(tt.spec).Scan([]byte(tt.doc))
			require.NoError(t, err)
			assert.Equal(t, tt.id, f.ID, "ID")
			assert.Equal(t, tt.time, f.Time, "Time")
		})
	}
}

// A document that is invalid after both fields were found is still refused.
func TestScanValidatesAfterFieldsFound(t *testing.T) {
	t.Parallel()
	s := Compile(Spec{ID: "id", Time: "t.x"})
	for _, doc := range []string{
		`{"id":1,"t":{"x":2},"z":[1,]}`,
		`{"id":1,"t":{"x":2,"y":01}}`,
		`{"id":1,"t":{"x":2}} x`,
		`{"id":1,"t":{"x":2}`,
	} {
		f, err := s.Scan([]byte(doc))
		var se *SyntaxError
		assert.ErrorAs(t, err, &se, doc)
		assert.Equal(t, Fields{}, f)
	}
}

func TestRawIsSubslice(t *testing.T) {
	t.Parallel()
	doc := []byte(`{"id":"abc"}`)
	f, err := Compile(Spec{ID: "id"}).Scan(doc)
	require.NoError(t, err)
	doc[8] = 'X'
	assert.Equal(t, "aXc", string(f.ID.Raw), "Raw must alias the document, not copy it")
}

func TestUnescape(t *testing.T) {
	t.Parallel()
	tests := []struct{ raw, want string }{
		{``, ``},
		{`plain`, `plain`},
		{`\"\\\/\b\f\n\r\t`, "\"\\/\b\f\n\r\t"},
		{`caf\u00e9 \u4e2d`, "café 中"},
		{`\uD83D\uDE00`, "😀"},
		{`\ud83d\ude00x`, "😀x"},
		{`\ud800`, "\uFFFD"},
		{`\udc00\ud800`, "\uFFFD\uFFFD"},
		{`\ud800\u0041`, "\uFFFDA"},
		{`\ud800\ud800\udc00`, "\uFFFD\U00010000"},
		{`\u0000`, "\x00"},
		{`a\u0062c`, "abc"},
	}
	for _, tt := range tests {
		got, err := Unescape([]byte("prefix:"), []byte(tt.raw))
		require.NoError(t, err, tt.raw)
		assert.Equal(t, "prefix:"+tt.want, string(got), tt.raw)
		var viaJSON string
		require.NoError(t, json.Unmarshal([]byte(`"`+tt.raw+`"`), &viaJSON))
		assert.Equal(t, viaJSON, tt.want, "must decode as encoding/json does: %s", tt.raw)
	}
	for _, bad := range []string{`\`, `\x`, `\u12`, `\u12g4`, `ok\`} {
		_, err := Unescape(nil, []byte(bad))
		var se *SyntaxError
		assert.ErrorAs(t, err, &se, bad)
	}
}

func TestScanAllocs(t *testing.T) {
	s := Compile(logSpec)
	var f Fields
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if f, err = s.Scan(logDoc); err != nil {
			panic(err)
		}
		if _, ok := ParseTime(f.Time); !ok {
			panic("time")
		}
	})
	assert.Zero(t, allocs)
	assert.Equal(t, "7f3c2a91-5d4e-4b8a-9c61-2e0f4d8b1a37", string(f.ID.Raw))
}

func TestErrorsAreDistinguishable(t *testing.T) {
	t.Parallel()
	_, err := Compile(Spec{}).Scan([]byte(`[]`))
	var se *SyntaxError
	assert.False(t, errors.As(err, &se), "a KindError is not a SyntaxError")
}

// TestLongStringsEverySpecialAtEveryOffset: plain runs are skipped a word or two at a time
// (32 bytes at a time in a GOEXPERIMENT=simd build), so a byte that ends a run must be seen at
// any offset in the word or block, in and after the first of a string, as a key and as a
// value; and the bytes either side of the ranges that end one (a space, DEL) must not.
func TestLongStringsEverySpecialAtEveryOffset(t *testing.T) {
	t.Parallel()
	specials := []string{`"`, `\"`, `\\`, `\u00e9`, `\x`, "\x00", "\x01", "\x1f", " ", "\x7f", "é", "\x80", "\xff", "\xc3", "€", "😀"}
	s := Compile(Spec{Time: "@timestamp"})
	for _, sp := range specials {
		for at := range 100 {
			text := strings.Repeat("a", at) + sp + strings.Repeat("b", 100-at)
			for _, doc := range []string{
				`{"@timestamp":"x","m":"` + text + `","n":1}`,
				`{"m":"` + text + `","n":1}`,
				`{"` + text + `":1}`,
			} {
				_, err := s.Scan([]byte(doc))
				assert.Equal(t, oracleValid([]byte(doc)), err == nil, "special %q at %d in %q: %v", sp, at, doc, err)
			}
		}
	}
}

// TestPlainRunAgreesWithSWAR: plainRun (the vector version in a GOEXPERIMENT=simd build on an
// AVX2 CPU) finds the same offset as the word-at-a-time loop from every start in every
// document, including where no byte ends the run.
func TestPlainRunAgreesWithSWAR(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 26))
	alphabet := []byte("abc \"\\\x00\x1f\x20\x7f\x80\xc3\xff")
	for range 2000 {
		doc := make([]byte, rng.IntN(200))
		for j := range doc {
			// Mostly plain, as in real strings, so that long runs occur.
			if rng.IntN(40) == 0 {
				doc[j] = alphabet[3+rng.IntN(len(alphabet)-3)]
			} else {
				doc[j] = alphabet[rng.IntN(3)]
			}
		}
		for i := range len(doc) + 1 {
			require.Equal(t, plainRunSWAR(doc, i), plainRun(doc, i), "from %d in %q", i, doc)
		}
	}
}
