package config

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/weir-ingest/weir/config/units"
)

const minimal = `
sources:
  http:
    enabled: true
`

func TestLoadLayersFileEnvAndSets(t *testing.T) {
	t.Parallel()
	cfg, err := Load(Source{
		YAML: []byte(minimal + `
pipeline:
  queue_bytes: 32MiB
  workers: 3
opensearch:
  urls: [http://a:9200]
  username: admin
  password: hunter2
`),
		Environ: []string{"WEIR_PIPELINE__WORKERS=5", "WEIR_OPENSEARCH__FLUSH_INTERVAL=250ms", "WEIR_TEST_OPENSEARCH=ignored", "HOME=/root"},
		Sets:    []string{"opensearch.urls=http://b:9200,http://c:9200"},
	})
	require.NoError(t, err)
	assert.Equal(t, units.ByteSize(32<<20), cfg.Pipeline.QueueBytes)
	assert.Equal(t, 5, cfg.Pipeline.Workers, "environment beats the file")
	assert.Equal(t, 250*time.Millisecond, cfg.OpenSearch.FlushInterval)
	assert.Equal(t, []string{"http://b:9200", "http://c:9200"}, cfg.OpenSearch.URLs, "--set beats both")
	assert.Equal(t, "hunter2", cfg.OpenSearch.Password.Reveal())
	assert.Equal(t, 1000, cfg.OpenSearch.FlushDocuments, "defaults survive")

	out, err := yaml.Marshal(ToMap(cfg))
	require.NoError(t, err)
	assert.NotContains(t, string(out), "hunter2")
	assert.Contains(t, string(out), "[redacted]")
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), "hunter2")
}

func TestLoadReportsEveryProblemWithItsPath(t *testing.T) {
	t.Parallel()
	_, err := Load(Source{Name: "weir.yaml", YAML: []byte(`
sources:
  http:
    enabled: true
    mode: sometimes
    lisen: ":80"
pipeline:
  workers: many
  queue_bytes: 12 parsecs
opensearch:
  flush_documents: 0
typo_section: {a: 1}
`)})
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"weir.yaml",
		"sources.http.lisen: unknown key",
		"typo_section: unknown key",
		"pipeline.workers",
		"pipeline.queue_bytes",
	} {
		assert.Contains(t, msg, want)
	}
}

func TestValidateReportsAllSections(t *testing.T) {
	t.Parallel()
	_, err := Load(Source{YAML: []byte(`
sources:
  http:
    enabled: true
    mode: sometimes
    max_request_bytes: 1GiB
opensearch:
  flush_documents: 0
  urls: []
log:
  level: loud
`)})
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{"sources.http.mode", "opensearch.flush_documents", "opensearch.urls", "log.level", "sources.http.max_request_bytes"} {
		assert.Contains(t, msg, want)
	}
}

func TestNoSourceIsAnError(t *testing.T) {
	t.Parallel()
	_, err := Load(Source{})
	require.ErrorContains(t, err, "no source is enabled")
}

func TestByteSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want units.ByteSize
		err  bool
	}{
		{"64MiB", 64 << 20, false}, {"5MB", 5_000_000, false}, {"512k", 512 << 10, false},
		{"1048576", 1 << 20, false}, {"1.5GiB", 3 << 29, false}, {"lots", 0, true}, {"-1", 0, true},
	} {
		got, err := units.ParseByteSize(tc.in)
		if tc.err {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	assert.Equal(t, "64MiB", units.ByteSize(64<<20).String())
}
