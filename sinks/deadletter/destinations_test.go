package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/internal/testenv"
	"github.com/weir-ingest/weir/pipeline"
)

var t0 = time.Date(2026, 11, 25, 10, 15, 2, 0, time.UTC)

func letters(n int, doc func(i int) string) []pipeline.DeadLetter {
	out := make([]pipeline.DeadLetter, n)
	for i := range out {
		out[i] = pipeline.DeadLetter{Time: t0, Source: "sqs", Key: fmt.Sprintf("msg-%d", i), Offset: int64(i), Index: "logs",
			ID: fmt.Sprintf("id-%d", i), Status: 400, Reason: "mapper_parsing_exception", Error: "failed to parse field [n]",
			Attempts: 1, Doc: []byte(doc(i))}
	}
	return out
}

func newTestFile(t *testing.T) *File {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "dead.ndjson")
	f, err := NewFile(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Shutdown(context.Background()) })
	return f
}

type fakeDest struct {
	name string
	err  error
	mu   sync.Mutex
	got  int
}

func (d *fakeDest) Name() string { return d.name }
func (d *fakeDest) WriteDeadLetters(_ context.Context, ls []pipeline.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got += len(ls)
	return d.err
}

func TestMultiWritesTheFileThenEveryDestination(t *testing.T) {
	t.Parallel()
	f := newTestFile(t)
	ok, bad := &fakeDest{name: "sqs"}, &fakeDest{name: "s3", err: errors.New("access denied")}
	reg := prometheus.NewRegistry()
	m := NewMulti(f, []Destination{ok, bad}, WithMultiRegisterer(reg))
	require.NoError(t, m.Start(context.Background()))

	err := m.WriteDeadLetters(context.Background(), letters(3, func(int) string { return `{"n":"x"}` }))
	require.Error(t, err, "a destination that failed fails the write: the records stay at their source")
	assert.Contains(t, err.Error(), "deadletter s3: access denied")
	assert.Equal(t, 3, ok.got)
	assert.Len(t, readAll(t, f.cfg.Path), 3, "the file is written first")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.failures.WithLabelValues("s3")))
	assert.Equal(t, 0.0, testutil.ToFloat64(m.failures.WithLabelValues("sqs")))

	// The file failing stops the write before any destination.
	require.NoError(t, m.Shutdown(context.Background()))
	require.NoError(t, m.Shutdown(context.Background()), "safe twice")
	err = m.WriteDeadLetters(context.Background(), letters(1, func(int) string { return `{}` }))
	require.ErrorIs(t, err, ErrClosed)
	assert.Equal(t, 3, ok.got)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.failures.WithLabelValues("file")))
}

// fakeSQS records batches and fails entries as told.
type fakeSQS struct {
	mu      sync.Mutex
	batches [][]string
	fail    func(call int, id string) (failed, senderFault bool)
}

func (q *fakeSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	call := len(q.batches)
	var bodies []string
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		bodies = append(bodies, *e.MessageBody)
		if q.fail != nil {
			if failed, sf := q.fail(call, *e.Id); failed {
				out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), Message: aws.String("try again"), SenderFault: sf})
				continue
			}
		}
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
	}
	q.batches = append(q.batches, bodies)
	return out, nil
}

func noSleep(context.Context, time.Duration) error { return nil }

func TestSQSBatchesBySizeAndCount(t *testing.T) {
	t.Parallel()
	fq := &fakeSQS{}
	q, err := NewSQS(fq, "https://sqs.eu-west-1.amazonaws.com/123456789012/dead")
	require.NoError(t, err)
	q.sleep = noSleep
	big := strings.Repeat("x", 100<<10)
	ls := letters(24, func(i int) string {
		switch i {
		case 20, 21, 22: // 100 KiB documents: two fill a 256 KiB batch
			return `{"pad":"` + big + `"}`
		case 23: // over a message's limit: sent without its document
			return `{"pad":"` + strings.Repeat("y", 300<<10) + `"}`
		}
		return fmt.Sprintf(`{"n":%d}`, i)
	})
	require.NoError(t, q.WriteDeadLetters(context.Background(), ls))
	var sizes []int
	var all []string
	for _, b := range fq.batches {
		sizes = append(sizes, len(b))
		total := 0
		for _, body := range b {
			total += len(body)
		}
		assert.LessOrEqual(t, total, sqsMaxBatchBytes)
		all = append(all, b...)
	}
	assert.Equal(t, []int{10, 10, 2, 2}, sizes)
	require.Len(t, all, 24)
	var e Entry
	require.NoError(t, json.Unmarshal([]byte(all[3]), &e), "a body is the file's line")
	assert.Equal(t, "msg-3", e.Key)
	assert.Equal(t, "id-3", e.ID)
	assert.JSONEq(t, `{"n":3}`, string(e.Doc))
	require.NoError(t, json.Unmarshal([]byte(all[23]), &e))
	doc, _ := e.Document()
	assert.Contains(t, string(doc), "omitted: over the SQS message size limit")
	assert.Equal(t, "mapper_parsing_exception", e.Reason, "the message still says which and why")
}

