package opensearch

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weir-ingest/weir/bench/nullbulk"
	"github.com/weir-ingest/weir/pipeline"
)

// benchDoc is a 1 KiB log document.
func benchDoc() []byte {
	head := `{"@timestamp":"2026-05-01T12:00:00Z","level":"info","message":"`
	return []byte(head + strings.Repeat("m", 1024-len(head)-2) + `"}`)
}

// BenchmarkEncode measures encoding alone; one op is one 1 KiB document, so allocs/op is
// allocations per document. The batch is emptied every 1000 documents, as a flush does.
func BenchmarkEncode(b *testing.B) {
	doc := benchDoc()
	for _, bc := range []struct {
		name string
		rec  pipeline.Record
	}{
		{"id", pipeline.Record{Index: "logs-2026.05.01", ID: []byte("6f1c2a9e-1"), Doc: doc}},
		{"position_id", pipeline.Record{Index: "logs-2026.05.01", PositionID: true, Source: "sqs", Key: "b2c1d3e4-0000", Offset: 17, Doc: doc}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bt := &batch{}
			var ids itemCache
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if n == 1000 {
					bt.reset()
					n = 0
				}
				bt.add(&bc.rec, &ids)
				n++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/doc")
		})
	}
}

// BenchmarkAdd runs Sink.Add end to end (batching, dispatch, a sender goroutine per batch,
// answer handling) against a sender that answers at once, so allocations per batch show up
// amortised per document.
func BenchmarkAdd(b *testing.B) {
	doc := benchDoc()
	ok := []byte(`{"took":0,"errors":false,"items":[]}`)
	cfg := DefaultConfig()
	s, err := New(cfg, WithDeadLetter(&memDLQ{}), WithLogger(quiet), WithSender(func(Sender) Sender {
		return SenderFunc(func(_ context.Context, _, buf []byte) (Response, error) {
			return Response{Status: 200, Body: append(buf[:0], ok...)}, nil
		})
	}))
	if err != nil {
		b.Fatal(err)
	}
	s.finish = func(*pipeline.Record, pipeline.Result) {}
	_ = s.Start(context.Background())
	recs := make([]pipeline.Record, 4096)
	for i := range recs {
		recs[i] = pipeline.Record{Index: "logs", ID: []byte("id"), Doc: doc}
	}
	ctx := context.Background()
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.Add(ctx, &recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	_ = s.Shutdown(ctx)
}

// BenchmarkParseResponse parses 1000-item answers made by nullbulk as a node writes them.
func BenchmarkParseResponse(b *testing.B) {
	var body bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&body, `{"index":{"_index":"logs-2026.05.01","_id":"id-%d"}}`+"\n{}\n", i)
	}
	answer := func(h http.Handler) []byte {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/_bulk", bytes.NewReader(body.Bytes())))
		return w.Body.Bytes()
	}
	cases := []struct {
		name string
		resp []byte
	}{
		{"all_success", answer(nullbulk.New())},
		{"with_errors", answer(nullbulk.New(nullbulk.WithItemStatus(func(i int) (int, string) {
			if i%10 == 0 {
				return 429, "rejected_execution_exception"
			}
			return 0, ""
		})))},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			items := make([]item, 0, 1000)
			b.SetBytes(int64(len(c.resp)))
			b.ReportAllocs()
			for b.Loop() {
				res, err := parseBulkResponse(c.resp, items)
				if err != nil || (!res.allOK && len(res.items) != 1000) {
					b.Fatal(err, len(res.items))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/item")
		})
	}
}
