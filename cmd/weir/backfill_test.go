package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/auth"
	"github.com/weir-ingest/weir/internal/testenv"
	"github.com/weir-ingest/weir/sinks/opensearch"
	"github.com/weir-ingest/weir/sources/file"
	"github.com/weir-ingest/weir/sources/kinesis/kinesistest"
)

// --- unit tests: no substrate ---

func TestBackfillInputsAndFlags(t *testing.T) {
	t.Parallel()
	in, err := classifyInputs([]string{"logs/*.gz", "-", "s3://b/p/", "sqs://sqs.eu-west-1.amazonaws.com/1/q", "kinesis://orders"},
		[]string{"http://127.0.0.1:15000/1/q2"})
	require.NoError(t, err)
	assert.Equal(t, []string{"logs/*.gz", "-", "s3://b/p/"}, in.files)
	assert.Equal(t, []string{"https://sqs.eu-west-1.amazonaws.com/1/q", "http://127.0.0.1:15000/1/q2"}, in.queues)
	assert.Equal(t, []string{"orders"}, in.streams)
	assert.True(t, in.needAWS())
	assert.Equal(t, "eu-west-1", sqsRegion(in.queues[0]))

	local, err := classifyInputs([]string{"a.ndjson", "-"}, nil)
	require.NoError(t, err)
	assert.False(t, local.needAWS())
	_, err = classifyInputs([]string{"s3://", "kinesis://"}, nil)
	assert.Error(t, err)

	for _, args := range [][]string{
		{},                             // no input
		{"--progress", "loud", "x"},    // bad mode
		{"--index", "Bad Name", "x"},   // invalid index
		{"--chunk-bytes", "1KiB", "x"}, // too small
		{"--from", "YESTERDAY", "kinesis://s"},
	} {
		code, _, errOut := runCmd(t, append([]string{"backfill"}, args...)...)
		assert.Equal(t, exitUsage, code, "%v: %s", args, errOut)
	}
	code, _, errOut := runCmd(t, "backfill", "--progress=none", "--checkpoint=", filepath.Join(t.TempDir(), "missing-*.ndjson"))
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "no file matches")
}

func TestParseKinesisRange(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r, err := parseKinesisRange("TRIM_HORIZON", "TAIL", now)
	require.NoError(t, err)
	assert.Nil(t, r.from)
	assert.True(t, r.tail)
	assert.Equal(t, now, r.end)
	r, err = parseKinesisRange("AT_TIMESTAMP:2026-11-24T00:00:00Z", "2026-11-25T00:00:00Z", now)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), *r.from)
	assert.False(t, r.tail)
	for _, bad := range [][2]string{{"LATEST", "TAIL"}, {"AT_TIMESTAMP:yesterday", "TAIL"}, {"TRIM_HORIZON", "soon"},
		{"AT_TIMESTAMP:2026-11-25T00:00:00Z", "2026-11-24T00:00:00Z"}} {
		_, err := parseKinesisRange(bad[0], bad[1], now)
		assert.Error(t, err, bad)
	}
}

// TestBackfillConfigNeedsNoSource: a backfill's configuration need not enable a source,
// but everything else is checked as for weir run.
func TestBackfillConfigNeedsNoSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte("opensearch: {urls: [\"http://127.0.0.1:1\"]}\nsources: {http: {enabled: false}}\n"), 0o600))
	cf := commonFlags{file: good}
	cfg, err := loadBackfillConfig(&cf, nil, false)
	require.NoError(t, err)
	assert.False(t, cfg.Sources.HTTP.Enabled, "no daemon source is started")

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("pipeline: {workers: 0}\nnope: 1\n"), 0o600))
	cf = commonFlags{file: bad}
	_, err = loadBackfillConfig(&cf, nil, true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pipeline.workers")
	assert.Contains(t, err.Error(), "nope: unknown key")
}

