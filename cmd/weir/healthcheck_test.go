package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()

	code, out, _ := runCmd(t, "healthcheck", "--url", srv.URL+"/healthz")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "HTTP 200")

	code, out, _ = runCmd(t, "healthcheck", "-q", "--url", srv.URL+"/healthz")
	assert.Equal(t, exitOK, code)
	assert.Empty(t, out)

	status = http.StatusServiceUnavailable
	code, _, errOut := runCmd(t, "healthcheck", "--url", srv.URL+"/readyz")
	assert.Equal(t, exitError, code)
	assert.Contains(t, errOut, "HTTP 503")

	addr := srv.Listener.Addr().String()
	srv.Close()
	code, _, errOut = runCmd(t, "healthcheck", "--url", "http://"+addr+"/healthz", "--timeout", "1s")
	assert.Equal(t, exitError, code)
	assert.Contains(t, errOut, "weir healthcheck")

	code, _, _ = runCmd(t, "healthcheck", "extra")
	assert.Equal(t, exitUsage, code)
}
