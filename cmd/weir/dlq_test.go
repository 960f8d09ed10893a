package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/auth"
	"github.com/weir-ingest/weir/bench/nullbulk"
	"github.com/weir-ingest/weir/internal/testenv"
	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/sinks/deadletter"
)

// writeLetters writes letters to a fresh dead-letter file the way weir does.
func writeLetters(t *testing.T, path string, letters ...pipeline.DeadLetter) {
	t.Helper()
	cfg := deadletter.DefaultConfig()
	cfg.Path = path
	f, err := deadletter.NewFile(cfg)
	require.NoError(t, err)
	require.NoError(t, f.WriteDeadLetters(context.Background(), letters))
	require.NoError(t, f.Shutdown(context.Background()))
}

func readLetters(t *testing.T, path string) []deadletter.Entry {
	t.Helper()
	var es []deadletter.Entry
	require.NoError(t, deadletter.Read(path, func(e deadletter.Entry) error { es = append(es, e); return nil }))
	return es
}

func letter(index, reason string, status int, doc string, at time.Time) pipeline.DeadLetter {
	return pipeline.DeadLetter{Time: at, Source: "http", Key: "req-1", Index: index, Status: status,
		Reason: reason, Error: reason + ": failed to parse field [n]", Attempts: 1, Doc: []byte(doc)}
}

func TestDLQInspectSummarizesByReasonAndIndex(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dead.ndjson")
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	writeLetters(t, path,
		letter("logs-a", "mapper_parsing_exception", 400, `{"n":"x"}`, t0),
		letter("logs-a", "mapper_parsing_exception", 400, `{"n":"y"}`, t0.Add(time.Minute)),
		letter("logs-b", "mapper_parsing_exception", 400, `{"n":"z"}`, t0.Add(2*time.Minute)),
		letter("logs-b", "invalid_json", 400, `{"broken`, t0.Add(3*time.Minute)),
	)

	code, out, errOut := runCmd(t, "dlq", "inspect", "--json", path)
	require.Equal(t, exitOK, code, errOut)
	var s struct {
		Total   int
		First   time.Time
		Last    time.Time
		Reasons []struct {
			Reason      string
			Count       int
			First, Last time.Time
			Indices     map[string]int
			SampleError string `json:"sample_error"`
		}
		Indices []struct {
			Index   string
			Count   int
			Reasons map[string]int
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &s), out)
	assert.Equal(t, 4, s.Total)
	assert.Equal(t, t0, s.First)
	assert.Equal(t, t0.Add(3*time.Minute), s.Last)
	require.Len(t, s.Reasons, 2)
	assert.Equal(t, "mapper_parsing_exception", s.Reasons[0].Reason, "largest first")
	assert.Equal(t, 3, s.Reasons[0].Count)
	assert.Equal(t, t0.Add(2*time.Minute), s.Reasons[0].Last)
	assert.Equal(t, map[string]int{"logs-a": 2, "logs-b": 1}, s.Reasons[0].Indices)
	assert.Contains(t, s.Reasons[0].SampleError, "failed to parse field")
	require.Len(t, s.Indices, 2)
	assert.Equal(t, map[string]int{"mapper_parsing_exception": 1, "invalid_json": 1}, s.Indices[1].Reasons)

	code, out, _ = runCmd(t, "dlq", "inspect", path)
	require.Equal(t, exitOK, code)
	for _, want := range []string{"4 dead letters", "REASON", "mapper_parsing_exception  3", "INDEX", "logs-b", "invalid_json=1"} {
		assert.Contains(t, out, want)
	}

	// A torn last line (a crash mid-write) is reported; what came before is still summarized.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, _ = f.WriteString(`{"time":"2026-11-25T10:`)
	require.NoError(t, f.Close())
	code, out, errOut = runCmd(t, "dlq", "inspect", path)
	assert.Equal(t, exitError, code)
	assert.Contains(t, out, "4 dead letters")
	assert.Contains(t, errOut, "line 5")

	code, _, _ = runCmd(t, "dlq", "inspect")
	assert.Equal(t, exitUsage, code)
	code, _, _ = runCmd(t, "dlq", "frobnicate")
	assert.Equal(t, exitUsage, code)
}

// replayArgs points the bundled configuration at url, quickly flushed.
func replayArgs(url string, more ...string) []string {
	return append([]string{"dlq", "replay", "--set", "opensearch.urls=" + url, "--set", "opensearch.flush_interval=50ms",
		"--set", "control.listen=127.0.0.1:0", "--set", "sources.http.listen=127.0.0.1:0"}, more...)
}