func TestPlanMessageIsAnS3Notification(t *testing.T) {
	t.Parallel()
	in := file.Input{Name: "s3://bkt/logs/2026/a b+c=1.ndjson.gz", Bucket: "bkt", Key: "logs/2026/a b+c=1.ndjson.gz", Size: 1234, ETag: "abc"}
	body, err := planMessage(in, "us-east-1", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	var ev struct {
		Records []struct {
			EventSource, EventName, EventTime string
			S3                                struct {
				Bucket struct{ Name string }
				Object struct {
					Key  string
					Size int64
					ETag string `json:"eTag"`
				}
			} `json:"s3"`
		}
	}
	require.NoError(t, json.Unmarshal(body, &ev))
	require.Len(t, ev.Records, 1)
	r := ev.Records[0]
	assert.Equal(t, "aws:s3", r.EventSource)
	assert.Equal(t, "ObjectCreated:Put", r.EventName)
	assert.Equal(t, "2026-11-25T10:00:00.000Z", r.EventTime)
	assert.Equal(t, "bkt", r.S3.Bucket.Name)
	assert.Equal(t, "logs/2026/a+b%2Bc%3D1.ndjson.gz", r.S3.Object.Key, "URL-encoded as S3 does: + for a space, / kept")
	key, err := url.QueryUnescape(r.S3.Object.Key)
	require.NoError(t, err)
	assert.Equal(t, in.Key, key)
	assert.EqualValues(t, 1234, r.S3.Object.Size)
	assert.Equal(t, "abc", r.S3.Object.ETag)
}

// fakeBatchSQS refuses the first entry of every call once (as SQS does when throttling
// one entry), and one key for good.
type fakeBatchSQS struct {
	mu      sync.Mutex
	calls   int
	bodies  []string
	retried map[string]bool
}

func (f *fakeBatchSQS) SendMessageBatch(_ context.Context, in *awssqs.SendMessageBatchInput, _ ...func(*awssqs.Options)) (*awssqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	out := &awssqs.SendMessageBatchOutput{}
	for i, e := range in.Entries {
		body := aws.ToString(e.MessageBody)
		switch {
		case strings.Contains(body, "poison"):
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, SenderFault: true, Code: aws.String("InvalidMessageContents")})
		case i == 0 && !f.retried[body]:
			f.retried[body] = true
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError")})
		default:
			f.bodies = append(f.bodies, body)
			out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
		}
	}
	return out, nil
}

func TestPlanSendsTenPerCallAndRetriesRefusedEntries(t *testing.T) {
	t.Parallel()
	var objs []file.Input
	for i := range 23 {
		k := fmt.Sprintf("k%02d", i)
		if i == 7 {
			k = "poison"
		}
		objs = append(objs, file.Input{Name: "s3://b/" + k, Bucket: "b", Key: k, Size: 10})
	}
	fake := &fakeBatchSQS{retried: map[string]bool{}}
	p := &planResult{Queue: "https://sqs.us-east-1.amazonaws.com/1/q", sqs: fake, region: "us-east-1", now: time.Now,
		sleep: func(context.Context, time.Duration) error { return nil }}
	require.NoError(t, p.send(context.Background(), objs))
	assert.Equal(t, 22, p.Objects)
	assert.EqualValues(t, 220, p.Bytes)
	require.Len(t, p.Failed, 1)
	assert.Equal(t, "s3://b/poison", p.Failed[0].Input)
	assert.Len(t, fake.bodies, 22, "each object once")
	assert.Equal(t, 6, p.Calls, "3 batches, each with one entry sent again")
}

// --- integration tests: the real node and moto ---

// backfillYAML writes a configuration for the real node (and moto when awsURL is set);
// osExtra and pipelineExtra are added to those sections (", key: value").
func backfillYAML(t *testing.T, osURL, awsURL, osExtra, pipelineExtra string) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	y := fmt.Sprintf(`
log: {format: text, level: warn}
opensearch: {urls: [%q], flush_interval: 200ms%s}
pipeline: {drain_timeout: 30s%s}
dead_letter: {path: %q}
`, osURL, osExtra, pipelineExtra, filepath.Join(dir, "dead.ndjson"))
	if awsURL != "" {
		y += fmt.Sprintf(`aws:
  region: us-east-1
  endpoint_url: %q
  credentials: {provider: static, access_key_id: test, secret_access_key: test}
`, awsURL)
	}
	path = filepath.Join(dir, "weir.yaml")
	require.NoError(t, os.WriteFile(path, []byte(y), 0o600))
	return path, dir
}

// backfillRun runs weir backfill in-process and returns its exit code, summary and stderr.
func backfillRun(t *testing.T, stdin io.Reader, args ...string) (int, file.Summary, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code := runBackfill(context.Background(), args, nil, stdin, &out, &errb)
	return code, parseSummary(t, out.String(), errb.String()), errb.String()
}

