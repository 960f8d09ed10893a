package kinesis_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/config"
	"github.com/weir-ingest/weir/sources/kinesis"
)

// TestConfigFromYAML: the section decodes from YAML, the environment and flags, with the
// defaults for what is not set, and its problems are reported with their key paths.
func TestConfigFromYAML(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(config.Source{Name: "weir.yaml", YAML: []byte(`
sources:
  kinesis:
    enabled: true
    streams: [orders, "arn:aws:kinesis:eu-west-1:123456789012:stream/clicks"]
    start_position: AT_TIMESTAMP
    start_timestamp: 2026-11-25T10:00:00Z
    lease_duration: 3s
`), Environ: []string{"WEIR_SOURCES__KINESIS__MAX_RECORDS=500"}, Sets: []string{"sources.kinesis.index=events"}})
	require.NoError(t, err)
	k := cfg.Sources.Kinesis
	assert.True(t, k.Enabled)
	assert.True(t, cfg.NeedsAWS())
	assert.Equal(t, []string{"orders", "arn:aws:kinesis:eu-west-1:123456789012:stream/clicks"}, k.Streams)
	assert.Equal(t, time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), k.StartTimestamp.UTC())
	assert.Equal(t, 3*time.Second, k.LeaseDuration)
	assert.Equal(t, 500, k.MaxRecords)
	assert.Equal(t, "events", k.Index)
	assert.Equal(t, "weir-leases", k.LeaseTable)
	assert.Equal(t, kinesis.IDPosition, k.ID)
	assert.Equal(t, 5*time.Second, k.CheckpointInterval)

	_, err = config.Load(config.Source{Name: "bad.yaml", YAML: []byte(`
sources:
  kinesis:
    enabled: true
    streams: []
    id: field
    shard_count: 4
pipeline: {queue_bytes: 1MiB}
`)})
	require.Error(t, err)
	for _, want := range []string{
		"sources.kinesis.shard_count: unknown key",
		"sources.kinesis.streams: at least one",
		`sources.kinesis.id: "field" needs pipeline.id_field`,
		"sources.kinesis: pipeline.queue_bytes 1MiB cannot hold",
	} {
		assert.Contains(t, err.Error(), want)
	}
}
