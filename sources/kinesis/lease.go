package kinesis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDBAPI is what the source uses of the DynamoDB client.
type DynamoDBAPI interface {
	DescribeTable(ctx context.Context, in *ddb.DescribeTableInput, opts ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error)
	CreateTable(ctx context.Context, in *ddb.CreateTableInput, opts ...func(*ddb.Options)) (*ddb.CreateTableOutput, error)
	Scan(ctx context.Context, in *ddb.ScanInput, opts ...func(*ddb.Options)) (*ddb.ScanOutput, error)
	GetItem(ctx context.Context, in *ddb.GetItemInput, opts ...func(*ddb.Options)) (*ddb.GetItemOutput, error)
	PutItem(ctx context.Context, in *ddb.PutItemInput, opts ...func(*ddb.Options)) (*ddb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, opts ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error)
}

var _ DynamoDBAPI = (*ddb.Client)(nil)

// Lease table attribute names are the KCL's, so that an operator who knows a KCL lease
// table reads this one: one item per shard, keyed by leaseKey.
const (
	attrKey        = "leaseKey"
	attrOwner      = "leaseOwner"
	attrCounter    = "leaseCounter"
	attrCheckpoint = "checkpoint"
	attrSubSeq     = "checkpointSubSequenceNumber"
	attrSwitches   = "ownerSwitchesSinceCheckpoint"
	attrParents    = "parentShardId" // a string set of shard ids, as the KCL writes it
)

// checkpointShardEnd marks a lease whose shard is read to its end and delivered, as the
// KCL's SHARD_END sentinel does: its children may start.
const checkpointShardEnd = "SHARD_END"

var (
	// errLeaseLost: a conditional write found the lease owned by another worker, or its
	// counter moved (it was taken): this worker no longer holds it.
	errLeaseLost = errors.New("lease lost")
	// errLeaseExists: the lease was created by another worker first.
	errLeaseExists = errors.New("lease exists")
)

// leaseItem is one lease as stored.
type leaseItem struct {
	key        string
	owner      string
	counter    int64
	checkpoint string
	subSeq     int64
	switches   int64
	parents    []string
}

// leaseKey names the lease of a shard: the stream name and the shard id, so that one table
// serves several streams (shard ids repeat across streams).
func leaseKey(streamName, shardID string) string { return streamName + ":" + shardID }

// splitLeaseKey is leaseKey reversed; stream names and shard ids hold no ':'.
func splitLeaseKey(key string) (streamName, shardID string, ok bool) {
	i := strings.LastIndexByte(key, ':')
	if i <= 0 || i == len(key)-1 {
		return "", "", false
	}
	return key[:i], key[i+1:], true
}

// leaseTable reads and writes leases. Every write that changes a held lease is conditional
// on the owner and the counter this worker last wrote, and moves the counter on: a worker
// that lost a lease finds out at its next write and cannot overwrite the new owner's state.
type leaseTable struct {
	db   DynamoDBAPI
	name string
}