func parseSummary(t *testing.T, stdout, stderr string) file.Summary {
	t.Helper()
	var line map[string]file.Summary
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(stdout)), &line), "stdout: %s\nstderr: %s", stdout, stderr)
	return line["summary"]
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return out.Bytes()
}

func jsonArray(first, n int) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i := first; i < first+n; i++ {
		if i > first {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"n":%d,"@timestamp":"2026-11-25T10:00:00Z","msg":"element %d"}`, i, i)
	}
	b.WriteString("]")
	return b.Bytes()
}

// TestBackfillFilesGlobGzipStdin: files named directly and by a glob, gzip among them,
// and stdin land once per document; a bad line is dead-lettered; the summary says so and
// the exit code is 0. A second run with the same checkpoint skips every file.
func TestBackfillFilesGlobGzipStdin(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	t.Parallel()
	os_ := osClient{t, osURL}
	index := uniqueIndex(t, "e2e-backfill-files")
	t.Cleanup(func() { os_.do("DELETE", "/"+index, nil) })
	cfgPath, dir := backfillYAML(t, osURL, "", "", "")
	data := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(data, 0o755))
	n := testenv.Size(20_000, 2_000)
	bad := append(ndjson(0, n, false), "{not json\n"...)
	require.NoError(t, os.WriteFile(filepath.Join(data, "a.ndjson"), bad, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(data, "b.ndjson.gz"), gz(t, ndjson(n, n, false)), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(data, "c.json"), jsonArray(2*n, 50), 0o600))
	cp := filepath.Join(dir, "cp.json")

	args := []string{"-c", cfgPath, "--index", index, "--checkpoint", cp, "--progress", "json",
		filepath.Join(data, "*.ndjson*"), filepath.Join(data, "c.json"), "-"}
	code, sum, errOut := backfillRun(t, bytes.NewReader(ndjson(3*n, 100, false)), args...)
	require.Equal(t, exitOK, code, errOut)
	t.Logf("%d documents, %.1f MB, in %.2fs (%.0f docs/s)", sum.Documents, float64(sum.InputBytes)/1e6, sum.DurationSeconds, sum.DocsPerSecond)
	want := 2*n + 50 + 100
	assert.EqualValues(t, want+1, sum.Documents)
	assert.EqualValues(t, want, sum.Indexed)
	assert.EqualValues(t, 1, sum.DeadLettered)
	assert.Equal(t, map[string]int64{"invalid_json": 1}, sum.DeadLetters)
	assert.Zero(t, sum.Undelivered)
	assert.Equal(t, "ok", sum.Status)
	assert.EqualValues(t, 4, sum.Inputs.Done)
	assert.Positive(t, sum.DocsPerSecond)
	assert.Contains(t, errOut, `{"progress":{`)
	assert.Contains(t, errOut, "backfill ok:")
	assert.Equal(t, want, os_.count(index), "every document exactly once")
	dead, err := os.ReadFile(filepath.Join(dir, "dead.ndjson"))
	require.NoError(t, err)
	assert.Equal(t, 1, bytes.Count(dead, []byte("\n")))
	assert.Contains(t, string(dead), `"offset":`+fmt.Sprint(n+1), "the bad line's number")

	// Again, without stdin: every file is finished in the checkpoint.
	code, sum, errOut = backfillRun(t, nil, args[:len(args)-1]...)
	require.Equal(t, exitOK, code, errOut)
	assert.EqualValues(t, 3, sum.Inputs.Skipped)
	assert.Zero(t, sum.Documents)
	assert.Equal(t, want, os_.count(index))
}

func motoClients(t *testing.T, awsURL string) (aws.Config, *s3.Client, *awssqs.Client) {
	t.Helper()
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(awsURL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	return cfg, s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), awssqs.NewFromConfig(cfg)
}

func putObject(t *testing.T, c *s3.Client, bucket, key string, body []byte, encoding string) {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}
	if encoding != "" {
		in.ContentEncoding = aws.String(encoding)
	}
	_, err := c.PutObject(context.Background(), in)
	require.NoError(t, err)
}

func cloudTrail(first, n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"Records":[`)
	for i := first; i < first+n; i++ {
		if i > first {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject","n":%d,"@timestamp":"2026-11-25T10:00:00Z"}`, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// TestBackfillS3Prefix: every object under a prefix, NDJSON (gzip by name, and by its
// magic bytes under Content-Encoding), a JSON array and CloudTrail Records, lands once.
func TestBackfillS3Prefix(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	awsURL := testenv.AWS(t)
	t.Parallel()
	os_ := osClient{t, osURL}
	index := uniqueIndex(t, "e2e-backfill-s3")
	t.Cleanup(func() { os_.do("DELETE", "/"+index, nil) })
	_, s3c, _ := motoClients(t, awsURL)
	bucket := kinesistest.Name("weir-backfill")
	_, err := s3c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	require.NoError(t, err)
	n := testenv.Size(10_000, 1_000)
	putObject(t, s3c, bucket, "logs/2026/a.ndjson.gz", gz(t, ndjson(0, n, false)), "")
	putObject(t, s3c, bucket, "logs/2026/b.json", jsonArray(n, 300), "")
	putObject(t, s3c, bucket, "logs/2026/ct/c.json.gz", gz(t, cloudTrail(n+300, 200)), "")
	putObject(t, s3c, bucket, "logs/2026/d.ndjson", gz(t, ndjson(n+500, 100, false)), "gzip")
	putObject(t, s3c, bucket, "logs/2026/", nil, "")
	putObject(t, s3c, bucket, "other/x.ndjson", ndjson(0, 10, false), "")
	cfgPath, dir := backfillYAML(t, osURL, awsURL, "", "")

	code, sum, errOut := backfillRun(t, nil, "-c", cfgPath, "--index", index, "--checkpoint", filepath.Join(dir, "cp.json"),
		"--progress", "none", "s3://"+bucket+"/logs/2026/")
	require.Equal(t, exitOK, code, errOut)
	t.Logf("%d documents, %.1f MB, in %.2fs (%.0f docs/s)", sum.Documents, float64(sum.InputBytes)/1e6, sum.DurationSeconds, sum.DocsPerSecond)
	want := n + 300 + 200 + 100
	assert.EqualValues(t, want, sum.Indexed)
	assert.EqualValues(t, 4, sum.Inputs.Total, "the folder marker and other/ are not inputs")
	assert.EqualValues(t, 4, sum.Inputs.Done)
	assert.Equal(t, want, os_.count(index))

	cp, err := file.LoadCheckpoint(filepath.Join(dir, "cp.json"))
	require.NoError(t, err)
	require.Contains(t, cp.Done, "s3://"+bucket+"/logs/2026/a.ndjson.gz")
	assert.NotEmpty(t, cp.Done["s3://"+bucket+"/logs/2026/a.ndjson.gz"].ETag)
}

// TestBackfillDrainsSQS: a queue holding S3 notifications and documents is drained: every
// document indexed, every message deleted, and the backfill ends by itself.
func TestBackfillDrainsSQS(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	awsURL := testenv.AWS(t)
	t.Parallel()
	os_ := osClient{t, osURL}
	index := uniqueIndex(t, "e2e-backfill-sqs")
	t.Cleanup(func() { os_.do("DELETE", "/"+index, nil) })
	_, s3c, sqsc := motoClients(t, awsURL)
	ctx := context.Background()
	name := kinesistest.Name("weir-backfill-drain")
	_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	require.NoError(t, err)
	q, err := sqsc.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name)})
	require.NoError(t, err)
	objects := 4
	per := testenv.Size(5_000, 500)
	// Four S3 notifications and a message of documents, in one SendMessageBatch call.
	var entries []sqstypes.SendMessageBatchRequestEntry
	for i := range objects {
		key := fmt.Sprintf("in/obj %02d.ndjson.gz", i)
		putObject(t, s3c, name, key, gz(t, ndjson(i*per, per, false)), "")
		body, err := planMessage(file.Input{Bucket: name, Key: key, Size: 1}, "us-east-1", time.Now())
		require.NoError(t, err)
		entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(string(body))})
	}
	entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String("docs"), MessageBody: aws.String(string(ndjson(objects*per, 7, false)))})
	sent, err := sqsc.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: q.QueueUrl, Entries: entries})
	require.NoError(t, err)
	require.Empty(t, sent.Failed)
	// SQS is at-least-once for senders too: a send the SDK retries after a lost answer
	// enqueues the batch twice (seen once in CI: every message twice, with new message ids).
	// Count the copies actually queued, so that the test holds weir to what it was given.
	depth, err := sqsc.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	require.NoError(t, err)
	queued, err := strconv.Atoi(depth.Attributes["ApproximateNumberOfMessages"])
	require.NoError(t, err)
	require.True(t, queued >= len(entries) && queued%len(entries) == 0, "%d messages queued for %d sent", queued, len(entries))
	copies := queued / len(entries)
	if copies > 1 {
		t.Logf("the send was applied %d times", copies)
	}
	cfgPath, _ := backfillYAML(t, osURL, awsURL, "", "")

	start := time.Now()
	code, sum, errOut := backfillRun(t, nil, "-c", cfgPath, "--index", index, "--checkpoint=", "--progress", "none", "sqs://"+*q.QueueUrl)
	require.Equal(t, exitOK, code, errOut)
	t.Logf("%d documents, %.1f MB, in %.2fs (%.0f docs/s)", sum.Documents, float64(sum.InputBytes)/1e6, sum.DurationSeconds, sum.DocsPerSecond)
	// Every queued message is indexed once. An object's documents have ids that name the
	// object, so its copies overwrite each other; a copy of the documents message has its
	// own message id, so its own documents.
	assert.EqualValues(t, copies*(objects*per+7), sum.Indexed)
	assert.Equal(t, 1, sum.Inputs.Streams)
	assert.Equal(t, objects*per+copies*7, os_.count(index))
	assert.Less(t, time.Since(start), 45*time.Second, "the drain ends by itself")
	attrs, err := sqsc.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	require.NoError(t, err)
	assert.Equal(t, "0", attrs.Attributes["ApproximateNumberOfMessages"])
	assert.Equal(t, "0", attrs.Attributes["ApproximateNumberOfMessagesNotVisible"], "every message deleted")
}

