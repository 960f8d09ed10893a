package sqs_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/config"
	"github.com/weir-ingest/weir/sources/sqs"
)

// TestConfigSection: the source's section in weir's configuration, from YAML and the
// environment, with its checks against the rest of the tree.
func TestConfigSection(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(config.Source{
		YAML: []byte(`
sources:
  sqs:
    enabled: true
    queue_url: https://sqs.eu-west-1.amazonaws.com/123456789012/logs
    visibility_timeout: 2m
`),
		Environ: []string{"WEIR_SOURCES__SQS__RECEIVERS=8"},
	})
	require.NoError(t, err)
	assert.True(t, cfg.NeedsAWS(), "the SQS source needs AWS credentials")
	assert.Equal(t, 8, cfg.Sources.SQS.Receivers)
	assert.Equal(t, 2*time.Minute, cfg.Sources.SQS.VisibilityTimeout)
	assert.Equal(t, sqs.IDPosition, cfg.Sources.SQS.ID, "defaults survive")
	assert.Equal(t, 20*time.Second, cfg.Sources.SQS.WaitTime)

	_, err = config.Load(config.Source{YAML: []byte(`
pipeline: {queue_bytes: 4MiB}
sources:
  sqs: {enabled: true, max_messages: 11, id: field, s3_chunk_bytes: 4MiB}
`)})
	require.Error(t, err)
	for _, want := range []string{"sources.sqs.queue_url: required", "sources.sqs.max_messages:",
		"sources.sqs.s3_chunk_bytes: 4MiB is more than half", `sources.sqs.id: "field" needs pipeline.id_field`} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "no source is enabled")
}
