package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/config"
	"github.com/weir-ingest/weir/internal/testenv"
)

// osClient talks to the real node directly, to check what weir wrote.
type osClient struct {
	t   testing.TB
	url string
}

func (c osClient) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	return testenv.Call(c.t, c.url, method, path, body)
}

func (c osClient) count(index string) int {
	c.t.Helper()
	c.do("POST", "/"+index+"/_refresh", nil)
	st, out := c.do("GET", "/"+index+"/_count", nil)
	if st == http.StatusNotFound {
		return 0
	}
	require.Equal(c.t, 200, st, "count %s: %v", index, out)
	return int(out["count"].(float64))
}

func uniqueIndex(t testing.TB, prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, rand.IntN(1e6))
}

func testConfig(t testing.TB, osURL, mode string) config.Config {
	cfg := config.Default()
	cfg.Log.Format = "text"
	cfg.OpenSearch.URLs = []string{osURL}
	cfg.OpenSearch.FlushInterval = 200 * time.Millisecond
	cfg.DeadLetter.Path = filepath.Join(t.TempDir(), "dead.ndjson")
	cfg.Control.Listen = "127.0.0.1:0"
	cfg.Sources.HTTP.Enabled = true
	cfg.Sources.HTTP.Listen = "127.0.0.1:0"
	cfg.Sources.HTTP.Mode = mode
	cfg.Pipeline.DrainTimeout = 60 * time.Second
	return cfg
}

func startDaemon(t testing.TB, cfg config.Config) (*daemon, string) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	d, err := newDaemon(cfg, log)
	require.NoError(t, err)
	require.NoError(t, d.start(context.Background()))
	return d, "http://" + d.http.Addr().String()
}

// ndjson builds n documents numbered from first, each about 1 KiB.
func ndjson(first, n int, withID bool) []byte {
	var b bytes.Buffer
	pad := strings.Repeat("x", 900)
	for i := first; i < first+n; i++ {
		if withID {
			fmt.Fprintf(&b, `{"id":"doc-%d","n":%d,"@timestamp":"2026-11-25T10:00:00Z","msg":"document %d","pad":"%s"}`+"\n", i, i, i, pad)
		} else {
			fmt.Fprintf(&b, `{"n":%d,"@timestamp":"2026-11-25T10:00:00Z","msg":"document %d","pad":"%s"}`+"\n", i, i, pad)
		}
	}
	return b.Bytes()
}

// post sends a body, retrying while weir answers 429 or 503 as a well-behaved client would.
func post(t testing.TB, url string, body []byte) (int, map[string]any) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		resp, err := http.Post(url, "application/x-ndjson", bytes.NewReader(body))
		require.NoError(t, err)
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if (resp.StatusCode == 429 || resp.StatusCode == 503) && attempt < 1000 {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		return resp.StatusCode, out
	}
}

// TestHTTPToOpenSearchExactlyOnce is the foundation's proof: documents sent over HTTP in
// both modes land once each in the real node (100k with WEIR_TEST_FULL=1).
func TestHTTPToOpenSearchExactlyOnce(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	total := testenv.Size(100_000, 20_000)
	for _, mode := range []string{"async", "sync"} {
		t.Run(mode, func(t *testing.T) {
			os := osClient{t, osURL}
			index := uniqueIndex(t, "e2e-"+mode)
			cfg := testConfig(t, osURL, mode)
			// Auto ids in async mode: a duplicated document would show as an extra count.
			withID := mode == "sync"
			if withID {
				cfg.Pipeline.IDField = "id"
			}
			d, base := startDaemon(t, cfg)
			const perRequest, clients = 500, 4
			var next atomic.Int64
			var wg sync.WaitGroup
			var accepted atomic.Int64
			start := time.Now()
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						first := int(next.Add(perRequest)) - perRequest
						if first >= total {
							return
						}
						n := min(perRequest, total-first)
						st, out := post(t, base+"/v1/ingest/"+index, ndjson(first, n, withID))
						if mode == "async" {
							assert.Equal(t, 202, st, "%v", out)
						} else {
							assert.Equal(t, 200, st, "%v", out)
							assert.EqualValues(t, n, out["indexed"], "%v", out)
						}
						accepted.Add(int64(n))
					}
				}()
			}
			wg.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			undelivered, err := d.shutdown(ctx)
			require.NoError(t, err)
			require.Zero(t, undelivered)
			elapsed := time.Since(start)
			require.EqualValues(t, total, accepted.Load())
			assert.Equal(t, total, os.count(index), "every document exactly once")
			t.Logf("%s: %d documents in %s (%.0f docs/s end to end)", mode, total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())

			// A sample of content, checked by _search.
			for _, n := range []int{0, total / 2, total - 1} {
				st, out := os.do("POST", "/"+index+"/_search", map[string]any{"query": map[string]any{"term": map[string]any{"n": n}}})
				require.Equal(t, 200, st)
				hits := out["hits"].(map[string]any)["hits"].([]any)
				require.Len(t, hits, 1, "document %d", n)
				src := hits[0].(map[string]any)["_source"].(map[string]any)
				assert.Equal(t, fmt.Sprintf("document %d", n), src["msg"])
				if withID {
					assert.Equal(t, fmt.Sprintf("doc-%d", n), hits[0].(map[string]any)["_id"])
				}
			}
			os.do("DELETE", "/"+index, nil)
		})
	}
}