// TestBackfillPlanFansOutThroughSQS: plan sends one S3 notification per object, ten per
// call, and a weir run with the SQS source indexes every object's documents.
func TestBackfillPlanFansOutThroughSQS(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	awsURL := testenv.AWS(t)
	t.Parallel()
	os_ := osClient{t, osURL}
	index := uniqueIndex(t, "e2e-backfill-plan")
	t.Cleanup(func() { os_.do("DELETE", "/"+index, nil) })
	_, s3c, sqsc := motoClients(t, awsURL)
	ctx := context.Background()
	name := kinesistest.Name("weir-backfill-plan")
	_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	require.NoError(t, err)
	q, err := sqsc.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(name)})
	require.NoError(t, err)
	objects, per := 12, 40
	for i := range objects {
		putObject(t, s3c, name, fmt.Sprintf("2026/11/part %02d+x.ndjson.gz", i), gz(t, ndjson(i*per, per, false)), "")
	}
	cfgPath, dir := backfillYAML(t, osURL, awsURL, "", "")

	var out, errb bytes.Buffer
	code := runBackfill(ctx, []string{"plan", "-c", cfgPath, "s3://" + name + "/2026/", "--queue", *q.QueueUrl}, nil, nil, &out, &errb)
	require.Equal(t, exitOK, code, errb.String())
	var plan map[string]planResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &plan), out.String())
	assert.Equal(t, objects, plan["plan"].Messages)
	assert.Equal(t, 2, plan["plan"].Calls, "ten per SendMessageBatch")

	// The message as the queue holds it parses back to the object it names (peeked: it is
	// visible again after a second).
	msgs, err := sqsc.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, VisibilityTimeout: 1, WaitTimeSeconds: 1})
	require.NoError(t, err)
	require.NotEmpty(t, msgs.Messages)
	var ev s3Event
	require.NoError(t, json.Unmarshal([]byte(aws.ToString(msgs.Messages[0].Body)), &ev))
	require.Len(t, ev.Records, 1)
	assert.Equal(t, "aws:s3", ev.Records[0].EventSource)
	assert.Equal(t, name, ev.Records[0].S3.Bucket.Name)
	key, err := url.QueryUnescape(ev.Records[0].S3.Object.Key)
	require.NoError(t, err)
	_, err = s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(name), Key: aws.String(key)})
	require.NoError(t, err, "the key %q names a real object", key)
	assert.Positive(t, ev.Records[0].S3.Object.Size)

	// weir run with the SQS source consumes the plan.
	cfg := testConfig(t, osURL, "sync")
	cfg.DeadLetter.Path = filepath.Join(dir, "run-dead.ndjson")
	cfg.Sources.HTTP.Enabled = false
	cfg.Sources.SQS.Enabled = true
	cfg.Sources.SQS.QueueURL = *q.QueueUrl
	cfg.Sources.SQS.WaitTime = time.Second
	cfg.Sources.SQS.Index = index
	cfg.AWS.Region = "us-east-1"
	cfg.AWS.EndpointURL = awsURL
	cfg.AWS.Credentials.Provider = auth.ProviderStatic
	cfg.AWS.Credentials.AccessKeyID = "test"
	cfg.AWS.Credentials.SecretAccessKey = "test"
	require.NoError(t, cfg.Validate())
	d, err := newDaemon(cfg, newLogger(cfg.Log, io.Discard))
	require.NoError(t, err)
	require.NoError(t, d.start(ctx))
	require.Eventually(t, func() bool { return os_.count(index) == objects*per }, 60*time.Second, 250*time.Millisecond)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	undelivered, err := d.shutdown(sctx)
	require.NoError(t, err)
	assert.Zero(t, undelivered)
	assert.Equal(t, objects*per, os_.count(index))
}