// ensure creates the table (on-demand billing) when it does not exist and waits until it
// is active.
func (t *leaseTable) ensure(ctx context.Context) error {
	out, err := t.db.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(t.name)})
	var notFound *ddbtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		_, err = t.db.CreateTable(ctx, &ddb.CreateTableInput{
			TableName:            aws.String(t.name),
			BillingMode:          ddbtypes.BillingModePayPerRequest,
			AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String(attrKey), AttributeType: ddbtypes.ScalarAttributeTypeS}},
			KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String(attrKey), KeyType: ddbtypes.KeyTypeHash}},
		})
		var inUse *ddbtypes.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) { // inUse: another worker created it first
			return fmt.Errorf("create lease table %s: %w", t.name, err)
		}
	case err != nil:
		return fmt.Errorf("describe lease table %s: %w", t.name, err)
	case out.Table != nil && out.Table.TableStatus == ddbtypes.TableStatusActive:
		return nil
	}
	for {
		out, err := t.db.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(t.name)})
		if err == nil && out.Table != nil && out.Table.TableStatus == ddbtypes.TableStatusActive {
			return nil
		}
		if err != nil && !errors.As(err, &notFound) {
			return fmt.Errorf("describe lease table %s: %w", t.name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lease table %s did not become active: %w", t.name, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// list returns every lease of the given streams (the table may hold other streams' too).
func (t *leaseTable) list(ctx context.Context, streams map[string]bool) ([]leaseItem, error) {
	var out []leaseItem
	var start map[string]ddbtypes.AttributeValue
	for {
		page, err := t.db.Scan(ctx, &ddb.ScanInput{
			TableName:         aws.String(t.name),
			ConsistentRead:    aws.Bool(true),
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, fmt.Errorf("scan lease table %s: %w", t.name, err)
		}
		for _, it := range page.Items {
			k, _ := it[attrKey].(*ddbtypes.AttributeValueMemberS)
			if k == nil {
				continue
			}
			if name, _, ok := splitLeaseKey(k.Value); !ok || !streams[name] {
				continue // another stream's lease: not ours to read
			}
			l, err := decodeLease(it)
			if err != nil {
				return nil, err
			}
			out = append(out, l)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

// get reads one lease; ok is false when it does not exist.
func (t *leaseTable) get(ctx context.Context, key string) (leaseItem, bool, error) {
	out, err := t.db.GetItem(ctx, &ddb.GetItemInput{
		TableName:      aws.String(t.name),
		Key:            keyOf(key),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return leaseItem{}, false, fmt.Errorf("get lease %s: %w", key, err)
	}
	if len(out.Item) == 0 {
		return leaseItem{}, false, nil
	}
	l, err := decodeLease(out.Item)
	return l, err == nil, err
}

// create writes a new, unowned lease unless one exists.
func (t *leaseTable) create(ctx context.Context, l leaseItem) error {
	item := map[string]ddbtypes.AttributeValue{
		attrKey:        &ddbtypes.AttributeValueMemberS{Value: l.key},
		attrCounter:    number(0),
		attrCheckpoint: &ddbtypes.AttributeValueMemberS{Value: l.checkpoint},
		attrSubSeq:     number(0),
		attrSwitches:   number(0),
	}
	if len(l.parents) > 0 { // DynamoDB refuses empty sets
		item[attrParents] = &ddbtypes.AttributeValueMemberSS{Value: l.parents}
	}
	_, err := t.db.PutItem(ctx, &ddb.PutItemInput{
		TableName:                aws.String(t.name),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#k)"),
		ExpressionAttributeNames: map[string]string{"#k": attrKey},
	})
	if isConditionFailed(err) {
		return errLeaseExists
	}
	if err != nil {
		return fmt.Errorf("create lease %s: %w", l.key, err)
	}
	return nil
}

// take makes me the owner of a lease whose counter is still the one observed, and
// returns the lease as it is now.
func (t *leaseTable) take(ctx context.Context, key, me string, counter int64) (leaseItem, error) {
	out, err := t.db.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:           aws.String(t.name),
		Key:                 keyOf(key),
		UpdateExpression:    aws.String("SET #o = :me, #c = :next, #s = if_not_exists(#s, :zero) + :one"),
		ConditionExpression: aws.String("attribute_exists(#k) AND #c = :c"),
		ExpressionAttributeNames: map[string]string{
			"#k": attrKey, "#o": attrOwner, "#c": attrCounter, "#s": attrSwitches,
		},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":me": &ddbtypes.AttributeValueMemberS{Value: me}, ":c": number(counter), ":next": number(counter + 1),
			":zero": number(0), ":one": number(1),
		},
		ReturnValues: ddbtypes.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return leaseItem{}, errLeaseLost
	}
	if err != nil {
		return leaseItem{}, fmt.Errorf("take lease %s: %w", key, err)
	}
	return decodeLease(out.Attributes)
}

// renew moves the counter of a lease me holds at counter: other workers see it alive.
func (t *leaseTable) renew(ctx context.Context, key, me string, counter int64) error {
	return t.updateOwned(ctx, "renew", key, me, counter, "SET #c = :next", nil, nil)
}

// checkpoint writes a lease's checkpoint (a sequence number and sub-sequence number, or
// SHARD_END) and, with release, clears its owner in the same write so that another worker
// may take it at once.
func (t *leaseTable) checkpoint(ctx context.Context, key, me string, counter int64, cp string, sub int64, release bool) error {
	update := "SET #cp = :cp, #sub = :sub, #s = :zero, #c = :next"
	if release {
		update += " REMOVE #o"
	}
	return t.updateOwned(ctx, "checkpoint", key, me, counter, update,
		map[string]string{"#cp": attrCheckpoint, "#sub": attrSubSeq, "#s": attrSwitches},
		map[string]ddbtypes.AttributeValue{
			":cp": &ddbtypes.AttributeValueMemberS{Value: cp}, ":sub": number(sub), ":zero": number(0),
		})
}

// release clears the owner without touching the checkpoint.
func (t *leaseTable) release(ctx context.Context, key, me string, counter int64) error {
	return t.updateOwned(ctx, "release", key, me, counter, "SET #c = :next REMOVE #o", nil, nil)
}

// updateOwned applies update (which must move #c to :next) to a lease only while me holds it
// at counter; a lease another worker took or moved since is errLeaseLost. names and values
// add the update's own placeholders to the owner and counter ones.
func (t *leaseTable) updateOwned(ctx context.Context, what, key, me string, counter int64, update string,
	names map[string]string, values map[string]ddbtypes.AttributeValue) error {
	if names == nil {
		names = map[string]string{}
	}
	if values == nil {
		values = map[string]ddbtypes.AttributeValue{}
	}
	names["#o"], names["#c"] = attrOwner, attrCounter
	values[":me"] = &ddbtypes.AttributeValueMemberS{Value: me}
	values[":c"], values[":next"] = number(counter), number(counter+1)
	_, err := t.db.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                 aws.String(t.name),
		Key:                       keyOf(key),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("#o = :me AND #c = :c"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if isConditionFailed(err) {
		return errLeaseLost
	}
	if err != nil {
		return fmt.Errorf("%s lease %s: %w", what, key, err)
	}
	return nil
}

func keyOf(key string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{attrKey: &ddbtypes.AttributeValueMemberS{Value: key}}
}

func number(n int64) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func isConditionFailed(err error) bool {
	var cf *ddbtypes.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

func decodeLease(item map[string]ddbtypes.AttributeValue) (leaseItem, error) {
	var l leaseItem
	str := func(name string) string {
		if v, ok := item[name].(*ddbtypes.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	num := func(name string) (int64, error) {
		v, ok := item[name].(*ddbtypes.AttributeValueMemberN)
		if !ok {
			return 0, nil
		}
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("lease %s: %s %q is not an integer", l.key, name, v.Value)
		}
		return n, nil
	}
	l.key = str(attrKey)
	if l.key == "" {
		return l, fmt.Errorf("lease table item without %s", attrKey)
	}
	l.owner = str(attrOwner)
	l.checkpoint = str(attrCheckpoint)
	var err error
	if l.counter, err = num(attrCounter); err != nil {
		return l, err
	}
	if l.subSeq, err = num(attrSubSeq); err != nil {
		return l, err
	}
	if l.switches, err = num(attrSwitches); err != nil {
		return l, err
	}
	if v, ok := item[attrParents].(*ddbtypes.AttributeValueMemberSS); ok {
		l.parents = v.Value
	}
	return l, nil
}