// TestMappingConflictIsDeadLetteredWhileBatchMatesIndex: one bad document does not fail
// the others, and it ends in the dead-letter file with its reason.
func TestMappingConflictIsDeadLetteredWhileBatchMatesIndex(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	os := osClient{t, osURL}
	index := uniqueIndex(t, "e2e-conflict")
	st, out := os.do("PUT", "/"+index, map[string]any{"mappings": map[string]any{"properties": map[string]any{"n": map[string]any{"type": "long"}}}})
	require.Equal(t, 200, st, "%v", out)
	defer os.do("DELETE", "/"+index, nil)

	cfg := testConfig(t, osURL, "sync")
	d, base := startDaemon(t, cfg)
	body := []byte(`{"n":1}` + "\n" + `{"n":"not a number"}` + "\n" + `{"n":3}` + "\n" + `{"broken` + "\n")
	st, out = post(t, base+"/v1/ingest/"+index, body)
	require.Equal(t, 200, st, "%v", out)
	assert.EqualValues(t, 2, out["indexed"])
	assert.EqualValues(t, 2, out["dead_lettered"])
	errs := out["errors"].([]any)
	require.Len(t, errs, 2)
	reasons := map[float64]string{}
	for _, e := range errs {
		m := e.(map[string]any)
		reasons[m["line"].(float64)] = m["reason"].(string)
	}
	assert.Contains(t, []string{"mapper_parsing_exception", "document_parsing_exception"}, reasons[2])
	assert.Equal(t, "invalid_json", reasons[4])
	_, err := d.shutdown(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, os.count(index))

	dead, err := osReadFile(cfg.DeadLetter.Path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(dead)), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, string(dead), `"not a number"`)
}

var osReadFile = os.ReadFile

// buildBinary compiles weir once for the tests that need a real process and real signals.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "weir-e2e-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "weir")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

type process struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	data   string
	ctrl   string
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProcess runs the weir binary with a YAML config written from yml.
func startProcess(t testing.TB, yml string) *process {
	t.Helper()
	// Free ports are found by binding and closing, so another test may take one before weir
	// binds it: a start that loses that race is retried on fresh ports.
	for attempt := 1; ; attempt++ {
		p, ok := tryStartProcess(t, yml)
		if ok {
			return p
		}
		if attempt == 3 {
			t.Fatalf("weir did not start:\n%s", p.out.String())
		}
	}
}