// TestDLQReplayAgainstNullReceiver checks the bookkeeping without a node: what the receiver
// accepts leaves the file, what it refuses stays with its new reason, and the rest of
// the entry is kept.
func TestDLQReplayAgainstNullReceiver(t *testing.T) {
	t.Parallel()
	recv := nullbulk.New(nullbulk.WithItems(func(_ int64, _ int, _, doc []byte) (int, string) {
		if bytes.Contains(doc, []byte("still-bad")) {
			return 400, "mapper_parsing_exception"
		}
		return 201, ""
	}))
	srv := httptest.NewServer(recv)
	defer srv.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "dead.ndjson")
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var letters []pipeline.DeadLetter
	for i := range 1200 { // more than one submission
		letters = append(letters, letter("logs-a", "mapper_parsing_exception", 400, `{"n":"fixed","i":`+itoa(i)+`}`, t0))
	}
	still := letter("logs-a", "mapper_parsing_exception", 400, `{"n":"still-bad"}`, t0)
	still.ID = `id-"quoted"`
	letters = append(letters, still, letter("", "invalid_json", 400, `{"broken`, t0))
	writeLetters(t, path, letters...)
	require.NoError(t, os.Chmod(path, 0o640))

	code, out, errOut := runCmd(t, replayArgs(srv.URL, "--index", "logs-fixed", path)...)
	assert.Equal(t, exitError, code, errOut)
	assert.Contains(t, out, "1202 dead letters: 1200 indexed, 2 refused again (invalid_json=1 mapper_parsing_exception=1), 0 not delivered; the file now holds 2")
	assert.EqualValues(t, 1201, recv.Documents(), "the invalid document never reaches the node")

	left := readLetters(t, path)
	require.Len(t, left, 2)
	byReason := map[string]deadletter.Entry{}
	for _, e := range left {
		byReason[e.Reason] = e
	}
	assert.Equal(t, "logs-fixed", byReason["mapper_parsing_exception"].Index, "refused again on the new index")
	assert.Equal(t, `id-"quoted"`, byReason["mapper_parsing_exception"].ID, "ids survive the round trip")
	assert.Equal(t, "req-1", byReason["mapper_parsing_exception"].Key, "origin kept")
	doc, err := byReason["invalid_json"].Document()
	require.NoError(t, err)
	assert.Equal(t, `{"broken`, string(doc))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm(), "the rewrite keeps the file's mode")
	tmps, _ := filepath.Glob(filepath.Join(dir, ".dead.ndjson.*"))
	assert.Empty(t, tmps, "no temporary files left behind")

	code, out, _ = runCmd(t, replayArgs(srv.URL, path)...)
	assert.Equal(t, exitError, code)
	assert.Contains(t, out, "2 dead letters: 0 indexed")
}

// TestDLQReplayKeepsWhatWasNotDelivered: with the node down, a replay that gives up leaves
// every dead letter in the file as it was.
func TestDLQReplayKeepsWhatWasNotDelivered(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "dead.ndjson")
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	writeLetters(t, path,
		letter("logs-a", "mapper_parsing_exception", 400, `{"n":1}`, t0),
		letter("logs-a", "retries_exhausted", 503, `{"n":2}`, t0))
	before := readLetters(t, path)

	start := time.Now()
	code, out, errOut := runCmd(t, replayArgs(srv.URL, "--timeout", "1s", path)...)
	assert.Equal(t, exitError, code, errOut)
	assert.Less(t, time.Since(start), 20*time.Second)
	assert.Contains(t, out, "2 dead letters: 0 indexed, 0 refused again, 2 not delivered; the file now holds 2")
	assert.Equal(t, before, readLetters(t, path), "kept exactly as they were")
}

