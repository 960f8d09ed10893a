package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, []string{"HOME=/nonexistent"}, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`
sources: {http: {enabled: true, mode: sometimes}}
pipeline: {workers: 0, queue_bytes: 10}
opensearch: {urls: [], password: hunter2, username: u}
unknown_thing: 1
`), 0o600))
	code, _, errOut := runCmd(t, "validate", "-c", bad)
	assert.Equal(t, exitUsage, code)
	for _, want := range []string{"sources.http.mode", "pipeline.workers", "pipeline.queue_bytes", "opensearch.urls", "unknown_thing: unknown key"} {
		assert.Contains(t, errOut, want)
	}
	assert.NotContains(t, errOut, "hunter2")

	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, defaultConfig, 0o600))
	code, out, _ := runCmd(t, "validate", "-c", good)
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "ok")

	code, _, errOut = runCmd(t, "validate")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "-c FILE is required")
}

func TestConfigPrintsRedactedSecrets(t *testing.T) {
	t.Parallel()
	code, out, _ := runCmd(t, "config", "--set", "opensearch.username=u", "--set", "opensearch.password=hunter2")
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "[redacted]")
	assert.NotContains(t, out, "hunter2")
	assert.Contains(t, out, "queue_bytes: 16MiB")
}

func TestHelpAndVersionAndUnknown(t *testing.T) {
	t.Parallel()
	code, out, _ := runCmd(t, "--help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "weir run")
	code, out, _ = runCmd(t, "version")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "weir")
	code, _, errOut := runCmd(t, "frobnicate")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "unknown command")
}
