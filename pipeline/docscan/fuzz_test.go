package docscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var fuzzSeeds = []string{
	`{}`, ` {"a" : 1 } `, `[]`, `"x"`, `1`, `null`, `{"a":[1,{"b":"c"}],"d":{"e":null}}`,
	`{"id":"x\"\u00e9","ts":"2024-01-02T03:04:05Z","a":{"b":{"c":true}}}`,
	`{"a.b":1,"a":{"b":2}}`, `{"\u0061":{"\ud800":[]}}`, `{"a":-0.5e+10}`, `{"a":01}`, `{"a":1.}`,
	`{"a":[1,]}`, `{"a":1,}`, "{\"a\":\"\xff\"}", "{\"a\":\"\x01\"}", `{"a":"\ud83d\ude00"}`,
	`{"a":"0123456789abcdef\\x"}`, strings.Repeat(`[`, 600), string(logDoc),
}

// nesting returns the deepest nesting of a document that encoding/json accepts.
func nesting(doc []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		switch {
		case inString && c == '\\':
			i++
		case inString:
			inString = c != '"'
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// oracleValid is what Scan and SplitArray must accept, in terms of encoding/json: it does not
// check UTF-8 (utf8.Valid covers that, as only strings may hold non-ASCII bytes) and allows
// deeper nesting.
func oracleValid(doc []byte) bool {
	return json.Valid(doc) && utf8.Valid(doc) && nesting(doc) <= MaxDepth
}

func firstByte(doc []byte) byte {
	if i := SkipSpace(doc, 0); i < len(doc) {
		return doc[i]
	}
	return 0
}

// findFirst finds path the way Scan documents it, using encoding/json's tokenizer: the first
// value in document order whose keys, joined with '.', spell path.
func findFirst(t *testing.T, doc []byte, path string) (json.RawMessage, bool) {
	if path == "" {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	_, err := dec.Token()
	require.NoError(t, err)
	var raw json.RawMessage
	found := false
	var members func(prefix string)
	skip := func() {
		var r json.RawMessage
		require.NoError(t, dec.Decode(&r))
	}
	members = func(prefix string) {
		for dec.More() {
			tok, err := dec.Token()
			require.NoError(t, err)
			key := prefix + tok.(string)
			switch {
			case !found && key == path:
				require.NoError(t, dec.Decode(&raw))
				found = true
			case !found && strings.HasPrefix(path, key+"."):
				tok, err := dec.Token()
				require.NoError(t, err)
				switch tok {
				case json.Delim('{'):
					members(key + ".")
				case json.Delim('['):
					for dec.More() {
						skip()
					}
					_, err := dec.Token()
					require.NoError(t, err)
				}
			default:
				skip()
			}
		}
		_, err := dec.Token()
		require.NoError(t, err)
	}
	members("")
	return raw, found
}

func checkField(t *testing.T, name string, want json.RawMessage, found bool, got Value) {
	if !found {
		assert.Equal(t, Value{}, got, "%s: found by Scan only", name)
		return
	}
	require.NotEqual(t, None, got.Kind, "%s: missed, encoding/json finds %s", name, want)
	assert.Equal(t, kindOf(want[0]), got.Kind, name)
	if got.Kind != String {
		assert.Equal(t, string(want), string(got.Raw), name)
		assert.False(t, got.Escaped, name)
		return
	}
	assert.Equal(t, string(want[1:len(want)-1]), string(got.Raw), name)
	assert.Equal(t, bytes.IndexByte(got.Raw, '\\') >= 0, got.Escaped, name)
	var s string
	require.NoError(t, json.Unmarshal(want, &s))
	u, err := Unescape(nil, got.Raw)
	require.NoError(t, err)
	assert.Equal(t, s, string(u), "%s: Unescape differs from encoding/json", name)
}

func FuzzScan(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), "id", "a.b")
		f.Add([]byte(s), "a", "")
	}
	f.Fuzz(func(t *testing.T, doc []byte, idPath, timePath string) {
		got, err := Compile(Spec{ID: idPath, Time: timePath}).Scan(doc)
		valid := oracleValid(doc)
		if !valid || firstByte(doc) != '{' {
			require.Error(t, err)
			assert.Equal(t, Fields{}, got)
			var se *SyntaxError
			var ke *KindError
			switch {
			case errors.As(err, &se):
				assert.True(t, se.Offset >= 0 && se.Offset <= len(doc), "offset %d", se.Offset)
				assert.False(t, valid, "a valid non-object must be a KindError: %v", err)
			case errors.As(err, &ke):
				assert.Equal(t, kindOf(firstByte(doc)), ke.Kind)
				assert.Equal(t, firstByte(doc), doc[ke.Offset])
			default:
				t.Fatalf("unexpected error type %T", err)
			}
			return
		}
		require.NoError(t, err, "encoding/json accepts it")
		raw, found := findFirst(t, doc, idPath)
		checkField(t, "ID", raw, found, got.ID)
		raw, found = findFirst(t, doc, timePath)
		checkField(t, "Time", raw, found, got.Time)
	})
}

