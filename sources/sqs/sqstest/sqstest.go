// Package sqstest sets up what the SQS source's integration tests need on moto's server and
// the real OpenSearch node: unique queues, buckets and indexes (removed afterwards), a mixed
// workload of every message kind the source reads, and checks that every document landed
// exactly once and the queue is empty.
package sqstest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/internal/testenv"
)

// Env is moto and OpenSearch, with clients.
type Env struct {
	T testing.TB
	// ctx ends when the test does, so that a loader still running in the background stops.
	ctx      context.Context
	Endpoint string // moto
	OS       string // OpenSearch base URL
	AWS      aws.Config
	SQS      *awssqs.Client
	S3       *s3.Client

	// resent holds the n of every document in a batch whose send failed and was sent again:
	// SQS may have stored the first attempt (moto answered too late), and a message sent twice
	// gets a new MessageId, so its documents rightly get new ids. Only these may be there twice.
	mu     sync.Mutex
	resent map[int]bool
}

// New returns the environment, or skips the test when moto or OpenSearch is not there.
func New(t testing.TB) *Env {
	t.Helper()
	endpoint := testenv.AWS(t)
	osURL := testenv.OpenSearch(t)
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &Env{
		T: t, ctx: ctx, Endpoint: endpoint, OS: osURL, AWS: cfg, resent: map[int]bool{},
		SQS: awssqs.NewFromConfig(cfg),
		S3:  s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
	}
}

// Name is a unique name for a queue, bucket or index.
func Name(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, rand.IntN(1e6))
}

// Queue creates a queue with the given visibility timeout, deleted after the test.
func (e *Env) Queue(visibility time.Duration) string {
	e.T.Helper()
	out, err := e.SQS.CreateQueue(context.Background(), &awssqs.CreateQueueInput{
		QueueName:  aws.String(Name("weir-sqs")),
		Attributes: map[string]string{"VisibilityTimeout": strconv.Itoa(int(visibility / time.Second))},
	})
	require.NoError(e.T, err)
	e.T.Cleanup(func() {
		_, _ = e.SQS.DeleteQueue(context.Background(), &awssqs.DeleteQueueInput{QueueUrl: out.QueueUrl})
	})
	return *out.QueueUrl
}

// Bucket creates a bucket, emptied and deleted after the test.
func (e *Env) Bucket() string {
	e.T.Helper()
	name := Name("weir-sqs")
	_, err := e.S3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)})
	require.NoError(e.T, err)
	e.T.Cleanup(func() {
		ctx := context.Background()
		var token *string
		for {
			out, err := e.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(name), ContinuationToken: token})
			if err != nil {
				break
			}
			for _, o := range out.Contents {
				_, _ = e.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(name), Key: o.Key})
			}
			if out.NextContinuationToken == nil {
				break
			}
			token = out.NextContinuationToken
		}
		_, _ = e.S3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)})
	})
	return name
}

// Index creates an index of one shard with n mapped as a long (so that a terms aggregation
// over n is exact), deleted after the test.
func (e *Env) Index() string {
	e.T.Helper()
	name := Name("sqs")
	st, out := e.Do("PUT", "/"+name, map[string]any{
		"settings": map[string]any{"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
		"mappings": map[string]any{"properties": map[string]any{"n": map[string]any{"type": "long"}}},
	})
	require.Equal(e.T, 200, st, "%v", out)
	e.T.Cleanup(func() { e.Do("DELETE", "/"+name, nil) })
	return name
}

// Do calls OpenSearch.
func (e *Env) Do(method, path string, body any) (int, map[string]any) {
	e.T.Helper()
	return testenv.Call(e.T, e.OS, method, path, body)
}

// Count refreshes index and counts its documents.
func (e *Env) Count(index string) int {
	e.T.Helper()
	e.Do("POST", "/"+index+"/_refresh", nil)
	st, out := e.Do("GET", "/"+index+"/_count", nil)
	if st == http.StatusNotFound {
		return 0
	}
	require.Equal(e.T, 200, st, "%v", out)
	return int(out["count"].(float64))
}

// CheckExactlyOnce asserts that index holds total documents whose n values are exactly
// 0..total-1: the count matches, no n occurs twice (a terms aggregation with min_doc_count
// 2 finds none), and min and max bound the range, so by counting every n is there once.
func (e *Env) CheckExactlyOnce(index string, total int) {
	e.T.Helper()
	st, out := e.Do("POST", "/"+index+"/_search", map[string]any{
		"size": 0,
		"aggs": map[string]any{
			"dups": map[string]any{
				"terms": map[string]any{"field": "n", "min_doc_count": 2, "size": 10_000},
				"aggs":  map[string]any{"ids": map[string]any{"top_hits": map[string]any{"size": 3, "_source": false}}},
			},
			"min": map[string]any{"min": map[string]any{"field": "n"}},
			"max": map[string]any{"max": map[string]any{"field": "n"}},
		},
	})
	require.Equal(e.T, 200, st, "%v", out)
	aggs := out["aggregations"].(map[string]any)
	extra := 0
	e.mu.Lock()
	for _, b := range aggs["dups"].(map[string]any)["buckets"].([]any) {
		b := b.(map[string]any)
		n, count := int(b["key"].(float64)), int(b["doc_count"].(float64))
		// Same ids twice cannot happen in an index; new ids for the same n are a message
		// stored twice by SQS, which only a re-sent batch explains.
		require.True(e.T, e.resent[n], "document n=%d is there %d times and was sent once; ids: %v", n, count, b["ids"])
		extra += count - 1
	}
	e.mu.Unlock()
	if extra > 0 {
		e.T.Logf("%d documents twice, each from a batch the test sent again after a failed send", extra)
	}
	require.Equal(e.T, total+extra, e.Count(index), "document count")
	require.EqualValues(e.T, 0, aggs["min"].(map[string]any)["value"])
	require.EqualValues(e.T, total-1, aggs["max"].(map[string]any)["value"])
}

// Depth is the queue's visible plus in-flight plus delayed messages.
func (e *Env) Depth(queueURL string) int {
	e.T.Helper()
	n, err := e.depth(queueURL)
	require.NoError(e.T, err)
	return n
}

func (e *Env) depth(queueURL string) (int, error) {
	names := []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}
	out, err := e.SQS.GetQueueAttributes(e.ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL), AttributeNames: names})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		i, _ := strconv.Atoi(out.Attributes[string(name)])
		n += i
	}
	return n, nil
}

