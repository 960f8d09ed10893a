package corpus

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGeneratedDocuments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec func(*Spec)
	}{
		{"defaults", func(*Spec) {}},
		{"small", func(s *Spec) { s.DocBytes = 200; s.Fields = 3; s.Cardinality = 5 }},
		{"many fields", func(s *Spec) { s.DocBytes = 4096; s.Fields = 40 }},
		{"too small to pad", func(s *Spec) { s.DocBytes = 64; s.Fields = 30 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := DefaultSpec()
			tc.spec(&spec)
			c, err := Generate(spec, 50)
			require.NoError(t, err)
			require.Equal(t, 50, c.Len())
			for i := range int64(50) {
				doc := c.Doc(i)
				var m map[string]any
				require.NoError(t, json.Unmarshal(doc, &m), "%s", doc)
				assert.Len(t, m, spec.Fields+1, "fields plus @timestamp")
				assert.Contains(t, m, "@timestamp")
				assert.Contains(t, m, "message")
				if len(doc) > spec.DocBytes {
					continue // the fields alone are larger than asked: no padding
				}
				assert.Len(t, doc, spec.DocBytes)
			}
			assert.Equal(t, c.Doc(3), c.Doc(53), "the corpus loops")
		})
	}
}

func TestGenerationIsDeterministic(t *testing.T) {
	t.Parallel()
	spec := DefaultSpec()
	a := spec.Append(nil, 12345)
	b := spec.Append(nil, 12345)
	assert.Equal(t, a, b)
	spec.Seed = 2
	assert.NotEqual(t, a, spec.Append(nil, 12345))

	var file bytes.Buffer
	require.NoError(t, WriteNDJSON(&file, DefaultSpec(), 100))
	c, err := Read(&file)
	require.NoError(t, err)
	g, err := Generate(DefaultSpec(), 100)
	require.NoError(t, err)
	for i := range int64(100) {
		require.Equal(t, g.Doc(i), c.Doc(i), "the file holds what weir bench generates")
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "docs.ndjson")
	require.NoError(t, os.WriteFile(path, []byte("{\"a\":1}\r\n\n  \n{\"b\":2}"), 0o600))
	c, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, 2, c.Len())
	assert.Equal(t, `{"a":1}`, string(c.Doc(0)))
	assert.Equal(t, `{"b":2}`, string(c.Doc(1)))
	assert.InDelta(t, 7, c.AvgBytes(), 0.01)

	_, err = Read(strings.NewReader("\n\n"))
	assert.Error(t, err)
	_, err = Load(filepath.Join(t.TempDir(), "missing"))
	assert.Error(t, err)
}

func TestSpecValidate(t *testing.T) {
	t.Parallel()
	s := Spec{DocBytes: 1, Fields: 0, Cardinality: 0}
	err := s.Validate()
	require.Error(t, err)
	for _, want := range []string{"doc-bytes", "fields", "cardinality"} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = Generate(DefaultSpec(), 0)
	assert.Error(t, err)
}

func TestBodies(t *testing.T) {
	t.Parallel()
	c, err := Read(strings.NewReader("{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"))
	require.NoError(t, err)
	nd := Bodies(c, 2, 2, nil, false)
	assert.Equal(t, "{\"a\":1}\n{\"b\":2}", string(nd[0]))
	assert.Equal(t, "{\"c\":3}\n{\"a\":1}", string(nd[1]))
	bulk := Bodies(c, 1, 2, []byte("{\"index\":{}}\n"), false)
	assert.Equal(t, "{\"index\":{}}\n{\"a\":1}\n{\"index\":{}}\n{\"b\":2}\n", string(bulk[0]), "_bulk bodies always end with a newline")
}