func TestDLQReplayLeavesAFileThatIsWrittenMeanwhile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "dead.ndjson")
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	writeLetters(t, path, letter("logs-a", "mapper_parsing_exception", 400, `{"n":1}`, t0))
	// The receiver appends to the file while the replay runs, as a live weir would.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "_bulk") {
			writeLetters(t, path, letter("logs-a", "invalid_json", 400, `{"x`, t0))
		}
		nullbulk.New().ServeHTTP(w, r)
	}))
	defer srv.Close()
	code, _, errOut := runCmd(t, replayArgs(srv.URL, path)...)
	assert.Equal(t, exitError, code)
	assert.Contains(t, errOut, "changed while it was replayed")
	assert.Len(t, readLetters(t, path), 2, "left as it was, with what was appended")
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestDLQReplayAfterMappingFix is the proof against the real node: a mapping
// conflict is dead-lettered by a running weir, a replay onto the same index fails again and
// keeps it, and after the fix (a new index whose mapping takes the value) a replay with
// --index indexes it and empties the file.
func TestDLQReplayAfterMappingFix(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	os := osClient{t, osURL}
	index := uniqueIndex(t, "dlq-replay")
	fixed := index + "-v2"
	mapping := func(typ string) map[string]any {
		return map[string]any{"mappings": map[string]any{"properties": map[string]any{"n": map[string]any{"type": typ}}}}
	}
	st, out := os.do("PUT", "/"+index, mapping("long"))
	require.Equal(t, 200, st, "%v", out)
	defer os.do("DELETE", "/"+index, nil)
	defer os.do("DELETE", "/"+fixed, nil)

	cfg := testConfig(t, osURL, "sync")
	cfg.Pipeline.IDField = "id"
	d, base := startDaemon(t, cfg)
	body := `{"id":"a","n":1}` + "\n" + `{"id":"b","n":"12-b"}` + "\n" + `{"id":"c","n":"13-c"}` + "\n"
	st, out = post(t, base+"/v1/ingest/"+index, []byte(body))
	require.Equal(t, 200, st, "%v", out)
	require.EqualValues(t, 2, out["dead_lettered"], "%v", out)
	_, err := d.shutdown(context.Background())
	require.NoError(t, err)
	path := cfg.DeadLetter.Path

	code, sout, errOut := runCmd(t, "dlq", "inspect", "--json", path)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, sout, `"total": 2`)
	assert.Regexp(t, `"reason": "(mapper|document)_parsing_exception"`, sout)
	assert.Contains(t, sout, `"`+index+`": 2`)

	// Unfixed: refused again, kept, exit 1.
	code, sout, errOut = runCmd(t, replayArgs(osURL, path)...)
	require.Equal(t, exitError, code, errOut)
	assert.Contains(t, sout, "2 dead letters: 0 indexed, 2 refused again")
	assert.Len(t, readLetters(t, path), 2)

	// The fix: a new index that maps n as a keyword; replay there.
	st, out = os.do("PUT", "/"+fixed, mapping("keyword"))
	require.Equal(t, 200, st, "%v", out)
	code, sout, errOut = runCmd(t, replayArgs(osURL, "--index", fixed, path)...)
	require.Equal(t, exitOK, code, "%s\n%s", sout, errOut)
	assert.Contains(t, sout, "2 dead letters: 2 indexed, 0 refused again, 0 not delivered; the file now holds 0")
	info, err := osStat(path)
	require.NoError(t, err)
	assert.Zero(t, info.Size(), "the file is emptied")
	assert.Equal(t, 2, os.count(fixed))
	st, out = os.do("GET", "/"+fixed+"/_doc/b", nil)
	require.Equal(t, 200, st, "%v", out)
	assert.Equal(t, "12-b", out["_source"].(map[string]any)["n"], "the document, under its id")
}

var osStat = os.Stat

// TestDeadLettersAlsoGoToSQSAndS3: with dead_letter.sqs_queue_url and dead_letter.s3_uri
// set, the daemon's dead letters reach the file, the queue and the bucket (moto), signed
// with weir's one AWS identity.
func TestDeadLettersAlsoGoToSQSAndS3(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	endpoint := testenv.AWS(t)
	ctx := context.Background()
	awsCfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	sqsc := sqs.NewFromConfig(awsCfg)
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	name := fmt.Sprintf("weir-e2e-dead-%d", time.Now().UnixNano())
	qo, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	require.NoError(t, err)
	_, err = s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	require.NoError(t, err)

	cfg := testConfig(t, osURL, "sync")
	cfg.AWS.Region = "us-east-1"
	cfg.AWS.EndpointURL = endpoint
	cfg.AWS.Credentials.Provider = auth.ProviderStatic
	cfg.AWS.Credentials.AccessKeyID = "test"
	cfg.AWS.Credentials.SecretAccessKey = "test"
	cfg.DeadLetter.SQSQueueURL = *qo.QueueUrl
	cfg.DeadLetter.S3URI = "s3://" + name + "/weir/"
	d, base := startDaemon(t, cfg)
	st, out := post(t, base+"/v1/ingest/"+uniqueIndex(t, "e2e-dead"), []byte(`{"broken`+"\n"))
	require.Equal(t, 200, st, "%v", out)
	require.EqualValues(t, 1, out["dead_lettered"], "%v", out)
	_, err = d.shutdown(ctx)
	require.NoError(t, err)

	require.Len(t, readLetters(t, cfg.DeadLetter.Path), 1)
	msgs, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: qo.QueueUrl, WaitTimeSeconds: 1})
	require.NoError(t, err)
	require.Len(t, msgs.Messages, 1)
	assert.Contains(t, *msgs.Messages[0].Body, `"reason":"invalid_json"`)
	list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(name), Prefix: aws.String("weir/")})
	require.NoError(t, err)
	assert.Len(t, list.Contents, 1)
}
