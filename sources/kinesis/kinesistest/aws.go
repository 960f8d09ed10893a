package kinesistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/require"
)

// Region is where every test resource lives.
const Region = "us-east-1"

// AWSConfig is an aws.Config for an emulator: static test credentials, us-east-1, every
// call to endpoint. wrap, when not nil, wraps the HTTP transport (to inject faults).
func AWSConfig(endpoint string, wrap func(http.RoundTripper) http.RoundTripper) aws.Config {
	var rt http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
	if wrap != nil {
		rt = wrap(rt)
	}
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   &http.Client{Transport: rt, Timeout: time.Minute},
	}
}

// Name is a name no other test (or earlier run) uses.
func Name(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e10, rand.IntN(1e6))
}

// CreateStream creates a stream of n shards and waits until it is active.
func CreateStream(t testing.TB, kc *awskinesis.Client, name string, shards int) {
	t.Helper()
	_, err := kc.CreateStream(context.Background(), &awskinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))})
	require.NoError(t, err)
	WaitActive(t, kc, name)
	t.Cleanup(func() {
		_, _ = kc.DeleteStream(context.Background(), &awskinesis.DeleteStreamInput{StreamName: aws.String(name), EnforceConsumerDeletion: aws.Bool(true)})
	})
}

// WaitActive waits until the stream is active again (after a create, split or merge).
func WaitActive(t testing.TB, kc *awskinesis.Client, name string) {
	t.Helper()
	require.Eventually(t, func() bool {
		out, err := kc.DescribeStreamSummary(context.Background(), &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		return err == nil && out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive
	}, 30*time.Second, 20*time.Millisecond, "stream %s did not become active", name)
}

// Shards lists a stream's shards.
func Shards(t testing.TB, kc *awskinesis.Client, name string) []ktypes.Shard {
	t.Helper()
	out, err := kc.ListShards(context.Background(), &awskinesis.ListShardsInput{StreamName: aws.String(name)})
	require.NoError(t, err)
	return out.Shards
}

// Put is one record to put.
type Put struct {
	Key  string
	Data []byte
}

// Placed is where a record landed.
type Placed struct {
	Shard, Seq string
}

// PutRecords puts recs in PutRecords calls of up to 500, retrying the records a call
// refused, and returns where each landed, in order.
func PutRecords(t testing.TB, kc *awskinesis.Client, name string, recs []Put) []Placed {
	t.Helper()
	out := make([]Placed, len(recs))
	pending := make([]int, len(recs))
	for i := range pending {
		pending[i] = i
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		require.Less(t, attempt, 50, "PutRecords keeps failing")
		var failed []int
		for off := 0; off < len(pending); off += 500 {
			idx := pending[off:min(off+500, len(pending))]
			in := &awskinesis.PutRecordsInput{StreamName: aws.String(name)}
			for _, i := range idx {
				in.Records = append(in.Records, ktypes.PutRecordsRequestEntry{PartitionKey: aws.String(recs[i].Key), Data: recs[i].Data})
			}
			res, err := kc.PutRecords(context.Background(), in)
			if err != nil {
				failed = append(failed, idx...)
				continue
			}
			for j, r := range res.Records {
				if r.ErrorCode != nil {
					failed = append(failed, idx[j])
					continue
				}
				out[idx[j]] = Placed{Shard: aws.ToString(r.ShardId), Seq: aws.ToString(r.SequenceNumber)}
			}
		}
		pending = failed
		if len(pending) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return out
}

// Doc is the test document numbered n, with a padding of pad bytes.
func Doc(n, pad int) []byte {
	return fmt.Appendf(nil, `{"n":%d,"msg":"record %d","pad":%q}`, n, n, strings.Repeat("x", pad))
}

// Records builds documents first..first+count-1 as records to put: every aggEvery-th
// group of aggSize documents (when aggEvery > 0) is one KPL aggregated record, the rest are
// plain records. It returns the records and, for each, the numbers of its documents.
func Records(first, count, pad, aggEvery, aggSize int) ([]Put, [][]int) {
	var puts []Put
	var nums [][]int
	group := 0
	for n := first; n < first+count; group++ {
		if aggEvery > 0 && group%aggEvery == aggEvery-1 {
			var docs [][]byte
			var ns []int
			for ; n < first+count && len(docs) < aggSize; n++ {
				docs = append(docs, Doc(n, pad))
				ns = append(ns, n)
			}
			puts = append(puts, Put{Key: fmt.Sprint("agg-", n), Data: Aggregate([]string{fmt.Sprint("agg-", n)}, docs)})
			nums = append(nums, ns)
			continue
		}
		puts = append(puts, Put{Key: fmt.Sprint("k-", n), Data: Doc(n, pad)})
		nums = append(nums, []int{n})
		n++
	}
	return puts, nums
}

// DynamoItems reads a whole table; a table not created yet has no items. Tests poll it
// (inside require.Eventually) from before weir has created its lease table, and a failed
// require there ends only the polling goroutine, so the poll would time out instead.
func DynamoItems(t testing.TB, db *ddb.Client, table string) []map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := db.Scan(context.Background(), &ddb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	if _, missing := errors.AsType[*ddbtypes.ResourceNotFoundException](err); missing {
		return nil
	}
	require.NoError(t, err)
	return out.Items
}

// S reads a string attribute ("" when absent).
func S(item map[string]ddbtypes.AttributeValue, name string) string {
	if v, ok := item[name].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// N reads a number attribute ("" when absent).
func N(item map[string]ddbtypes.AttributeValue, name string) string {
	if v, ok := item[name].(*ddbtypes.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}

// DeleteTable removes a test's lease table.
func DeleteTable(db *ddb.Client, table string) {
	_, _ = db.DeleteTable(context.Background(), &ddb.DeleteTableInput{TableName: aws.String(table)})
}

// Throttler is an http.RoundTripper in front of the emulator that answers a share of
// GetRecords calls as Kinesis does when a shard's read limit is exceeded: 400 with
// ProvisionedThroughputExceededException. Neither emulator enforces read limits.
type Throttler struct {
	Base  http.RoundTripper
	Share float64
	// Throttled counts the calls it refused; Calls all GetRecords calls.
	Throttled, Calls atomic.Int64
}

// RoundTrip implements http.RoundTripper.
func (th *Throttler) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.Header.Get("X-Amz-Target"), ".GetRecords") {
		th.Calls.Add(1)
		if rand.Float64() < th.Share {
			th.Throttled.Add(1)
			if req.Body != nil {
				_, _ = io.Copy(io.Discard, req.Body)
				req.Body.Close()
			}
			body := `{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded for shard in stream under account."}`
			return &http.Response{
				StatusCode: http.StatusBadRequest,
				Status:     "400 Bad Request",
				Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{
					"Content-Type":     {"application/x-amz-json-1.1"},
					"X-Amzn-Errortype": {"ProvisionedThroughputExceededException"},
					"X-Amzn-Requestid": {"throttler"},
					"Content-Length":   {fmt.Sprint(len(body))},
				},
				Body:          io.NopCloser(bytes.NewReader([]byte(body))),
				ContentLength: int64(len(body)),
				Request:       req,
			}, nil
		}
	}
	return th.Base.RoundTrip(req)
}

var kinesalite struct {
	once    sync.Once
	url     string
	err     error
	started bool
}

// Kinesalite returns the endpoint of kinesalite: WEIR_TEST_KINESALITE when set, else one
// started (once per test binary) with scripts/kinesalite.sh when the integration
// substrate is up (WEIR_TEST_AWS is set), else the test is skipped. StopKinesalite stops
// the one it started.
func Kinesalite(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("WEIR_TEST_KINESALITE"); u != "" {
		return u
	}
	if os.Getenv("WEIR_TEST_AWS") == "" {
		t.Skip("integration test: needs kinesalite (WEIR_TEST_KINESALITE, or WEIR_TEST_AWS set so that scripts/kinesalite.sh is started)")
	}
	kinesalite.once.Do(func() {
		script := filepath.Join(repoRoot(), "scripts", "kinesalite.sh")
		cmd := exec.Command(script, "start")
		cmd.Env = append(os.Environ(), "WEIR_KINESALITE_PORT=14568")
		if out, err := cmd.CombinedOutput(); err != nil {
			kinesalite.err = fmt.Errorf("scripts/kinesalite.sh start: %v\n%s", err, out)
			return
		}
		kinesalite.url, kinesalite.started = "http://127.0.0.1:14568", true
	})
	require.NoError(t, kinesalite.err)
	return kinesalite.url
}

// StopKinesalite stops the kinesalite that Kinesalite started, if any; call it from TestMain.
func StopKinesalite() error {
	if !kinesalite.started {
		return nil
	}
	cmd := exec.Command(filepath.Join(repoRoot(), "scripts", "kinesalite.sh"), "stop")
	cmd.Env = append(os.Environ(), "WEIR_KINESALITE_PORT=14568")
	if out, err := cmd.CombinedOutput(); err != nil {
		return errors.Join(err, errors.New(string(out)))
	}
	return nil
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Checkpoint is a lease's checkpoint as stored: a sequence number (or SHARD_END) and a
// sub-sequence number.
type Checkpoint struct {
	Seq string
	Sub int64
}

// Tails is, per shard, the checkpoint that covers every record put: the last record's
// sequence number and, for a KPL aggregate, the sub-sequence number of its last document
// (nums[i] are the documents of record i).
func Tails(placed []Placed, nums [][]int) map[string]Checkpoint {
	out := map[string]Checkpoint{}
	for i, p := range placed {
		out[p.Shard] = Checkpoint{Seq: p.Seq, Sub: int64(len(nums[i]) - 1)}
	}
	return out
}

// Leases reads a stream's leases from the lease table: checkpoint and owner by shard id.
func Leases(t testing.TB, db *ddb.Client, table, stream string) (map[string]Checkpoint, map[string]string) {
	t.Helper()
	cps, owners := map[string]Checkpoint{}, map[string]string{}
	for _, it := range DynamoItems(t, db, table) {
		name, shard, ok := strings.Cut(S(it, "leaseKey"), ":")
		if !ok || name != stream {
			continue
		}
		var sub int64
		fmt.Sscan(N(it, "checkpointSubSequenceNumber"), &sub)
		cps[shard] = Checkpoint{Seq: S(it, "checkpoint"), Sub: sub}
		owners[shard] = S(it, "leaseOwner")
	}
	return cps, owners
}