func FuzzSplitArray(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), uint8(255))
	}
	f.Add([]byte(` [ {"a":1} , 2 ,"x" ,[ ], {} ] `), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, stopAt uint8) {
		stop := errors.New("stop")
		var elems []string
		err := SplitArray(body, func(i int, elem []byte) error {
			require.Equal(t, len(elems), i)
			require.True(t, json.Valid(elem), "element %q", elem)
			require.False(t, IsSpace(elem[0]) || IsSpace(elem[len(elem)-1]), "untrimmed %q", elem)
			elems = append(elems, string(elem))
			if i == int(stopAt) {
				return stop
			}
			return nil
		})
		if !oracleValid(body) || firstByte(body) != '[' {
			// fn may stop the walk before it reaches the fault.
			require.Error(t, err)
			return
		}
		var want []json.RawMessage
		require.NoError(t, json.Unmarshal(body, &want))
		if int(stopAt) < len(want) {
			require.ErrorIs(t, err, stop)
			want = want[:stopAt+1]
		} else {
			require.NoError(t, err)
		}
		require.Len(t, elems, len(want))
		for i := range want {
			assert.Equal(t, string(want[i]), elems[i])
		}
	})
}

type numberedLine struct {
	no   int
	line string
}

// naiveLines is the obvious, slow reading of the Lines contract.
func naiveLines(body string) []numberedLine {
	var out []numberedLine
	if body == "" {
		return nil
	}
	lines := strings.Split(body, "\n")
	if strings.HasSuffix(body, "\n") {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		if strings.Trim(l, " \t\r") == "" {
			continue
		}
		out = append(out, numberedLine{i + 1, l})
	}
	return out
}

func FuzzLines(f *testing.F) {
	for _, s := range []string{"", "\n", "a", "a\n", "a\r\nb", "\r\n\r\n{}\r", " \t\n{}\n\n{}", "x\r\r\n \r\n"} {
		f.Add([]byte(s), uint8(255))
	}
	f.Fuzz(func(t *testing.T, body []byte, stopAt uint8) {
		stop := errors.New("stop")
		var got []numberedLine
		err := Lines(body, func(no int, line []byte) error {
			got = append(got, numberedLine{no, string(line)})
			if len(got) == int(stopAt)+1 {
				return stop
			}
			return nil
		})
		want := naiveLines(string(body))
		if int(stopAt) < len(want) {
			require.ErrorIs(t, err, stop)
			want = want[:stopAt+1]
		} else {
			require.NoError(t, err)
		}
		assert.Equal(t, want, got)
	})
}

// goLayouts spell, for time.Parse, every form ParseTime documents; time.Parse itself takes an
// optional fraction after the seconds.
var goLayouts = []string{
	"2006-01-02", "2006-01-02T15:04:05", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05Z0700",
}

var rfc3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$`)

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{
		"2024-01-02T03:04:05Z", "2024-02-29T23:59:59.999999999+05:30", "2023-02-29", "2024-01-02 03:04:05",
		"2024-01-02t03:04:05,5z", "2024-01-02T03:04:05.000-0700", "2024-01-02T24:00:00Z", "2024-13-01",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseTime(Value{Raw: []byte(s), Kind: String})
		// time.Parse is lenient beyond RFC 3339 (it takes a one-digit hour and a zone minute
		// of 60), so only inputs of the strict shape must be accepted.
		if want, err := time.Parse(time.RFC3339Nano, s); err == nil && rfc3339.MatchString(s) {
			require.True(t, ok, "time.Parse accepts %q", s)
			require.True(t, want.Equal(got), "%q: %v, time.Parse says %v", s, got, want)
		}
		if !ok {
			return
		}
		// time.Parse wants upper case 'T' and 'Z' and a 'T' separator; normalise, then
		// some layout must agree.
		norm := []byte(s)
		if len(norm) > 10 {
			norm[10] = 'T'
			if c := norm[len(norm)-1]; c == 'z' {
				norm[len(norm)-1] = 'Z'
			}
		}
		for _, layout := range goLayouts {
			if want, err := time.Parse(layout, string(norm)); err == nil {
				require.True(t, want.Equal(got), "%q: %v, time.Parse(%q) says %v", s, got, layout, want)
				return
			}
		}
		t.Fatalf("ParseTime accepts %q, time.Parse does not", s)
	})
}
