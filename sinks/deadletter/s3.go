package deadletter

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/weir-ingest/weir/pipeline"
)

// S3Client is the part of the S3 API the destination uses (*s3.Client has it).
type S3Client interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// S3 writes each batch of dead letters as one NDJSON object (the file's format) under a
// prefix, keyed by hour so that a person can list a time range:
// PREFIX/2026/11/25/10/20261125T101502.123Z-1a2b3c4d.ndjson. An object per write keeps the
// write synchronous (the source acknowledges right after it), at the cost of many small
// objects when many documents fail one by one.
type S3 struct {
	client S3Client
	bucket string
	prefix string
	now    func() time.Time
}

var _ Destination = (*S3)(nil)

// ParseS3URI splits s3://bucket/prefix into the bucket and a prefix that is empty or ends
// in "/".
func ParseS3URI(uri string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("must look like s3://bucket/prefix/, got %q", uri)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if len(bucket) < 3 || len(bucket) > 63 || strings.ContainsAny(bucket, " _/") || strings.ToLower(bucket) != bucket {
		return "", "", fmt.Errorf("must look like s3://bucket/prefix/ with a valid bucket name, got %q", uri)
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return bucket, prefix, nil
}

// NewS3 returns a destination writing under uri (s3://bucket/prefix/).
func NewS3(client S3Client, uri string) (*S3, error) {
	bucket, prefix, err := ParseS3URI(uri)
	if err != nil {
		return nil, err
	}
	return &S3{client: client, bucket: bucket, prefix: prefix, now: time.Now}, nil
}

// Name implements Destination.
func (*S3) Name() string { return "s3" }

// WriteDeadLetters puts the letters as one object and returns once S3 has it.
func (s *S3) WriteDeadLetters(ctx context.Context, letters []pipeline.DeadLetter) error {
	var buf bytes.Buffer
	for i := range letters {
		if err := encodeLine(&buf, &letters[i], s.now); err != nil {
			return err
		}
	}
	key := s.key(s.now().UTC())
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(buf.Bytes()),
		ContentLength: aws.Int64(int64(buf.Len())),
		ContentType:   aws.String("application/x-ndjson"),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}

func (s *S3) key(t time.Time) string {
	return fmt.Sprintf("%s%s/%s-%08x.ndjson", s.prefix, t.Format("2006/01/02/15"), t.Format("20060102T150405.000Z"), rand.Uint32())
}
