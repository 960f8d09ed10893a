package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLifecycleHealthReadinessMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "weir_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	s := New(Config{Listen: "127.0.0.1:0"}, reg, nil)
	require.NoError(t, s.Shutdown(context.Background()), "Shutdown without Start is safe")

	s = New(Config{Listen: "127.0.0.1:0"}, reg, nil)
	var fail error
	s.AddCheck("sink", func(context.Context) error { return fail })
	require.NoError(t, s.Start(context.Background()))
	require.NoError(t, s.Start(context.Background()), "Start twice is a no-op")
	base := "http://" + s.Addr()

	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := get("/healthz")
	assert.Equal(t, 200, code)
	code, body := get("/readyz")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, `"sink":"ok"`)
	fail = errors.New("connection refused")
	code, body = get("/readyz")
	assert.Equal(t, 503, code)
	var out map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	assert.Equal(t, false, out["ready"])
	code, body = get("/metrics")
	assert.Equal(t, 200, code)
	assert.True(t, strings.Contains(body, "weir_test_total 3"), body)
	code, _ = get("/nope")
	assert.Equal(t, 404, code)

	require.NoError(t, s.Shutdown(context.Background()))
	require.NoError(t, s.Shutdown(context.Background()))
	_, err := http.Get(base + "/healthz")
	assert.Error(t, err)
}

func TestStartFailsWhenPortTaken(t *testing.T) {
	t.Parallel()
	a := New(Config{Listen: "127.0.0.1:0"}, prometheus.NewRegistry(), nil)
	require.NoError(t, a.Start(context.Background()))
	defer a.Shutdown(context.Background())
	b := New(Config{Listen: a.Addr()}, prometheus.NewRegistry(), nil)
	assert.Error(t, b.Start(context.Background()))
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	assert.NoError(t, DefaultConfig().Validate())
	assert.Error(t, Config{Listen: "no-port"}.Validate())
}
