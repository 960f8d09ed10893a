package sqs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/weir-ingest/weir/pipeline"
	"github.com/weir-ingest/weir/pipeline/docscan"
)

// errInvalidMessage marks a message body that holds nothing weir can index: the message is
// dead-lettered whole and deleted, since delivering it again would not change it.
var errInvalidMessage = errors.New("invalid message")

// bodyKind is what a message body turned out to be.
type bodyKind uint8

const (
	// bodyDocs: documents, in the body itself or in the SNS envelope's Message.
	bodyDocs bodyKind = iota
	// bodyS3: an S3 event notification naming objects whose documents are to be indexed.
	bodyS3
	// bodyTestEvent: the s3:TestEvent S3 sends when a notification is configured; there is
	// nothing to index and the message is deleted.
	bodyTestEvent
)

// framing is how documents are laid out in a body or an object; it fixes what Offset means.
type framing uint8

const (
	framingSingle framing = iota // one document; Offset 0
	framingNDJSON                // one per non-blank line; Offset = 1-based line
	framingArray                 // one per element; Offset = 0-based element index
)

// s3Object is one object an S3 event names.
type s3Object struct {
	Bucket string
	// Key is decoded: event notifications URL-encode it, with '+' for a space.
	Key  string
	ETag string
}

// docKey identifies the object's documents (Record.Key). It names the object and its
// content (the ETag), not the message: S3 may notify twice about one object, and both
// notifications then write the same ids, while an object overwritten with new content
// gets new ones.
func (o s3Object) docKey() string {
	k := "s3://" + o.Bucket + "/" + o.Key
	if o.ETag != "" {
		k += "#" + o.ETag
	}
	return k
}

// parsed is a message body, understood.
type parsed struct {
	kind bodyKind
	// docs holds the documents (bodyDocs): the body itself, or the SNS Message.
	docs    []byte
	framing framing
	objects []s3Object // bodyS3
	sns     bool       // the body was an SNS notification envelope
}

// validator checks JSON without extracting anything.
var validator = docscan.Compile(docscan.Spec{})

// parseMessage tells what a message body holds. An SNS notification envelope is unwrapped
// once (raw message delivery off); an S3 event, directly or inside SNS, names objects. Other
// bodies are documents: a JSON array, one JSON object, or NDJSON. The error wraps
// errInvalidMessage when nothing in the body can be indexed.
func parseMessage(body []byte) (parsed, error) {
	return parseBody(body, true)
}

func parseBody(body []byte, allowSNS bool) (parsed, error) {
	start := docscan.SkipSpace(body, 0)
	if start == len(body) {
		return parsed{}, fmt.Errorf("%w: empty body", errInvalidMessage)
	}
	switch body[start] {
	case '[':
		if err := docscan.SplitArray(body, func(int, []byte) error { return nil }); err != nil {
			return parsed{}, fmt.Errorf("%w: malformed JSON array: %v", errInvalidMessage, err)
		}
		return parsed{kind: bodyDocs, docs: body, framing: framingArray}, nil
	case '{':
	default:
		return parsed{}, fmt.Errorf("%w: not JSON (starts with %q)", errInvalidMessage, clip(body[start:], 16))
	}
	if _, err := validator.Scan(body); err != nil {
		// Not one object: NDJSON, if its first document is valid JSON. A body that is
		// broken from its first line is refused whole rather than as a pile of fragments.
		first := firstLine(body)
		if _, ferr := validator.Scan(first); ferr != nil || len(first) == len(body) {
			return parsed{}, fmt.Errorf("%w: %v", errInvalidMessage, err)
		}
		return parsed{kind: bodyDocs, docs: body, framing: framingNDJSON}, nil
	}
	if allowSNS && looksLikeSNS(body) {
		var env struct {
			Type     string  `json:"Type"`
			TopicArn string  `json:"TopicArn"`
			Message  *string `json:"Message"`
		}
		if json.Unmarshal(body, &env) == nil && env.Type == "Notification" && env.TopicArn != "" && env.Message != nil {
			p, err := parseBody([]byte(*env.Message), false)
			if err != nil {
				return parsed{}, fmt.Errorf("SNS notification's Message: %w", err)
			}
			p.sns = true
			return p, nil
		}
	}
	if bytes.Contains(body, []byte(`"s3:TestEvent"`)) {
		var ev struct {
			Event string `json:"Event"`
		}
		if json.Unmarshal(body, &ev) == nil && ev.Event == "s3:TestEvent" {
			return parsed{kind: bodyTestEvent}, nil
		}
	}
	if bytes.Contains(body, []byte(`"Records"`)) && bytes.Contains(body, []byte(`"aws:s3"`)) {
		objs, ok, err := parseS3Event(body)
		if err != nil {
			return parsed{}, err
		}
		if ok {
			return parsed{kind: bodyS3, objects: objs}, nil
		}
	}
	return parsed{kind: bodyDocs, docs: body, framing: framingSingle}, nil
}

