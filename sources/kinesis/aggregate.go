package kinesis

import (
	"bytes"
	"crypto/md5"

	"google.golang.org/protobuf/encoding/protowire"
)

// KPL aggregation (https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md):
// a Kinesis record holding many user records is the magic prefix, a protobuf
// AggregatedRecord, and the MD5 of that protobuf.
var kplMagic = []byte{0xF3, 0x89, 0x9A, 0xC2}

const md5Len = md5.Size

// Field numbers of the KPL protobuf messages.
const (
	aggPartitionKeyTable   = 1 // AggregatedRecord.partition_key_table: repeated string
	aggRecords             = 3 // AggregatedRecord.records: repeated Record
	recPartitionKeyIndex   = 1 // Record.partition_key_index: required uint64
	recData                = 3 // Record.data: required bytes
	maxUserRecordsPerAggr  = 1 << 20
	partitionKeyIndexUnset = ^uint64(0)
)

// deaggregate appends the user records of data to dst when data is a KPL aggregated
// record and reports true; their slices alias data. It reports false, with dst as it was,
// when data is not one: no magic, a digest that does not match, or a protobuf that does not
// parse. The caller then hands data over as a plain record, as the KCL does: a record that
// only happens to start with the magic is not lost, and one that is a damaged aggregate is
// not valid JSON either, so the pipeline dead-letters it whole (reason invalid_json) with
// its bytes intact for inspection, instead of this source dropping or half-reading it.
func deaggregate(data []byte, dst [][]byte) ([][]byte, bool) {
	if len(data) <= len(kplMagic)+md5Len || !bytes.HasPrefix(data, kplMagic) {
		return dst, false
	}
	body := data[len(kplMagic) : len(data)-md5Len]
	sum := md5.Sum(body)
	if !bytes.Equal(sum[:], data[len(data)-md5Len:]) {
		return dst, false
	}
	keep := len(dst)
	out, ok := parseAggregated(body, dst)
	if !ok {
		return dst[:keep], false
	}
	return out, true
}

// parseAggregated walks an AggregatedRecord, checking what the protobuf runtime checks
// (wire types, lengths, required fields) and that each record's partition key index is in
// the table, and appends each record's data.
func parseAggregated(b []byte, dst [][]byte) ([][]byte, bool) {
	keys := 0
	var maxKeyIndex uint64
	anyRecord := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return dst, false
		}
		b = b[n:]
		switch {
		case num == aggPartitionKeyTable && typ == protowire.BytesType:
			_, n = protowire.ConsumeBytes(b)
			keys++
		case num == aggRecords && typ == protowire.BytesType:
			var msg []byte
			msg, n = protowire.ConsumeBytes(b)
			if n < 0 {
				return dst, false
			}
			data, keyIndex, ok := parseUserRecord(msg)
			if !ok || len(dst) >= maxUserRecordsPerAggr {
				return dst, false
			}
			maxKeyIndex = max(maxKeyIndex, keyIndex)
			anyRecord = true
			dst = append(dst, data)
		default: // explicit_hash_key_table and unknown fields
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return dst, false
		}
		b = b[n:]
	}
	if anyRecord && maxKeyIndex >= uint64(keys) {
		return dst, false
	}
	return dst, true
}

func parseUserRecord(b []byte) (data []byte, keyIndex uint64, ok bool) {
	keyIndex = partitionKeyIndexUnset
	haveData := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, 0, false
		}
		b = b[n:]
		switch {
		case num == recPartitionKeyIndex && typ == protowire.VarintType:
			keyIndex, n = protowire.ConsumeVarint(b)
		case num == recData && typ == protowire.BytesType:
			data, n = protowire.ConsumeBytes(b)
			haveData = true
		default: // explicit_hash_key_index, tags and unknown fields
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, 0, false
		}
		b = b[n:]
	}
	if keyIndex == partitionKeyIndexUnset || !haveData {
		return nil, 0, false
	}
	if data == nil {
		data = []byte{}
	}
	return data, keyIndex, true
}