func TestSQSSendsFailedEntriesAgain(t *testing.T) {
	t.Parallel()
	fq := &fakeSQS{fail: func(call int, id string) (bool, bool) { return call == 0 && id == "1", false }}
	q, err := NewSQS(fq, "https://sqs.eu-west-1.amazonaws.com/123456789012/dead")
	require.NoError(t, err)
	q.sleep = noSleep
	require.NoError(t, q.WriteDeadLetters(context.Background(), letters(3, func(int) string { return `{}` })))
	require.Len(t, fq.batches, 2)
	assert.Len(t, fq.batches[1], 1, "only the failed entry again")

	fq = &fakeSQS{fail: func(_ int, id string) (bool, bool) { return id == "0", true }}
	q, _ = NewSQS(fq, "https://sqs.eu-west-1.amazonaws.com/123456789012/dead")
	q.sleep = noSleep
	err = q.WriteDeadLetters(context.Background(), letters(2, func(int) string { return `{}` }))
	require.Error(t, err, "a sender fault is not retried")
	assert.Len(t, fq.batches, 1)

	fq = &fakeSQS{fail: func(int, string) (bool, bool) { return true, false }}
	q, _ = NewSQS(fq, "https://sqs.eu-west-1.amazonaws.com/123456789012/dead")
	q.sleep = noSleep
	err = q.WriteDeadLetters(context.Background(), letters(2, func(int) string { return `{}` }))
	require.ErrorContains(t, err, "2 of 2 dead letters not sent")
	assert.Len(t, fq.batches, sqsEntryAttempts)
}

func TestDestinationConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sqs, s3 string
		want    []string
	}{
		{sqs: "https://sqs.eu-west-1.amazonaws.com/123456789012/dead", s3: "s3://weir-dead/weir/"},
		{s3: "s3://weir-dead"},
		{sqs: "sqs://nope", want: []string{"sqs_queue_url: must be a queue URL"}},
		{sqs: "https://sqs.eu-west-1.amazonaws.com", want: []string{"sqs_queue_url"}},
		{s3: "weir-dead/prefix", want: []string{"s3_uri: must look like s3://bucket/prefix/"}},
		{s3: "s3://Bad_Bucket/x", want: []string{"s3_uri"}},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.SQSQueueURL, cfg.S3URI = tt.sqs, tt.s3
		err := cfg.Validate()
		if len(tt.want) == 0 {
			assert.NoError(t, err, "%+v", tt)
			continue
		}
		require.Error(t, err, "%+v", tt)
		for _, w := range tt.want {
			assert.Contains(t, err.Error(), w)
		}
	}
	b, p, err := ParseS3URI("s3://weir-dead/a/b")
	require.NoError(t, err)
	assert.Equal(t, "weir-dead", b)
	assert.Equal(t, "a/b/", p)
	_, p, _ = ParseS3URI("s3://weir-dead")
	assert.Equal(t, "", p)
}

func motoConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

// TestDestinationsAgainstMoto: the file, an SQS queue and an S3 prefix get the same dead
// letters, and every copy reads back as the file does.
func TestDestinationsAgainstMoto(t *testing.T) {
	endpoint := testenv.AWS(t)
	ctx := context.Background()
	cfg := motoConfig(endpoint)
	sqsc := sqs.NewFromConfig(cfg)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	name := fmt.Sprintf("weir-dead-%d", time.Now().UnixNano())
	qo, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	require.NoError(t, err)
	_, err = s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	require.NoError(t, err)

	f := newTestFile(t)
	q, err := NewSQS(sqsc, *qo.QueueUrl)
	require.NoError(t, err)
	b, err := NewS3(s3c, "s3://"+name+"/weir/")
	require.NoError(t, err)
	m := NewMulti(f, []Destination{q, b})
	require.NoError(t, m.Start(ctx))
	ls := letters(12, func(i int) string { return fmt.Sprintf(`{"n":"%d <b>","i":%d}`, i, i) })
	require.NoError(t, m.WriteDeadLetters(ctx, ls))
	want := readAll(t, f.cfg.Path)
	require.Len(t, want, 12)

	var fromSQS []Entry
	for len(fromSQS) < 12 {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: qo.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		require.NoError(t, err)
		require.NotEmpty(t, out.Messages, "only %d of 12 messages arrived", len(fromSQS))
		for _, msg := range out.Messages {
			var e Entry
			require.NoError(t, json.Unmarshal([]byte(*msg.Body), &e))
			fromSQS = append(fromSQS, e)
		}
	}
	assert.ElementsMatch(t, want, fromSQS)

	list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(name), Prefix: aws.String("weir/")})
	require.NoError(t, err)
	require.Len(t, list.Contents, 1, "one object per write")
	key := *list.Contents[0].Key
	assert.Regexp(t, `^weir/\d{4}/\d{2}/\d{2}/\d{2}/\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{8}\.ndjson$`, key)
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(name), Key: aws.String(key)})
	require.NoError(t, err)
	body, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	require.NoError(t, err)
	local := filepath.Join(t.TempDir(), "from-s3.ndjson")
	require.NoError(t, os.WriteFile(local, body, 0o600))
	assert.Equal(t, want, readAll(t, local), "the object is the file's lines, readable with Read")
	doc, err := readAll(t, local)[0].Document()
	require.NoError(t, err)
	assert.Equal(t, `{"n":"0 <b>","i":0}`, string(doc), "stored as sent")
}
