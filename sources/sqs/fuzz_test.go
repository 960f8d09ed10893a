package sqs

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/weir-ingest/weir/pipeline"
)

// FuzzParseMessage: no body makes the parser panic; an error is always errInvalidMessage;
// documents are sub-slices of the body they came from (the SNS Message's own buffer when
// unwrapped), with offsets that only grow; S3 objects name a bucket and a key.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, "{\"a\":1}\n{\"a\":2}\n", `[{"a":1},{"b":[1,2]}]`, `[]`, ``, `x`, `{"a":`, "{bad\n{\"a\":1}",
		`{"Type":"Notification","TopicArn":"arn","Message":"{\"n\":1}\n{\"n\":2}"}`,
		`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a+b%2F.gz"}}}]}`,
		`{"Event":"s3:TestEvent","Records":"aws:s3"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseMessage(body)
		if err != nil {
			if !errors.Is(err, errInvalidMessage) {
				t.Fatalf("error is not errInvalidMessage: %v", err)
			}
			return
		}
		switch p.kind {
		case bodyS3:
			for _, o := range p.objects {
				if o.Bucket == "" || o.Key == "" {
					t.Fatalf("object without bucket or key: %+v", o)
				}
			}
		case bodyDocs:
			recs := frameDocs(p.docs, p.framing, pipeline.Record{})
			last := int64(-1)
			for _, r := range recs {
				if !within(p.docs, r.Doc) {
					t.Fatalf("document %q is not a slice of the body", r.Doc)
				}
				if r.Offset <= last {
					t.Fatalf("offsets do not grow: %d after %d", r.Offset, last)
				}
				last = r.Offset
			}
			if p.framing != framingNDJSON {
				for _, r := range recs {
					if _, err := validator.Scan(r.Doc); err != nil && p.framing == framingSingle {
						t.Fatalf("a single document that does not validate: %v", err)
					}
				}
			}
		}
	})
}

// within reports whether sub lies inside buf's memory.
func within(buf, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	b0 := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	s0 := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	return s0 >= b0 && s0+uintptr(len(sub)) <= b0+uintptr(len(buf))
}
