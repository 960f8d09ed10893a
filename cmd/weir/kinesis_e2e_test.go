package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/internal/testenv"
	"github.com/weir-ingest/weir/sources/kinesis/kinesistest"
)

// kinesisProcess starts the weir binary on one stream with short leases (moto serves
// Kinesis and DynamoDB: no resharding happens here).
func kinesisProcess(t *testing.T, awsURL, osURL, stream, table, index, worker string) *process {
	t.Helper()
	return startProcess(t, fmt.Sprintf(`
log: {format: text, level: info}
opensearch: {urls: [%q], flush_interval: 200ms}
pipeline: {drain_timeout: 30s}
dead_letter: {path: $DIR/dead.ndjson}
aws:
  region: us-east-1
  endpoint_url: %q
  credentials: {provider: static, access_key_id: AKIDTEST, secret_access_key: test-secret}
sources:
  kinesis:
    enabled: true
    streams: [%q]
    lease_table: %q
    index: %q
    worker_id: %q
    lease_duration: 3s
    checkpoint_interval: 500ms
    idle_poll: 200ms
control: {listen: "$CTRL"}
`, osURL, awsURL, stream, table, index, worker))
}

// TestKinesisProcessesShareAndHandOverShards runs real weir processes on one 4-shard
// stream: two share it, a third joins and gets a share, one is killed with SIGKILL and its
// leases expire and are taken over; every record lands once and the checkpoints end at the
// stream's tail once the survivors stop with SIGTERM.
func TestKinesisProcessesShareAndHandOverShards(t *testing.T) {
	awsURL := testenv.AWS(t)
	osURL := testenv.OpenSearch(t)
	os := osClient{t, osURL}
	awsCfg := kinesistest.AWSConfig(awsURL, nil)
	kc, db := awskinesis.NewFromConfig(awsCfg), ddb.NewFromConfig(awsCfg)
	stream, table, index := kinesistest.Name("e2e"), kinesistest.Name("e2e-leases"), uniqueIndex(t, "e2e-kinesis")
	kinesistest.CreateStream(t, kc, stream, 4)
	t.Cleanup(func() { kinesistest.DeleteTable(db, table); os.do("DELETE", "/"+index, nil) })

	total := testenv.Size(30_000, 3_000)
	puts, nums := kinesistest.Records(0, total, 200, 5, 10)
	third := len(puts) / 3
	placed := kinesistest.PutRecords(t, kc, stream, puts[:third])

	owners := func() map[string]int {
		_, by := kinesistest.Leases(t, db, table, stream)
		out := map[string]int{}
		for _, o := range by {
			if o != "" {
				out[o]++
			}
		}
		return out
	}
	waitOwners := func(what string, ok func(map[string]int) bool) {
		t.Helper()
		var last map[string]int
		require.Eventually(t, func() bool { last = owners(); return ok(last) }, 45*time.Second, 100*time.Millisecond,
			"%s; leases by owner: %v", what, last)
		t.Logf("%s: %v", what, last)
	}

	start := time.Now()
	p1 := kinesisProcess(t, awsURL, osURL, stream, table, index, "p1")
	p2 := kinesisProcess(t, awsURL, osURL, stream, table, index, "p2")
	waitOwners("two processes share the shards", func(m map[string]int) bool { return m["p1"] == 2 && m["p2"] == 2 })

	placed = append(placed, kinesistest.PutRecords(t, kc, stream, puts[third:2*third])...)
	p3 := kinesisProcess(t, awsURL, osURL, stream, table, index, "p3")
	waitOwners("a third joins and takes a share", func(m map[string]int) bool {
		return m["p1"] >= 1 && m["p2"] >= 1 && m["p3"] >= 1 && m["p1"]+m["p2"]+m["p3"] == 4
	})

	// Kill the one holding two leases (there is one): they must expire and be taken over.
	victim, name := p1, "p1"
	if m := owners(); m["p2"] == 2 {
		victim, name = p2, "p2"
	} else if m["p3"] == 2 {
		victim, name = p3, "p3"
	}
	require.NoError(t, victim.cmd.Process.Signal(syscall.SIGKILL))
	<-victim.exited
	killed := time.Now()
	waitOwners(name+" killed: the survivors take its leases", func(m map[string]int) bool { return m[name] == 0 && len(m) == 2 && m["p1"]+m["p2"]+m["p3"] == 4 })
	t.Logf("leases of the killed process taken over %s after SIGKILL (lease_duration 3s)", time.Since(killed).Round(time.Millisecond))

	placed = append(placed, kinesistest.PutRecords(t, kc, stream, puts[2*third:])...)
	require.Eventually(t, func() bool { return os.count(index) >= total }, 3*time.Minute, 250*time.Millisecond,
		"%d of %d indexed", os.count(index), total)
	elapsed := time.Since(start)
	// Checkpoints catch up within checkpoint_interval; then the survivors stop cleanly and
	// release their leases with their final checkpoints.
	for _, p := range []*process{p1, p2, p3} {
		if p == victim {
			continue
		}
		assert.Equal(t, exitOK, p.signalAndWait(t, syscall.SIGTERM, 60*time.Second), p.out.String())
	}

	hits := kinesistest.All(t, osURL, index)
	seen := make([]int, total)
	for _, h := range hits {
		seen[int(h.Source["n"].(float64))]++
	}
	for n, c := range seen {
		if !assert.Equal(t, 1, c, "document %d", n) {
			break
		}
	}
	assert.Len(t, hits, total)
	cps, by := kinesistest.Leases(t, db, table, stream)
	assert.Equal(t, kinesistest.Tails(placed, nums), cps, "checkpoints end at the stream's tail")
	for shard, o := range by {
		assert.Empty(t, o, "lease %s released", shard)
	}
	t.Logf("%d documents through 3 processes (one killed) in %s", total, elapsed.Round(time.Millisecond))
}
