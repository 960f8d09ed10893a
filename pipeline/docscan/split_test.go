package docscan

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitArray(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		elems  []string
		offset int    // for errors
		msg    string // "" when valid
	}{
		{"empty array", ` [ ] `, nil, 0, ""},
		{"objects", `[{"a":1},{"b":[2]}]`, []string{`{"a":1}`, `{"b":[2]}`}, 0, ""},
		{"whitespace trimmed", "[\n {\"a\" : 1} ,\r\n\t{} \n]\n", []string{`{"a" : 1}`, `{}`}, 0, ""},
		{"any kind", `[1,"x",null,[]]`, []string{`1`, `"x"`, `null`, `[]`}, 0, ""},
		{"empty body", ``, nil, 0, msgEmpty},
		{"unclosed", `[{}`, []string{`{}`}, 3, msgEOF},
		{"unclosed after comma", `[{},`, []string{`{}`}, 4, msgEOF},
		{"trailing comma", `[{},]`, []string{`{}`}, 4, msgTrailingArray},
		{"missing comma", `[{} {}]`, []string{`{}`}, 4, msgAfterElement},
		{"bad second element", `[{},{"a":}]`, []string{`{}`}, 9, msgValue},
		{"trailing data", `[{}] x`, []string{`{}`}, 5, msgTrailingData},
		{"leading comma", `[,{}]`, nil, 1, msgValue},
		{"too deep", `[` + strings.Repeat(`[`, MaxDepth) + strings.Repeat(`]`, MaxDepth+1), nil, MaxDepth, msgDepth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			err := SplitArray([]byte(tt.body), func(i int, elem []byte) error {
				assert.Equal(t, len(got), i)
				got = append(got, string(elem))
				return nil
			})
			assert.Equal(t, tt.elems, got)
			if tt.msg == "" {
				require.NoError(t, err)
				return
			}
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.offset, se.Offset)
			assert.Equal(t, tt.msg, se.Msg)
		})
	}
}

func TestSplitArrayNotArray(t *testing.T) {
	t.Parallel()
	err := SplitArray([]byte(` {"a":[1]}`), func(int, []byte) error { return nil })
	var ke *KindError
	require.ErrorAs(t, err, &ke)
	assert.Equal(t, KindError{Offset: 1, Kind: Object, Want: Array}, *ke)
	assert.EqualError(t, err, "document is a JSON object, not an array")
}

func TestSplitArrayStops(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	calls := 0
	err := SplitArray([]byte(`[1,2,3,oops]`), func(i int, _ []byte) error {
		calls++
		if i == 1 {
			return stop
		}
		return nil
	})
	assert.ErrorIs(t, err, stop, "fn's error comes back unchanged, before later elements are read")
	assert.Equal(t, 2, calls)
}

func TestLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []numberedLine
	}{
		{"empty", "", nil},
		{"one without newline", `{"a":1}`, []numberedLine{{1, `{"a":1}`}}},
		{"one with newline", "{}\n", []numberedLine{{1, `{}`}}},
		{"CRLF", "{}\r\n[]\r\n", []numberedLine{{1, `{}`}, {2, `[]`}}},
		{"blank lines keep numbering", "\n  \n{}\n\t\r\n\n[]", []numberedLine{{3, `{}`}, {6, `[]`}}},
		{"only one CR trimmed", "x\r\r\n", []numberedLine{{1, "x\r"}}},
		{"CR inside kept", "a\rb\n", []numberedLine{{1, "a\rb"}}},
		{"leading space kept", "  {}\n", []numberedLine{{1, "  {}"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []numberedLine
			require.NoError(t, Lines([]byte(tt.body), func(no int, line []byte) error {
				got = append(got, numberedLine{no, string(line)})
				return nil
			}))
			assert.Equal(t, tt.want, got)
			assert.Equal(t, naiveLines(tt.body), got, "the fuzz oracle agrees")
		})
	}
}

func TestLinesStops(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	var seen []int
	err := Lines([]byte("a\nb\nc\n"), func(no int, _ []byte) error {
		seen = append(seen, no)
		if no == 2 {
			return stop
		}
		return nil
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, []int{1, 2}, seen)
}
