package opensearch

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type wantItem struct {
	status       int
	typ, reason  string
	reasonPrefix bool
}

func TestParseBulkResponse(t *testing.T) {
	t.Parallel()
	file := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(t, err)
		return string(b)
	}
	tests := []struct {
		name    string
		body    string
		allOK   bool
		items   []wantItem
		wantErr bool
	}{
		{name: "real: all created", body: file("bulk_success.json"), allOK: true},
		{name: "real: pretty printed", body: file("bulk_success_pretty.json"), allOK: true},
		{name: "real: mixed errors", body: file("bulk_mixed_errors.json"), items: []wantItem{
			{status: 200},
			{status: 400, typ: "mapper_parsing_exception", reason: "failed to parse field [n] of type [long] in document with id '2'. Preview of field's value: 'not a number'"},
			{status: 409, typ: "version_conflict_engine_exception", reason: "[c1]: version conflict, document already exists (current version [1])"},
			{status: 400, typ: "mapper_parsing_exception", reason: "failed to parse field [n] of type [long] in document with id '3'", reasonPrefix: true},
			{status: 404},
			{status: 404, typ: "document_missing_exception", reason: "[missing]: document missing"},
			{status: 400, typ: "invalid_index_name_exception", reason: "Invalid index name [BadName], must be lowercase"},
		}},
		{name: "real: write queue full", body: file("bulk_429_mixed.json"), items: []wantItem{
			{status: 201}, {status: 429, typ: "rejected_execution_exception", reason: "rejected execution of", reasonPrefix: true},
			{status: 201}, {status: 429, typ: "rejected_execution_exception", reason: "rejected", reasonPrefix: true},
			{status: 429, typ: "rejected_execution_exception", reason: "rejected", reasonPrefix: true}, {status: 201},
		}},
		{name: "items before errors:false are read", body: `{"items":[{"index":{"status":201}}],"errors":false}`, items: []wantItem{{status: 201}}},
		{name: "escaped keys", body: `{"took":1,"\u0065rrors":true,"items":[{"index":{"st\u0061tus":500,"err\u006fr":{"type":"x\"y","reason":"a\nb"}}}]}`,
			items: []wantItem{{status: 500, typ: `x"y`, reason: "a\nb"}}},
		{name: "error as a string, nulls", body: `{"errors":true,"items":[{"index":{"status":400,"error":"old style"}},{"index":{"status":null,"error":null}}]}`,
			items: []wantItem{{status: 400, reason: "old style"}, {status: 0}}},
		{name: "last duplicate wins", body: `{"errors":true,"items":[{"index":{"status":201,"status":503}}]}`, items: []wantItem{{status: 503}}},
		{name: "status not a number", body: `{"errors":true,"items":[{"index":{"status":{},"status":100}}]}`, wantErr: true},
		{name: "deep nesting skipped", body: `{"errors":true,"x":` + string(bytes.Repeat([]byte("["), 100000)) + string(bytes.Repeat([]byte("]"), 100000)) + `,"items":[]}`},
		{name: "empty", body: ``, wantErr: true},
		{name: "not an object", body: `[]`, wantErr: true},
		{name: "truncated", body: `{"errors":true,"items":[{"index":{"status":201}}`, wantErr: true},
		{name: "fractional status", body: `{"errors":true,"items":[{"index":{"status":2.01e2}}]}`, wantErr: true},
		{name: "errors not a bool", body: `{"errors":"no"}`, wantErr: true},
		{name: "bad escape", body: `{"errors":true,"items":[{"index":{"status":400,"error":{"type":"\x"}}}]}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := parseBulkResponse([]byte(tt.body), nil)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.allOK, res.allOK)
			require.Len(t, res.items, len(tt.items))
			for i, w := range tt.items {
				it := res.items[i]
				assert.Equal(t, w.status, it.status, "item %d", i)
				assert.Equal(t, w.typ, unquote(it.errType), "item %d", i)
				if w.reasonPrefix {
					assert.Contains(t, unquote(it.reason), w.reason, "item %d", i)
				} else {
					assert.Equal(t, w.reason, unquote(it.reason), "item %d", i)
				}
			}
		})
	}
}

func TestParseErrorBody(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/request_error_400.json")
	require.NoError(t, err)
	typ, reason := parseErrorBody(b)
	assert.Equal(t, "json_parse_exception", typ)
	assert.Contains(t, reason, "Unrecognized token 'not'")
	typ, reason = parseErrorBody([]byte(`{"error":"plain","status":401}`))
	assert.Equal(t, [2]string{"", "plain"}, [2]string{typ, reason})
	typ, reason = parseErrorBody([]byte(`<html>bad gateway</html>`))
	assert.Equal(t, [2]string{"", ""}, [2]string{typ, reason})
}

// reference reads a bulk answer with encoding/json, keys matched exactly as OpenSearch
// writes them. ok is false when the input is not a well-formed bulk answer whose meaning is
// unambiguous (invalid JSON, duplicate keys in any object, items that are not one action each
// with a status in 100..599); the parser must then only not panic.
func reference(body []byte) (errs bool, statuses []int, ok bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil || top == nil || duplicateKeys(body) {
		return false, nil, false
	}
	if raw, found := top["errors"]; found && json.Unmarshal(raw, &errs) != nil {
		return false, nil, false
	}
	var items []map[string]json.RawMessage
	if raw, found := top["items"]; found && json.Unmarshal(raw, &items) != nil {
		return false, nil, false
	}
	for _, it := range items {
		if len(it) != 1 {
			return false, nil, false
		}
		for _, v := range it {
			var r map[string]json.RawMessage
			if json.Unmarshal(v, &r) != nil || r == nil {
				return false, nil, false
			}
			var st int
			if raw, found := r["status"]; !found || json.Unmarshal(raw, &st) != nil || st < 100 || st > 599 {
				return false, nil, false
			}
			statuses = append(statuses, st)
		}
	}
	return errs, statuses, true
}

// duplicateKeys reports whether any object in body repeats a key (or body is not JSON).
// Which duplicate counts is left open by RFC 8259, so such input has no single meaning.
func duplicateKeys(body []byte) bool {
	type frame struct {
		object, wantKey bool
		keys            map[string]bool
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return err != io.EOF || len(stack) > 0
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			k, _ := tok.(string)
			if stack[n-1].keys[k] {
				return true
			}
			stack[n-1].keys[k] = true
			stack[n-1].wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, wantKey: true, keys: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

func FuzzParseBulkResponse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"errors":false}`, `{"items":[],"errors":false}`, `{"errors":true,"items":null}`,
		`{"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"r"}}}]}`,
		`{"errors":true,"items":[{"index":{"status":201,"status":503}}]}`, `{"\u0065rrors":true,"items":[{"index":{"st\u0061tus":500}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := parseBulkResponse(body, nil)
		_, _ = parseErrorBody(body)
		errs, statuses, ok := reference(body)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("reference parsed %q but parser failed: %v", body, err)
		}
		if res.allOK {
			if errs {
				t.Fatalf("parser says all ok, reference says errors: %q", body)
			}
			return
		}
		got := make([]int, len(res.items))
		for i, it := range res.items {
			got[i] = it.status
		}
		if len(statuses) == 0 && len(got) == 0 {
			return
		}
		if !assert.Equal(t, statuses, got) {
			t.Fatalf("statuses differ for %q", body)
		}
		if res.errors != errs {
			t.Fatalf("errors flag differs for %q", body)
		}
	})
}
func TestDuplicateKeysOracle(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		`{"a":1,"b":{"c":[1,{"d":1,"e":2}],"f":2}}`: false,
		`{"a":1,"a":2}`:                true,
		`{"a":{"x":1,"x":{}}}`:         true,
		`{"a":[{"x":1},{"x":1}]}`:      false,
		`{"a":[{"x":1,"y":[],"x":1}]}`: true,
		`{"a"`:                         true,
	} {
		if got := duplicateKeys([]byte(in)); got != want {
			t.Errorf("%s: got %v", in, got)
		}
	}
}
