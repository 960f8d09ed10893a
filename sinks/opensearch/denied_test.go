package opensearch

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/auth/explain"
	"github.com/weir-ingest/weir/bench/nullbulk"
	"github.com/weir-ingest/weir/pipeline"
)

// refusal is a recorded 401/403 from auth/explain/testdata.
type refusal struct {
	Status       int         `json:"status"`
	Headers      http.Header `json:"headers"`
	Body         string      `json:"body"`
	WantReason   string      `json:"want_reason"`
	WantContains []string    `json:"want_contains"`
}

func loadRefusal(t *testing.T, name string) refusal {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "auth", "explain", "testdata", name+".json"))
	require.NoError(t, err)
	var r refusal
	require.NoError(t, json.Unmarshal(raw, &r))
	return r
}

// errorLines keeps the messages of error-level log records.
type errorLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *errorLines) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }
func (l *errorLines) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, b.String())
	return nil
}
func (l *errorLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorLines) WithGroup(string) slog.Handler      { return l }

func (l *errorLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// TestDeniedIsExplainedOncePerReason: a domain refuses the bulk request with recorded 403s
// of two kinds, three times each, then lets it through. Each refusal is counted by reason,
// each reason is logged once with what to change, the breaker stays closed, and the
// documents are indexed in the end, their attempts untouched.
func TestDeniedIsExplainedOncePerReason(t *testing.T) {
	t.Parallel()
	denials := []refusal{loadRefusal(t, "es_no_identity_policy_allows"), loadRefusal(t, "fgac_no_permissions")}
	bulk := nullbulk.New()
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if n := posts.Add(1); n <= 6 {
				d := denials[(n-1)%2]
				for k, v := range d.Headers {
					w.Header()[k] = v
				}
				w.WriteHeader(d.Status)
				_, _ = w.Write([]byte(d.Body))
				return
			}
		}
		bulk.ServeHTTP(w, r)
	}))
	defer srv.Close()

	reg := prometheus.NewRegistry()
	x, err := explain.NewExplainer(reg)
	require.NoError(t, err)
	logs := &errorLines{}
	h := newHarness(t, srv.URL, 3, func(c *Config) { c.FlushDocuments = 3 },
		WithExplainer(x, explain.Context{Service: "es", Region: "us-east-1"}), WithLogger(slog.New(logs)))
	recs := records("denied", 3)
	h.add(t, recs...)
	h.out.wait(t, 5*time.Second)

	assert.Equal(t, 3, h.out.count(pipeline.Indexed), "a refusal drops nothing")
	for _, r := range recs {
		assert.Equal(t, 1, r.Attempts)
	}
	assert.EqualValues(t, 7, posts.Load())
	assert.Equal(t, BreakerClosed, h.sink.Breaker().State(), "six refusals in a row are not a node failure")

	lines := logs.all()
	require.Len(t, lines, 2, "one line per distinct reason: %q", lines)
	for i, d := range denials {
		assert.Contains(t, lines[i], "reason="+d.WantReason)
		assert.Contains(t, lines[i], "path=/_bulk")
		for _, want := range d.WantContains {
			assert.Contains(t, lines[i], want)
		}
	}
	metric := func(reason string) float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if mf.GetName() == "weir_auth_denied_total" && m.GetLabel()[0].GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
		return -1
	}
	assert.Equal(t, 3.0, metric(denials[0].WantReason))
	assert.Equal(t, 3.0, metric(denials[1].WantReason))
	assert.Equal(t, 0.0, metric(explain.ReasonExpiredToken))
}

// TestDeniedNamesWeirsPrincipal: a Serverless data-access refusal names no principal; the
// explanation names the one weir learned from STS.
func TestDeniedNamesWeirsPrincipal(t *testing.T) {
	t.Parallel()
	d := loadRefusal(t, "aoss_data_access_denied")
	var posts atomic.Int64
	bulk := nullbulk.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && posts.Add(1) == 1 {
			w.WriteHeader(d.Status)
			_, _ = w.Write([]byte(d.Body))
			return
		}
		bulk.ServeHTTP(w, r)
	}))
	defer srv.Close()
	x, err := explain.NewExplainer(prometheus.NewRegistry())
	require.NoError(t, err)
	logs := &errorLines{}
	h := newHarness(t, srv.URL, 1, func(c *Config) { c.FlushDocuments = 1 },
		WithExplainer(x, explain.Context{Service: "aoss", Region: "us-east-1"}), WithLogger(slog.New(logs)))
	h.sink.SetPrincipal("arn:aws:sts::123456789012:assumed-role/weir-ingest/i-0abc123")
	h.add(t, records("denied", 1)...)
	h.out.wait(t, 5*time.Second)
	lines := logs.all()
	require.Len(t, lines, 1)
	assert.Contains(t, lines[0], "reason="+explain.ReasonAOSSDataAccessDenied)
	assert.Contains(t, lines[0], "role weir-ingest")
}
