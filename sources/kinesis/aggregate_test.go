package kinesis

import (
	"crypto/md5"
	"fmt"
	"testing"

	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/awslabs/kinesis-aggregation/go/v2/deaggregator"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/weir-ingest/weir/sources/kinesis/kinesistest"
)

func docs(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"n":%d,"msg":"user record %d"}`, i, i)
	}
	return out
}

// TestDeaggregateLibraryRecords: records built with the KPL's Go message types come back
// out whole and in order, exactly as the KPL's own deaggregator gives them.
func TestDeaggregateLibraryRecords(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, 7, 100, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			in := docs(n)
			data := kinesistest.Aggregate([]string{"a", "b", "c"}, in)
			got, ok := deaggregate(data, nil)
			require.True(t, ok)
			require.Equal(t, in, got)

			lib, err := deaggregator.DeaggregateRecords([]ktypes.Record{{Data: data, SequenceNumber: new(string), PartitionKey: new(string)}})
			require.NoError(t, err)
			require.Len(t, lib, n)
			for i := range lib {
				assert.Equal(t, lib[i].Data, got[i])
			}
		})
	}
}

func TestDeaggregateAppendsAndAliases(t *testing.T) {
	t.Parallel()
	data := kinesistest.Aggregate([]string{"k"}, docs(3))
	prev := [][]byte{[]byte("kept")}
	got, ok := deaggregate(data, prev)
	require.True(t, ok)
	require.Len(t, got, 4)
	assert.Equal(t, "kept", string(got[0]))
	// Zero-copy: the user records are slices of the Kinesis record's data.
	got[1][0] = '['
	assert.Contains(t, string(data), `["n":0`)
}

// TestDeaggregateNotAggregated: anything that is not a sound aggregate is left to the
// caller as a plain record, as the KCL does, and dst is unchanged.
func TestDeaggregateNotAggregated(t *testing.T) {
	t.Parallel()
	good := kinesistest.Aggregate([]string{"k"}, docs(3))
	withDigest := func(body []byte) []byte {
		sum := md5.Sum(body)
		out := append(append([]byte{}, kinesistest.Magic...), body...)
		return append(out, sum[:]...)
	}
	// A record whose key index points past the key table.
	var badIndex []byte
	badIndex = protowire.AppendTag(badIndex, 1, protowire.BytesType)
	badIndex = protowire.AppendString(badIndex, "k")
	var rec []byte
	rec = protowire.AppendTag(rec, 1, protowire.VarintType)
	rec = protowire.AppendVarint(rec, 5)
	rec = protowire.AppendTag(rec, 3, protowire.BytesType)
	rec = protowire.AppendBytes(rec, []byte(`{}`))
	badIndex = protowire.AppendTag(badIndex, 3, protowire.BytesType)
	badIndex = protowire.AppendBytes(badIndex, rec)
	// A record without its required data field.
	var noData []byte
	noData = protowire.AppendTag(noData, 1, protowire.BytesType)
	noData = protowire.AppendString(noData, "k")
	var rec2 []byte
	rec2 = protowire.AppendTag(rec2, 1, protowire.VarintType)
	rec2 = protowire.AppendVarint(rec2, 0)
	noData = protowire.AppendTag(noData, 3, protowire.BytesType)
	noData = protowire.AppendBytes(noData, rec2)

	tests := []struct {
		name string
		data []byte
	}{
		{"json", []byte(`{"msg":"plain"}`)},
		{"empty", nil},
		{"magic only", kinesistest.Magic},
		{"magic and short", append(append([]byte{}, kinesistest.Magic...), make([]byte, 16)...)},
		{"bad digest", append(append([]byte{}, good[:len(good)-1]...), good[len(good)-1]^1)},
		{"truncated", good[:len(good)-3]},
		{"bad protobuf, good digest", withDigest([]byte{0x1a, 0xff, 0xff})},
		{"key index out of range", withDigest(badIndex)},
		{"record without data", withDigest(noData)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prev := [][]byte{[]byte("x")}
			got, ok := deaggregate(tt.data, prev)
			assert.False(t, ok)
			assert.Equal(t, prev, got)
		})
	}
}

func BenchmarkDeaggregate(b *testing.B) {
	data := kinesistest.Aggregate([]string{"a", "b"}, docs(100))
	var dst [][]byte
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = deaggregate(data, dst[:0])
	}
}