// freePorts returns n distinct free loopback addresses: all n are held open until all are
// chosen, so the kernel cannot hand the same one out twice.
func freePorts(t testing.TB, n int) []string {
	t.Helper()
	var addrs []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

func tryStartProcess(t testing.TB, yml string) (*process, bool) {
	t.Helper()
	bin, err := buildOnce()
	require.NoError(t, err)
	dir := t.TempDir()
	ports := freePorts(t, 2)
	data, ctrl := ports[0], ports[1]
	yml = strings.ReplaceAll(yml, "$DATA", data)
	yml = strings.ReplaceAll(yml, "$CTRL", ctrl)
	yml = strings.ReplaceAll(yml, "$DIR", dir)
	path := filepath.Join(dir, "weir.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yml), 0o600))
	p := &process{out: &syncBuffer{}, data: "http://" + data, ctrl: "http://" + ctrl, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "run", "-c", path)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			// It stopped on its own: a port taken meanwhile is worth another try, anything
			// else is a failure to report now.
			if !strings.Contains(p.out.String(), "address already in use") {
				t.Fatalf("weir exited at start:\n%s", p.out.String())
			}
			return p, false
		default:
		}
		if resp, err := http.Get(p.ctrl + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Cleanup(func() {
					_ = p.cmd.Process.Kill()
					<-p.exited
					if t.Failed() {
						t.Logf("weir output:\n%s", p.out.String())
					}
				})
				return p, true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return p, false
}

func (p *process) signalAndWait(t testing.TB, sig syscall.Signal, timeout time.Duration) int {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Fatalf("weir did not exit within %s after %s:\n%s", timeout, sig, p.out.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// TestSIGTERMFlushesInFlight: documents accepted in async mode sit in a batch that would
// not flush for a minute; SIGTERM must flush and index them before weir exits 0.
func TestSIGTERMFlushesInFlight(t *testing.T) {
	osURL := testenv.OpenSearch(t)
	os := osClient{t, osURL}
	index := uniqueIndex(t, "e2e-sigterm")
	defer os.do("DELETE", "/"+index, nil)
	p := startProcess(t, fmt.Sprintf(`
log: {format: text, level: info}
opensearch: {urls: [%q], flush_interval: 1m, flush_documents: 100000, flush_bytes: 100MiB}
pipeline: {drain_timeout: 60s, queue_bytes: 256MiB}
dead_letter: {path: $DIR/dead.ndjson}
sources: {http: {enabled: true, listen: "$DATA", mode: async}}
control: {listen: "$CTRL"}
`, osURL))
	total := testenv.Size(20_000, 5_000)
	for first := 0; first < total; first += 1000 {
		st, out := post(t, p.data+"/v1/ingest/"+index, ndjson(first, 1000, false))
		require.Equal(t, 202, st, "%v", out)
	}
	assert.Equal(t, 0, os.count(index), "nothing flushed yet: the batch is young and not full")
	code := p.signalAndWait(t, syscall.SIGTERM, 90*time.Second)
	require.Equal(t, exitOK, code, p.out.String())
	assert.Equal(t, total, os.count(index))
	assert.Contains(t, p.out.String(), "every accepted document was delivered")
}

// TestOpenSearchRestartLosesNothing stops a real node in the middle of a run and starts it
// again: weir keeps retrying, answers 429 when its queue fills, and every accepted
// document ends up indexed exactly once.
func TestOpenSearchRestartLosesNothing(t *testing.T) {
	testenv.OpenSearch(t)
	port := "19202"
	script, err := filepath.Abs("../../scripts/opensearch.sh")
	require.NoError(t, err)
	node := func(action string) {
		cmd := exec.Command(script, action)
		cmd.Env = append(os.Environ(), "WEIR_OS_PORT="+port)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "opensearch.sh %s: %s", action, out)
	}
	node("start")
	t.Cleanup(func() { node("stop") })
	osURL := "http://127.0.0.1:" + port
	os := osClient{t, osURL}
	index := uniqueIndex(t, "e2e-restart")

	cfg := testConfig(t, osURL, "async")
	cfg.Pipeline.IDField = "id"
	cfg.Pipeline.QueueBytes = 16 << 20
	cfg.OpenSearch.Retry.MaxBackoff = 2 * time.Second
	d, base := startDaemon(t, cfg)
	total := testenv.Size(40_000, 10_000)
	var sent atomic.Int64
	send := func(from, to int) {
		for first := from; first < to; first += 500 {
			st, out := post(t, base+"/v1/ingest/"+index, ndjson(first, 500, true))
			assert.Equal(t, 202, st, "%v", out)
			sent.Add(500)
		}
	}
	send(0, total/4)
	node("stop")
	stoppedAt := sent.Load()
	done := make(chan struct{})
	go func() { defer close(done); send(total/4, total) }()
	// While the node is down weir accepts into its bounded queue until the circuit breaker
	// opens, then answers 503 with Retry-After (post retries); either way nothing is lost.
	time.Sleep(5 * time.Second)
	acceptedWhileDown := sent.Load() - stoppedAt
	node("start")
	<-done
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	undelivered, err := d.shutdown(ctx)
	require.NoError(t, err)
	require.Zero(t, undelivered)
	t.Logf("node stopped after %d documents; %d accepted while it was down; %d in all", stoppedAt, acceptedWhileDown, total)
	assert.Equal(t, total, os.count(index))
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
