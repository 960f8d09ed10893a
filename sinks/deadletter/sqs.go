package deadletter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/weir-ingest/weir/pipeline"
)

// SQS limits: ten entries and 256 KiB per SendMessageBatch call, 256 KiB per message.
const (
	sqsMaxBatchEntries = 10
	sqsMaxBatchBytes   = 256 << 10
	sqsMaxMessageBytes = 256 << 10
	// sqsEntryAttempts is how often an entry SQS refused (not for the sender's fault) is
	// sent; the SDK already retries whole calls on throttling and network errors.
	sqsEntryAttempts = 3
)

// SQSClient is the part of the SQS API the destination uses (*sqs.Client has it).
type SQSClient interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// SQS sends each dead letter as one message whose body is the file's NDJSON line (without
// the newline). A consumer, or `weir dlq` after writing bodies to a file, reads them back.
type SQS struct {
	client   SQSClient
	queueURL string
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
}

var _ Destination = (*SQS)(nil)

// NewSQS returns a destination sending to queueURL.
func NewSQS(client SQSClient, queueURL string) (*SQS, error) {
	if err := validQueueURL(queueURL); err != nil {
		return nil, err
	}
	return &SQS{client: client, queueURL: queueURL, now: time.Now, sleep: pipeline.Sleep}, nil
}

// Name implements Destination.
func (*SQS) Name() string { return "sqs" }

// WriteDeadLetters sends every letter and returns once SQS accepted them all.
func (q *SQS) WriteDeadLetters(ctx context.Context, letters []pipeline.DeadLetter) error {
	bodies := make([]string, len(letters))
	var buf bytes.Buffer
	for i := range letters {
		buf.Reset()
		if err := encodeLine(&buf, &letters[i], q.now); err != nil {
			return err
		}
		if buf.Len() > sqsMaxMessageBytes {
			// The document does not fit a message; the file (and S3) keep it whole, and the
			// message still tells which document failed and why.
			l := letters[i]
			l.Doc = []byte(fmt.Sprintf("[document of %d bytes omitted: over the SQS message size limit; it is in the dead-letter file]", len(l.Doc)))
			buf.Reset()
			if err := encodeLine(&buf, &l, q.now); err != nil {
				return err
			}
		}
		bodies[i] = strings.TrimSuffix(buf.String(), "\n")
	}
	for start := 0; start < len(bodies); {
		end, size := start, 0
		for end < len(bodies) && end-start < sqsMaxBatchEntries && size+len(bodies[end]) <= sqsMaxBatchBytes {
			size += len(bodies[end])
			end++
		}
		if err := q.sendBatch(ctx, bodies[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// sendBatch sends up to ten bodies, sending again the entries SQS failed on its side.
func (q *SQS) sendBatch(ctx context.Context, bodies []string) error {
	// pending holds the indexes into bodies not yet accepted, in order; an entry's Id is its index.
	pending := make([]int, len(bodies))
	for i := range pending {
		pending[i] = i
	}
	var last error
	for attempt := 0; attempt < sqsEntryAttempts && len(pending) > 0; attempt++ {
		if attempt > 0 {
			// Full jitter: failed entries of many writers do not come back in step.
			if err := q.sleep(ctx, time.Duration(rand.Int64N(int64(100*time.Millisecond)<<attempt))); err != nil {
				return err
			}
		}
		in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.queueURL)}
		for _, i := range pending {
			in.Entries = append(in.Entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(bodies[i])})
		}
		out, err := q.client.SendMessageBatch(ctx, in)
		if err != nil {
			return fmt.Errorf("send to %s: %w", q.queueURL, err)
		}
		sent := make(map[string]bool, len(out.Successful))
		for _, s := range out.Successful {
			sent[aws.ToString(s.Id)] = true
		}
		pending = slices.DeleteFunc(pending, func(i int) bool { return sent[strconv.Itoa(i)] })
		for _, f := range out.Failed {
			last = fmt.Errorf("send to %s: %s: %s", q.queueURL, aws.ToString(f.Code), aws.ToString(f.Message))
			if f.SenderFault {
				// The same entry would be refused again.
				return last
			}
		}
	}
	if len(pending) > 0 {
		if last == nil {
			last = errors.New("entries neither sent nor failed")
		}
		return fmt.Errorf("%d of %d dead letters not sent: %w", len(pending), len(bodies), last)
	}
	return nil
}

func validQueueURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return fmt.Errorf("must be a queue URL such as https://sqs.eu-west-1.amazonaws.com/123456789012/weir-dead-letters, got %q", s)
	}
	return nil
}
