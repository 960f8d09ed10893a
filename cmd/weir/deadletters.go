package main

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/weir-ingest/weir/sinks/deadletter"
)

// deadLetters builds the dead-letter sink: the file always, plus the SQS queue and the S3
// prefix when dead_letter.sqs_queue_url and dead_letter.s3_uri are set, with weir's one
// AWS identity.
func (d *daemon) deadLetters() (*deadletter.Multi, error) {
	c := d.cfg.DeadLetter
	file, err := deadletter.NewFile(c, deadletter.WithLogger(d.log), deadletter.WithRegisterer(d.reg))
	if err != nil {
		return nil, err
	}
	var dests []deadletter.Destination
	if c.SQSQueueURL != "" || c.S3URI != "" {
		_, awsCfg, err := d.aws(context.Background())
		if err != nil {
			return nil, err
		}
		if c.SQSQueueURL != "" {
			q, err := deadletter.NewSQS(sqs.NewFromConfig(awsCfg), c.SQSQueueURL)
			if err != nil {
				return nil, err
			}
			dests = append(dests, q)
		}
		if c.S3URI != "" {
			// Path-style addressing when an endpoint override (moto, LocalStack) has no
			// per-bucket host names.
			pathStyle := d.cfg.AWS.EndpointURL != ""
			b, err := deadletter.NewS3(s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }), c.S3URI)
			if err != nil {
				return nil, err
			}
			dests = append(dests, b)
		}
		d.log.Info("dead letters also go to", "sqs_queue_url", c.SQSQueueURL, "s3_uri", c.S3URI)
	}
	return deadletter.NewMulti(file, dests, deadletter.WithMultiRegisterer(d.reg)), nil
}