// Patience is how long a run of n messages may take on moto, which handles a few dozen
// messages a second on a busy machine.
func Patience(n int) time.Duration { return time.Minute + time.Duration(n)*100*time.Millisecond }

// WaitDone waits until index holds total documents and the queue is empty.
func (e *Env) WaitDone(queueURL, index string, total int, timeout time.Duration) {
	e.T.Helper()
	deadline := time.Now().Add(timeout)
	var count, depth int
	for time.Now().Before(deadline) {
		count, depth = e.Count(index), e.Depth(queueURL)
		if count >= total && depth == 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	e.T.Fatalf("not done after %s: %d of %d documents indexed, %d messages in the queue", timeout, count, total, depth)
}

// SendBodies sends message bodies in batches of ten from a few goroutines.
func (e *Env) SendBodies(queueURL string, bodies []string) {
	e.T.Helper()
	require.NoError(e.T, e.send(queueURL, bodies, 0))
}

// Stream sends bodies while a consumer drains the queue, keeping about maxDepth messages in
// it at most. moto scans a whole queue on every call, so its calls slow down in proportion
// to the queue's depth: a deep queue would measure moto, not weir.
func (e *Env) Stream(queueURL string, bodies []string, maxDepth int) {
	e.T.Helper()
	require.NoError(e.T, e.send(queueURL, bodies, maxDepth))
}

// send fails nothing itself, so that a loader in a goroutine may use it.
func (e *Env) send(queueURL string, bodies []string, maxDepth int) error {
	const senders = 4
	var (
		mu     sync.Mutex
		budget = maxDepth
	)
	// take waits until the queue has room for n more messages.
	take := func(n int) error {
		if maxDepth <= 0 {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		for budget < n {
			d, err := e.depth(queueURL)
			if err != nil {
				return err
			}
			if budget = maxDepth - d; budget < n {
				select {
				case <-e.ctx.Done():
					return e.ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
		budget -= n
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for w := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := w * 10; start < len(bodies); start += senders * 10 {
				end := min(start+10, len(bodies))
				var entries []types.SendMessageBatchRequestEntry
				for i := start; i < end; i++ {
					entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i - start)), MessageBody: aws.String(bodies[i])})
				}
				err := take(len(entries))
				if err == nil {
					err = e.sendBatch(queueURL, entries)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

var docNumber = regexp.MustCompile(`\\?"n\\?":(\d+)`)

// sendBatch sends one batch, retrying a failed send itself rather than through the SDK, so
// that it knows which documents a retry may have put in the queue twice.
func (e *Env) sendBatch(queueURL string, entries []types.SendMessageBatchRequestEntry) error {
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			e.mu.Lock()
			for _, en := range entries {
				for _, m := range docNumber.FindAllStringSubmatch(aws.ToString(en.MessageBody), -1) {
					n, _ := strconv.Atoi(m[1])
					e.resent[n] = true
				}
			}
			e.mu.Unlock()
			e.T.Logf("sending a batch again (attempt %d) after: %v", attempt+1, err)
			select {
			case <-e.ctx.Done():
				return e.ctx.Err()
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		var out *awssqs.SendMessageBatchOutput
		out, err = e.SQS.SendMessageBatch(e.ctx, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries},
			func(o *awssqs.Options) { o.RetryMaxAttempts = 1 })
		if err != nil {
			continue
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("%d entries failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
		}
		return nil
	}
	return fmt.Errorf("send batch: %w", err)
}

// PutObject stores body and returns its ETag (without quotes).
func (e *Env) PutObject(bucket, key string, body []byte) string {
	e.T.Helper()
	out, err := e.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	require.NoError(e.T, err)
	return strings.Trim(aws.ToString(out.ETag), `"`)
}

// Workload is a mixed set of messages and what they hold.
type Workload struct {
	Bodies  []string
	Objects map[string][]byte // key → content, to be put before the messages are sent
	Docs    int               // documents in all, numbered n = 0..Docs-1
}

func doc(n int, kind string) string {
	return fmt.Sprintf(`{"n":%d,"kind":%q,"@timestamp":"2026-11-25T10:00:00Z","msg":"document %d"}`, n, kind, n)
}

// Envelope wraps message in an SNS notification, as SNS delivers it with raw delivery off.
func Envelope(message string) string {
	b, _ := json.Marshal(map[string]any{
		"Type": "Notification", "MessageId": fmt.Sprintf("sns-%d", rand.Int64()),
		"TopicArn": "arn:aws:sns:us-east-1:123456789012:weir-test", "Message": message,
		"Timestamp": "2026-11-25T10:00:00.000Z", "SignatureVersion": "1",
	})
	return string(b)
}

// S3Event is an S3 event notification for objects of bucket; keys are URL-encoded the
// way S3 does it ('+' for a space).
func S3Event(bucket string, keys ...string) string {
	var recs []any
	for _, k := range keys {
		recs = append(recs, map[string]any{
			"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
			"s3": map[string]any{"s3SchemaVersion": "1.0", "bucket": map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
				"object": map[string]any{"key": url.QueryEscape(k), "size": 1}},
		})
	}
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return string(b)
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.Bytes()
}

// Mixed builds messages of every kind, in a fixed rotation of twenty: single documents,
// NDJSON, a JSON array, SNS-wrapped documents, and S3 notifications (direct and inside SNS)
// naming gzip objects that hold NDJSON or a CloudTrail-style Records object. Object keys
// hold a space and a '+', to prove decoding. It averages 2.5 documents a message, numbered
// from first.
func Mixed(bucket string, messages, first int) Workload {
	w := Workload{Objects: map[string][]byte{}}
	n := first
	next := func(kind string) string { d := doc(n, kind); n++; return d }
	lines := func(k int, kind string) string {
		var ds []string
		for range k {
			ds = append(ds, next(kind))
		}
		return strings.Join(ds, "\n") + "\n"
	}
	for i := range messages {
		var body string
		switch i % 20 {
		case 0, 1, 2, 3, 4, 5, 6, 7, 17:
			body = next("single")
		case 8, 9, 10, 11:
			body = lines(3, "ndjson")
		case 12, 13:
			body = Envelope(next("sns"))
		case 14, 15:
			body = Envelope(lines(2, "sns-ndjson"))
		case 16:
			body = "[" + next("array") + ",\n" + next("array") + "," + next("array") + "]"
		case 18:
			key := fmt.Sprintf("logs/day 1/part+%d.ndjson.gz", n)
			w.Objects[key] = gzipped(lines(10, "s3-ndjson"))
			body = S3Event(bucket, key)
		case 19:
			key := fmt.Sprintf("AWSLogs/cloudtrail/%d.json.gz", n)
			var ds []string
			for range 10 {
				ds = append(ds, next("s3-records"))
			}
			w.Objects[key] = gzipped(`{"Records":[` + strings.Join(ds, ",") + `]}`)
			body = Envelope(S3Event(bucket, key))
		}
		w.Bodies = append(w.Bodies, body)
	}
	w.Docs = n - first
	return w
}

// Load puts the workload's objects into bucket and sends its messages to the queue.
func (e *Env) Load(queueURL, bucket string, w Workload) {
	e.T.Helper()
	e.PutObjects(bucket, w)
	e.SendBodies(queueURL, w.Bodies)
}

// LoadStreaming is Load for a queue that is being consumed: at most maxDepth messages wait.
// It fails nothing itself (it may run in a goroutine) and stops when the test ends.
func (e *Env) LoadStreaming(queueURL, bucket string, w Workload, maxDepth int) error {
	if err := e.putObjects(bucket, w); err != nil {
		return err
	}
	return e.send(queueURL, w.Bodies, maxDepth)
}

// PutObjects stores the workload's objects.
func (e *Env) PutObjects(bucket string, w Workload) {
	e.T.Helper()
	require.NoError(e.T, e.putObjects(bucket, w))
}

func (e *Env) putObjects(bucket string, w Workload) error {
	keys := make(chan string)
	errs := make(chan error, len(w.Objects))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				_, err := e.S3.PutObject(e.ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(w.Objects[k])})
				if err != nil {
					errs <- fmt.Errorf("put %s: %w", k, err)
				}
			}
		}()
	}
	for k := range w.Objects {
		keys <- k
	}
	close(keys)
	wg.Wait()
	close(errs)
	return <-errs
}
