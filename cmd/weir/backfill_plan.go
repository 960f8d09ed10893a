package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/sources/file"
)

// planBatch is SendMessageBatch's limit of messages per call.
const planBatch = 10

// planSendAttempts bounds the tries of a message SQS refuses for a reason of its own
// (throttling, an internal error) rather than for the message.
const planSendAttempts = 6

// s3Event is the S3 event notification S3 itself sends to SQS, which the SQS source reads:
// a plan is indistinguishable from the bucket's own notifications.
type s3Event struct {
	Records []s3EventRecord `json:"Records"`
}

type s3EventRecord struct {
	EventVersion string `json:"eventVersion"`
	EventSource  string `json:"eventSource"`
	AWSRegion    string `json:"awsRegion"`
	EventTime    string `json:"eventTime"`
	EventName    string `json:"eventName"`
	S3           s3Info `json:"s3"`
}

type s3Info struct {
	SchemaVersion   string   `json:"s3SchemaVersion"`
	ConfigurationID string   `json:"configurationId"`
	Bucket          s3Bucket `json:"bucket"`
	Object          s3Obj    `json:"object"`
}

type s3Bucket struct {
	Name string `json:"name"`
	ARN  string `json:"arn"`
}

type s3Obj struct {
	// Key is URL-encoded as S3 encodes it in notifications ('+' for a space, '/' kept).
	Key  string `json:"key"`
	Size int64  `json:"size"`
	ETag string `json:"eTag,omitempty"`
}

// eventKey encodes an object key the way S3 event notifications do.
func eventKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

// planMessage is the notification for one object.
func planMessage(in file.Input, region string, now time.Time) ([]byte, error) {
	ev := s3Event{Records: []s3EventRecord{{
		EventVersion: "2.1",
		EventSource:  "aws:s3",
		AWSRegion:    region,
		EventTime:    now.UTC().Format("2006-01-02T15:04:05.000Z"),
		EventName:    "ObjectCreated:Put",
		S3: s3Info{
			SchemaVersion:   "1.0",
			ConfigurationID: "weir-backfill-plan",
			Bucket:          s3Bucket{Name: in.Bucket, ARN: "arn:aws:s3:::" + in.Bucket},
			Object:          s3Obj{Key: eventKey(in.Key), Size: in.Size, ETag: in.ETag},
		},
	}}}
	return json.Marshal(ev)
}

// planResult is what weir backfill plan prints as JSON.
type planResult struct {
	Queue    string           `json:"queue"`
	Objects  int              `json:"objects"`
	Bytes    int64            `json:"bytes"`
	Messages int              `json:"messages"`
	Calls    int              `json:"send_message_batch_calls"`
	Failed   []file.Failure   `json:"failed,omitempty"`
	Duration float64          `json:"duration_seconds"`
	sqs      sqsBatchSender   `json:"-"`
	region   string           `json:"-"`
	fifo     bool             `json:"-"`
	now      func() time.Time `json:"-"`
	sleep    func(context.Context, time.Duration) error
}

// sqsBatchSender is what a plan calls of SQS (*awssqs.Client).
type sqsBatchSender interface {
	SendMessageBatch(ctx context.Context, in *awssqs.SendMessageBatchInput, opts ...func(*awssqs.Options)) (*awssqs.SendMessageBatchOutput, error)
}

