package sqs

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/pipeline"
)

func snsEnvelope(t testing.TB, message string) string {
	b, err := json.Marshal(map[string]any{
		"Type": "Notification", "MessageId": "0c1f", "TopicArn": "arn:aws:sns:us-east-1:123456789012:logs",
		"Message": message, "Timestamp": "2026-11-25T10:00:00.000Z", "SignatureVersion": "1",
	})
	require.NoError(t, err)
	return string(b)
}

func s3EventBody(t testing.TB, objs ...[2]string) string {
	var recs []any
	for _, o := range objs {
		recs = append(recs, map[string]any{
			"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
			"s3": map[string]any{"bucket": map[string]any{"name": o[0]}, "object": map[string]any{"key": o[1], "size": 10, "eTag": "abc"}},
		})
	}
	b, err := json.Marshal(map[string]any{"Records": recs})
	require.NoError(t, err)
	return string(b)
}

func docsOf(t *testing.T, p parsed) []string {
	var out []string
	for _, r := range frameDocs(p.docs, p.framing, pipeline.Record{}) {
		out = append(out, string(r.Doc))
	}
	return out
}

func TestParseMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		body    string
		kind    bodyKind
		docs    []string
		offsets []int64
		objects []s3Object
		invalid bool
	}{
		{name: "single", body: " {\"a\":1}\n", docs: []string{`{"a":1}`}, offsets: []int64{0}},
		{name: "pretty single", body: "{\n  \"a\": 1\n}", docs: []string{"{\n  \"a\": 1\n}"}},
		{name: "ndjson", body: "{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":3}", docs: []string{`{"a":1}`, `{"a":2}`, `{"a":3}`}, offsets: []int64{1, 3, 4}},
		{name: "ndjson with a bad line", body: "{\"a\":1}\n{bad\n", docs: []string{`{"a":1}`, `{bad`}},
		{name: "array", body: `[{"a":1}, {"a":2}]`, docs: []string{`{"a":1}`, `{"a":2}`}, offsets: []int64{0, 1}},
		{name: "empty array", body: `[]`},
		{name: "sns doc", body: snsEnvelope(t, `{"msg":"hi"}`), docs: []string{`{"msg":"hi"}`}},
		{name: "sns ndjson", body: snsEnvelope(t, "{\"n\":1}\n{\"n\":2}\n"), docs: []string{`{"n":1}`, `{"n":2}`}},
		{name: "sns s3", body: snsEnvelope(t, s3EventBody(t, [2]string{"b", "k.gz"})), kind: bodyS3, objects: []s3Object{{Bucket: "b", Key: "k.gz", ETag: "abc"}}},
		{name: "s3 keys decoded", body: s3EventBody(t, [2]string{"b", "logs/a+b%2Bc%3D.ndjson"}, [2]string{"b2", "x%zz"}), kind: bodyS3,
			objects: []s3Object{{Bucket: "b", Key: "logs/a b+c=.ndjson", ETag: "abc"}, {Bucket: "b2", Key: "x%zz", ETag: "abc"}}},
		{name: "s3 removal skipped", kind: bodyS3,
			body: `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`},
		{name: "test event", body: `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-25T10:00:00.000Z","Bucket":"b"}`, kind: bodyTestEvent},
		{name: "cloudtrail-like doc is a document", body: `{"Records":[{"eventSource":"s3.amazonaws.com","x":"aws:s3"}]}`,
			docs: []string{`{"Records":[{"eventSource":"s3.amazonaws.com","x":"aws:s3"}]}`}},
		{name: "notification without topic is a document", body: `{"Type":"Notification","Message":"x"}`, docs: []string{`{"Type":"Notification","Message":"x"}`}},
		{name: "empty", body: " \n", invalid: true},
		{name: "text", body: "hello world", invalid: true},
		{name: "broken object", body: `{"a":`, invalid: true},
		{name: "broken first line", body: "{bad\n{\"a\":1}\n", invalid: true},
		{name: "broken array", body: `[{"a":1},`, invalid: true},
		{name: "sns text", body: snsEnvelope(t, "plain text"), invalid: true},
		{name: "s3 record without key", body: `{"Records":[{"eventSource":"aws:s3","s3":{"bucket":{"name":"b"},"object":{}}}]}`, invalid: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := parseMessage([]byte(tc.body))
			if tc.invalid {
				require.ErrorIs(t, err, errInvalidMessage)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.kind, p.kind)
			assert.Equal(t, tc.objects, p.objects)
			if p.kind != bodyDocs {
				return
			}
			assert.Equal(t, tc.docs, docsOf(t, p))
			if tc.offsets != nil {
				var offs []int64
				for _, r := range frameDocs(p.docs, p.framing, pipeline.Record{}) {
					offs = append(offs, r.Offset)
				}
				assert.Equal(t, tc.offsets, offs)
			}
		})
	}
}

func TestFrameDocsCopiesTemplateAndAllocatesOnce(t *testing.T) {
	body := []byte("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n")
	tmpl := pipeline.Record{Source: SourceName, Key: "m1", Index: "i", PositionID: true}
	allocs := testing.AllocsPerRun(100, func() { _ = frameDocs(body, framingNDJSON, tmpl) })
	assert.Equal(t, 1.0, allocs)
	recs := frameDocs(body, framingNDJSON, tmpl)
	require.Len(t, recs, 3)
	for _, r := range recs {
		assert.Equal(t, "m1", r.Key)
		assert.True(t, r.PositionID)
		assert.Equal(t, "i", r.Index)
	}
}

func TestS3ObjectDocKey(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "s3://b/a b.gz#e1", s3Object{Bucket: "b", Key: "a b.gz", ETag: "e1"}.docKey())
	assert.Equal(t, "s3://b/k", s3Object{Bucket: "b", Key: "k"}.docKey())
}

func TestQueueRegion(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "eu-west-1", queueRegion("https://sqs.eu-west-1.amazonaws.com/123456789012/q"))
	assert.Equal(t, "", queueRegion("http://127.0.0.1:15000/123456789012/q"))
}