// TestBackfillKinesisToTail: a stream read from TRIM_HORIZON to its tail at start-up,
// aggregated records included, lands once per document and the backfill ends.
func TestBackfillKinesisToTail(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	awsURL := testenv.AWS(t)
	t.Parallel()
	os_ := osClient{t, osURL}
	index := uniqueIndex(t, "e2e-backfill-kinesis")
	t.Cleanup(func() { os_.do("DELETE", "/"+index, nil) })
	kc := awskinesis.NewFromConfig(kinesistest.AWSConfig(awsURL, nil))
	stream := kinesistest.Name("weir-backfill")
	kinesistest.CreateStream(t, kc, stream, 2)
	total := testenv.Size(5_000, 1_000)
	puts, _ := kinesistest.Records(0, total, 50, 5, 10)
	kinesistest.PutRecords(t, kc, stream, puts)
	cfgPath, _ := backfillYAML(t, osURL, awsURL, "", "")

	code, sum, errOut := backfillRun(t, nil, "-c", cfgPath, "--index", index, "--checkpoint=", "--progress", "none", "kinesis://"+stream)
	require.Equal(t, exitOK, code, errOut)
	t.Logf("%d documents, %.1f MB, in %.2fs (%.0f docs/s)", sum.Documents, float64(sum.InputBytes)/1e6, sum.DurationSeconds, sum.DocsPerSecond)
	assert.EqualValues(t, total, sum.Indexed)
	assert.Equal(t, total, os_.count(index))
}

