// Package kinesistest holds what the Kinesis source's tests share: AWS clients for the
// emulators, streams and records to read, KPL aggregated records built with the KPL's own
// Go library, a fault-injecting transport, and reads of what landed in OpenSearch.
package kinesistest

import (
	"crypto/md5"

	aggrecords "github.com/awslabs/kinesis-aggregation/go/v2/records"
	// The aggregation library's message types are golang/protobuf (APIv1) messages.
	"github.com/golang/protobuf/proto"
)

// Magic is the prefix of a KPL aggregated record.
var Magic = []byte{0xF3, 0x89, 0x9A, 0xC2}

// Aggregate builds a KPL aggregated record of docs, with the message types of
// awslabs/kinesis-aggregation, as the KPL writes it: magic, protobuf, MD5 of the protobuf.
// Each document gets partition key keys[i % len(keys)].
func Aggregate(keys []string, docs [][]byte) []byte {
	agg := &aggrecords.AggregatedRecord{PartitionKeyTable: keys}
	for i, d := range docs {
		idx := uint64(i % len(keys))
		agg.Records = append(agg.Records, &aggrecords.Record{PartitionKeyIndex: &idx, Data: d})
	}
	body, err := proto.Marshal(agg)
	if err != nil {
		panic(err)
	}
	sum := md5.Sum(body)
	out := append(append([]byte{}, Magic...), body...)
	return append(out, sum[:]...)
}
