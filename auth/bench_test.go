package auth

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkSignBulk signs a 1 MiB _bulk request end to end through the
// transport (body taken, hashed, clone signed), against a base that only
// drains the body.
func BenchmarkSignBulk(b *testing.B) {
	line := []byte(`{"index":{"_index":"logs-2024.01.15"}}` + "\n" + `{"@timestamp":"2024-01-15T10:15:00Z","level":"info","msg":"request served","status":200}` + "\n")
	body := bytes.Repeat(line, (1<<20)/len(line)+1)[:1<<20]
	clock := newFakeClock()
	p := &countingProvider{clock: clock, lifetime: time.Hour}
	cfg := DefaultCredentialsConfig()
	creds, err := NewCredentials(b.Context(), cfg, WithProvider(p), WithClock(clock.Now), WithLogger(discardLogger()))
	if err != nil {
		b.Fatal(err)
	}
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	})
	for _, bc := range []struct {
		name     string
		compress bool
		build    func() *http.Request
	}{
		{"bytes", false, func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "https://search.example.com/_bulk", nil)
			r.Body = &bytesBodyReader{Reader: bytes.NewReader(body), b: body}
			r.ContentLength = int64(len(body))
			return r
		}},
		{"getbody", false, func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "https://search.example.com/_bulk", bytes.NewReader(body))
			return r
		}},
		{"gzip", true, func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "https://search.example.com/_bulk", bytes.NewReader(body))
			return r
		}},
	} {
		rt := NewTransport(base, creds, SigningConfig{Service: "es", Region: "us-east-1", Compress: bc.compress})
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				resp, err := rt.RoundTrip(bc.build())
				if err != nil {
					b.Fatal(err)
				}
				_ = resp.Body.Close()
			}
		})
	}
}