// TestBackfillResumesAfterSIGKILL runs weir backfill as a real process over several large
// files with a slow sink, kills it with SIGKILL once the checkpoint shows a finished file
// and a partial one, and runs it again with the same checkpoint: the finished files are
// skipped, the partial one resumes from its offset with its line numbers (so its _ids)
// continuing, and every document is in the index exactly once.
func TestBackfillResumesAfterSIGKILL(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	os_ := osClient{t, osURL}
	index := uniqueIndex(t, "e2e-backfill-resume")
	t.Cleanup(func() { os_.do("DELETE", "/"+index, nil) })
	bin, err := buildOnce()
	require.NoError(t, err)
	// A slow sink: small bulk requests, one at a time, and a small queue so that reading
	// does not run far ahead of indexing.
	cfgPath, dir := backfillYAML(t, osURL, "", ", flush_documents: 200, max_in_flight: 1, adaptive: {enabled: false}", ", queue_bytes: 4MiB")
	total := testenv.Size(200_000, 20_000)
	files := 4
	per := total / files
	var paths []string
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("part-%d.ndjson", i))
		require.NoError(t, os.WriteFile(p, ndjson(i*per, per, false), 0o600))
		paths = append(paths, p)
	}
	cp := filepath.Join(dir, "cp.json")
	args := append([]string{"backfill", "-c", cfgPath, "--index", index, "--checkpoint", cp, "--checkpoint-every", "50ms",
		"--chunk-bytes", "256KiB", "--parallel", "1", "--progress", "json"}, paths...)

	first := exec.Command(bin, args...)
	var firstOut syncBuffer
	first.Stdout, first.Stderr = &firstOut, &firstOut
	require.NoError(t, first.Start())
	exited := make(chan struct{})
	go func() { _ = first.Wait(); close(exited) }()
	var state *file.Checkpoint
	require.Eventually(t, func() bool {
		select {
		case <-exited:
			require.FailNow(t, "weir backfill exited early", firstOut.String())
		default:
		}
		c, err := file.LoadCheckpoint(cp)
		if err != nil {
			return false
		}
		state = c
		return len(c.Done) >= 1 && len(c.Partial) == 1
	}, 60*time.Second, 10*time.Millisecond, "no finished and partial file in the checkpoint")
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	<-exited
	c, err := file.LoadCheckpoint(cp)
	require.NoError(t, err)
	state = c
	require.Less(t, len(state.Done), files, "killed mid-way:\n%s", firstOut.String())
	var partialName string
	var partial file.Partial
	for k, v := range state.Partial {
		partialName, partial = k, v
	}
	t.Logf("killed with %d files done and %s at offset %d (line %d); %d documents indexed so far",
		len(state.Done), filepath.Base(partialName), partial.Offset, partial.Line, os_.count(index))

	start := time.Now()
	second := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	second.Stdout, second.Stderr = &stdout, &stderr
	err = second.Run()
	require.NoError(t, err, "the re-run exits 0:\n%s", stderr.String())
	sum := parseSummary(t, stdout.String(), stderr.String())
	elapsed := time.Since(start)
	assert.Equal(t, "ok", sum.Status)
	assert.EqualValues(t, len(state.Done), sum.Inputs.Skipped, "finished files are skipped")
	assert.EqualValues(t, 1, sum.Inputs.Resumed)
	assert.EqualValues(t, files-len(state.Done), sum.Inputs.Done)
	assert.Less(t, sum.Documents, int64(total-len(state.Done)*per), "the partial file resumed from its offset")
	assert.Equal(t, total, os_.count(index), "every document exactly once")
	t.Logf("re-run: %d documents in %s (%.0f docs/s)", sum.Documents, elapsed.Round(time.Millisecond), sum.DocsPerSecond)

	// Line numbers continued from the checkpoint: the first document after the offset has
	// the _id of its true line in the file.
	line := int(partial.Line) + 1
	base := 0
	for i, p := range paths {
		if p == partialName {
			base = i * per
		}
	}
	st, res := os_.do("POST", "/"+index+"/_search", map[string]any{"query": map[string]any{"term": map[string]any{"n": base + line - 1}}})
	require.Equal(t, 200, st)
	hits := res["hits"].(map[string]any)["hits"].([]any)
	require.Len(t, hits, 1)
	assert.Equal(t, opensearch.PositionID(file.SourceName, partialName, int64(line)), hits[0].(map[string]any)["_id"])
}