func runBackfillPlan(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("weir backfill plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bf backfillFlags
	bf.register(fs, true)
	fs.Usage = func() {
		fmt.Fprint(stderr, backfillUsage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	uris, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	var problems []error
	if len(uris) == 0 {
		problems = append(problems, errors.New("name at least one s3://BUCKET/PREFIX"))
	}
	for _, u := range uris {
		if _, _, err := file.ParseS3URI(u); err != nil {
			problems = append(problems, err)
		}
	}
	if bf.queue == "" {
		problems = append(problems, errors.New("--queue QUEUE_URL is required"))
	} else if u, err := url.Parse(bf.queue); err != nil || u.Host == "" {
		problems = append(problems, fmt.Errorf("--queue %q: not a queue URL", bf.queue))
	}
	if err := errors.Join(problems...); err != nil {
		fmt.Fprintf(stderr, "weir backfill plan: %v\n\n%s", err, backfillUsage)
		return exitUsage
	}
	cfg, err := loadBackfillConfig(&bf.cf, environ, true)
	if err != nil {
		fmt.Fprintf(stderr, "weir: invalid configuration:\n%s\n", indent(err.Error()))
		return exitUsage
	}
	log := newLogger(cfg.Log, stderr)
	// Only the AWS identity of the daemon is needed: nothing else is built or started.
	d := &daemon{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	_, awsCfg, err := d.aws(ctx)
	if err != nil {
		log.Error("cannot build the AWS identity", "err", err)
		return exitError
	}
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = awsCfg.BaseEndpoint != nil })
	objs, err := file.Expand(ctx, uris, s3c)
	if err != nil {
		fmt.Fprintf(stderr, "weir backfill plan: %v\n", err)
		return exitError
	}
	qcfg := awsCfg.Copy()
	if qcfg.Region == "" {
		qcfg.Region = sqsRegion(bf.queue)
	}
	start := time.Now()
	res := &planResult{Queue: bf.queue, sqs: awssqs.NewFromConfig(qcfg), region: awsCfg.Region,
		fifo: strings.HasSuffix(bf.queue, ".fifo"), now: time.Now, sleep: pipeline.Sleep}
	err = res.send(ctx, objs)
	res.Duration = time.Since(start).Seconds()
	fmt.Fprintf(stderr, "planned %d objects (%.1f MB) into %s: %d messages in %d SendMessageBatch calls, %d failed\n",
		res.Objects, float64(res.Bytes)/1e6, res.Queue, res.Messages, res.Calls, len(res.Failed))
	b, _ := json.Marshal(map[string]*planResult{"plan": res})
	fmt.Fprintln(stdout, string(b))
	if err != nil {
		fmt.Fprintf(stderr, "weir backfill plan: %v\n", err)
		return exitError
	}
	if len(res.Failed) > 0 {
		return exitError
	}
	return exitOK
}

// send enqueues one notification per object, ten per SendMessageBatch call. Entries SQS
// refuses for its own reasons are sent again with backoff; entries refused for themselves
// (SenderFault) are reported.
func (p *planResult) send(ctx context.Context, objs []file.Input) error {
	for start := 0; start < len(objs); start += planBatch {
		batch := objs[start:min(start+planBatch, len(objs))]
		pending := map[string]file.Input{}
		entries := make([]sqstypes.SendMessageBatchRequestEntry, 0, len(batch))
		for i, o := range batch {
			body, err := planMessage(o, p.region, p.now())
			if err != nil {
				return err
			}
			id := strconv.Itoa(i)
			e := sqstypes.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(string(body))}
			if p.fifo {
				// One group per object spreads the work over consumers; the deduplication id
				// makes a re-run of the same plan within five minutes a no-op.
				sum := sha256.Sum256([]byte(o.Name + "#" + o.ETag))
				e.MessageGroupId = aws.String(hex.EncodeToString(sum[:8]))
				e.MessageDeduplicationId = aws.String(hex.EncodeToString(sum[:]))
			}
			entries = append(entries, e)
			pending[id] = o
		}
		for attempt := 1; len(entries) > 0; attempt++ {
			p.Calls++
			out, err := p.sqs.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(p.Queue), Entries: entries})
			if err != nil {
				if ctx.Err() != nil || attempt >= planSendAttempts {
					return fmt.Errorf("send message batch: %w", err)
				}
				if err := p.sleep(ctx, planBackoff(attempt)); err != nil {
					return err
				}
				continue
			}
			for _, ok := range out.Successful {
				o := pending[aws.ToString(ok.Id)]
				p.Objects++
				p.Messages++
				p.Bytes += o.Size
				delete(pending, aws.ToString(ok.Id))
			}
			var retry []sqstypes.SendMessageBatchRequestEntry
			for _, f := range out.Failed {
				id := aws.ToString(f.Id)
				if f.SenderFault || attempt >= planSendAttempts {
					p.Failed = append(p.Failed, file.Failure{Input: pending[id].Name, Error: aws.ToString(f.Code) + ": " + aws.ToString(f.Message)})
					delete(pending, id)
					continue
				}
				for _, e := range entries {
					if aws.ToString(e.Id) == id {
						retry = append(retry, e)
					}
				}
			}
			entries = retry
			if len(entries) > 0 {
				if err := p.sleep(ctx, planBackoff(attempt)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// planBackoff is full-jitter exponential backoff from 200ms, capped at 10s.
func planBackoff(attempt int) time.Duration {
	d := min(200*time.Millisecond<<attempt, 10*time.Second)
	return time.Duration(rand.Int64N(int64(d)) + 1)
}
