package kinesis

import (
	"context"
	"testing"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/internal/testenv"
	"github.com/weir-ingest/weir/sources/kinesis/kinesistest"
)

func TestLeaseKeys(t *testing.T) {
	t.Parallel()
	k := leaseKey("orders.v2", "shardId-000000000007")
	assert.Equal(t, "orders.v2:shardId-000000000007", k)
	name, shard, ok := splitLeaseKey(k)
	assert.True(t, ok)
	assert.Equal(t, "orders.v2", name)
	assert.Equal(t, "shardId-000000000007", shard)
	for _, bad := range []string{"", "orders", ":shard", "orders:"} {
		_, _, ok := splitLeaseKey(bad)
		assert.False(t, ok, bad)
	}
}

func TestDecodeLease(t *testing.T) {
	t.Parallel()
	l, err := decodeLease(map[string]ddbtypes.AttributeValue{
		attrKey:        &ddbtypes.AttributeValueMemberS{Value: "s:shardId-1"},
		attrOwner:      &ddbtypes.AttributeValueMemberS{Value: "w1"},
		attrCounter:    &ddbtypes.AttributeValueMemberN{Value: "42"},
		attrCheckpoint: &ddbtypes.AttributeValueMemberS{Value: "4960"},
		attrSubSeq:     &ddbtypes.AttributeValueMemberN{Value: "3"},
		attrSwitches:   &ddbtypes.AttributeValueMemberN{Value: "1"},
		attrParents:    &ddbtypes.AttributeValueMemberSS{Value: []string{"shardId-0"}},
	})
	require.NoError(t, err)
	assert.Equal(t, leaseItem{key: "s:shardId-1", owner: "w1", counter: 42, checkpoint: "4960", subSeq: 3, switches: 1, parents: []string{"shardId-0"}}, l)
	_, err = decodeLease(map[string]ddbtypes.AttributeValue{attrKey: &ddbtypes.AttributeValueMemberS{Value: "k"}, attrCounter: &ddbtypes.AttributeValueMemberN{Value: "x"}})
	assert.ErrorContains(t, err, "not an integer")
	_, err = decodeLease(map[string]ddbtypes.AttributeValue{})
	assert.Error(t, err)
}

// TestIntegrationLeaseTableConditions checks every lease write against moto's DynamoDB:
// each is refused once another worker moved the counter or took the lease.
func TestIntegrationLeaseTableConditions(t *testing.T) {
	endpoint := testenv.AWS(t)
	db := ddb.NewFromConfig(kinesistest.AWSConfig(endpoint, nil))
	name := kinesistest.Name("leases")
	t.Cleanup(func() { kinesistest.DeleteTable(db, name) })
	ctx := context.Background()
	tbl := &leaseTable{db: db, name: name}
	require.NoError(t, tbl.ensure(ctx))
	require.NoError(t, tbl.ensure(ctx), "an existing table is fine")

	key := leaseKey("s", "shardId-000000000001")
	require.NoError(t, tbl.create(ctx, leaseItem{key: key, checkpoint: StartTrimHorizon, parents: []string{"shardId-000000000000"}}))
	assert.ErrorIs(t, tbl.create(ctx, leaseItem{key: key, checkpoint: StartLatest}), errLeaseExists)

	a, err := tbl.take(ctx, key, "a", 0)
	require.NoError(t, err)
	assert.Equal(t, leaseItem{key: key, owner: "a", counter: 1, checkpoint: StartTrimHorizon, switches: 1, parents: []string{"shardId-000000000000"}}, a)
	_, err = tbl.take(ctx, key, "b", 0)
	assert.ErrorIs(t, err, errLeaseLost, "a take on a counter that moved")

	require.NoError(t, tbl.renew(ctx, key, "a", 1))
	assert.ErrorIs(t, tbl.renew(ctx, key, "a", 1), errLeaseLost, "a renewal on a stale counter")
	require.NoError(t, tbl.checkpoint(ctx, key, "a", 2, "100", 4, false))

	// b steals it: every write of a is refused from then on.
	b, err := tbl.take(ctx, key, "b", 3)
	require.NoError(t, err)
	assert.Equal(t, "100", b.checkpoint)
	assert.Equal(t, int64(4), b.subSeq)
	assert.Equal(t, int64(1), b.switches, "a checkpoint resets the owner switches, a take counts one")
	assert.ErrorIs(t, tbl.renew(ctx, key, "a", 3), errLeaseLost)
	assert.ErrorIs(t, tbl.checkpoint(ctx, key, "a", 3, "200", 0, false), errLeaseLost)
	assert.ErrorIs(t, tbl.checkpoint(ctx, key, "a", 4, "200", 0, true), errLeaseLost, "right counter, wrong owner")

	// b releases with a final checkpoint: no owner, checkpoint kept.
	require.NoError(t, tbl.checkpoint(ctx, key, "b", 4, "300", 0, true))
	got, ok, err := tbl.get(ctx, key)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, leaseItem{key: key, counter: 5, checkpoint: "300", switches: 0, parents: []string{"shardId-000000000000"}}, got)
	assert.ErrorIs(t, tbl.release(ctx, key, "b", 5), errLeaseLost, "released already")

	items, err := tbl.list(ctx, map[string]bool{"s": true})
	require.NoError(t, err)
	assert.Len(t, items, 1)
	items, err = tbl.list(ctx, map[string]bool{"other": true})
	require.NoError(t, err)
	assert.Empty(t, items)
	_, ok, err = tbl.get(ctx, leaseKey("s", "nope"))
	require.NoError(t, err)
	assert.False(t, ok)
}