// TestBackfillInterruptedExits3: a signal (here, the context) stops reading; what was
// handed over is drained, the checkpoint is written, the exit code is 3, and the next run
// finishes the job with every document once.
func TestBackfillInterruptedExits3(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	t.Parallel()
	os_ := osClient{t, osURL}
	index := uniqueIndex(t, "e2e-backfill-stop")
	t.Cleanup(func() { os_.do("DELETE", "/"+index, nil) })
	cfgPath, dir := backfillYAML(t, osURL, "", ", flush_documents: 100, max_in_flight: 1, adaptive: {enabled: false}", ", queue_bytes: 2MiB")
	total := testenv.Size(50_000, 10_000)
	p := filepath.Join(dir, "big.ndjson.gz")
	require.NoError(t, os.WriteFile(p, gz(t, ndjson(0, total, false)), 0o600))
	cp := filepath.Join(dir, "cp.json")
	args := []string{"-c", cfgPath, "--index", index, "--checkpoint", cp, "--checkpoint-every", "20ms", "--chunk-bytes", "128KiB", "--progress", "none", p}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if c, err := file.LoadCheckpoint(cp); err == nil && len(c.Partial) == 1 {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var out, errb bytes.Buffer
	code := runBackfill(ctx, args, nil, strings.NewReader(""), &out, &errb)
	require.Equal(t, exitUndelivered, code, errb.String())
	sum := parseSummary(t, out.String(), errb.String())
	assert.Equal(t, "interrupted", sum.Status)
	assert.Empty(t, sum.Failures, "a stop is not a failure")
	c, err := file.LoadCheckpoint(cp)
	require.NoError(t, err)
	require.Len(t, c.Partial, 1, "the final checkpoint keeps the partial file")
	for _, part := range c.Partial {
		assert.True(t, part.Gzip)
		assert.Less(t, part.Line, int64(total))
	}

	code, sum, errOut := backfillRun(t, nil, args...)
	require.Equal(t, exitOK, code, errOut)
	assert.EqualValues(t, 1, sum.Inputs.Resumed)
	assert.Equal(t, total, os_.count(index))
}