// looksLikeSNS is a cheap test before decoding: most documents are not envelopes.
func looksLikeSNS(body []byte) bool {
	return bytes.Contains(body, []byte(`"Notification"`)) && bytes.Contains(body, []byte(`"TopicArn"`))
}

// s3Event is the part of an S3 event notification weir reads.
type s3Event struct {
	Records []struct {
		EventSource string `json:"eventSource"`
		EventName   string `json:"eventName"`
		S3          *struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key  string `json:"key"`
				ETag string `json:"eTag"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
}

// parseS3Event reads an S3 event notification. ok is false when body is not one (a document
// that happens to mention aws:s3); an event that names no usable object is an error.
// Records of other events than object creation (removals, restores) are skipped: there is
// nothing to read for them.
func parseS3Event(body []byte) (objs []s3Object, ok bool, err error) {
	var ev s3Event
	if json.Unmarshal(body, &ev) != nil || len(ev.Records) == 0 {
		return nil, false, nil
	}
	for _, r := range ev.Records {
		if r.EventSource != "aws:s3" || r.S3 == nil {
			return nil, false, nil
		}
	}
	for i, r := range ev.Records {
		if r.EventName != "" && !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			continue
		}
		if r.S3.Bucket.Name == "" || r.S3.Object.Key == "" {
			return nil, true, fmt.Errorf("%w: S3 event record %d names no bucket or key", errInvalidMessage, i)
		}
		objs = append(objs, s3Object{Bucket: r.S3.Bucket.Name, Key: decodeKey(r.S3.Object.Key), ETag: strings.Trim(r.S3.Object.ETag, `"`)})
	}
	return objs, true, nil
}

// decodeKey undoes the URL encoding of an object key in an S3 event ('+' is a space). A key
// that does not decode is used as it is: S3 encodes every key it sends, so such a key came
// from elsewhere as plain text.
func decodeKey(k string) string {
	if d, err := url.QueryUnescape(k); err == nil {
		return d
	}
	return k
}

// frameDocs builds the records of a parsed body: one allocation, each Doc a sub-slice of
// body, each copying tmpl. body was checked by parseMessage.
func frameDocs(body []byte, f framing, tmpl pipeline.Record) []pipeline.Record {
	switch f {
	case framingSingle:
		recs := make([]pipeline.Record, 1)
		recs[0] = tmpl
		recs[0].Doc = docscan.TrimSpace(body)
		return recs
	case framingArray:
		n := 0
		_ = docscan.SplitArray(body, func(int, []byte) error { n++; return nil })
		recs := make([]pipeline.Record, 0, n)
		_ = docscan.SplitArray(body, func(i int, elem []byte) error {
			recs = append(recs, tmpl)
			recs[len(recs)-1].Doc = elem
			recs[len(recs)-1].Offset = int64(i)
			return nil
		})
		return recs
	}
	n := 0
	_ = docscan.Lines(body, func(int, []byte) error { n++; return nil })
	recs := make([]pipeline.Record, 0, n)
	_ = docscan.Lines(body, func(no int, line []byte) error {
		recs = append(recs, tmpl)
		recs[len(recs)-1].Doc, recs[len(recs)-1].OneLine = line, true
		recs[len(recs)-1].Offset = int64(no)
		return nil
	})
	return recs
}

// firstLine is the first non-blank line of b, without its line end.
func firstLine(b []byte) []byte {
	var first []byte
	_ = docscan.Lines(b, func(_ int, line []byte) error {
		first = line
		return errStop
	})
	return first
}

var errStop = errors.New("stop")

// clip shortens b for an error message.
func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
