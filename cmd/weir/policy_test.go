package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/auth/policy"
)

// golden compares got with testdata/policy/NAME; WEIR_UPDATE_GOLDEN=1 rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "policy", name)
	if os.Getenv("WEIR_UPDATE_GOLDEN") == "1" {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with WEIR_UPDATE_GOLDEN=1 to create it")
	assert.Equal(t, string(want), got)
}

func runWeir(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, []string{}, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestPolicyCheckGolden(t *testing.T) {
	t.Parallel()
	code, out, errOut := runWeir(t, "policy", "check", "-c", "testdata/policy/weir.yaml",
		"--access-policy", "testdata/policy/access.json", "--principal", "arn:aws:iam::123456789012:role/weir")
	assert.Equal(t, exitError, code, "weir.json lacks sqs:ChangeMessageVisibility, which the SQS source needs: %s", errOut)
	golden(t, "check.golden", out)
}

func TestPolicyExplainGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, method, path string
		code               int
	}{
		{"explain-search.golden", "GET", "/logs-2026.11/_search", exitOK},
		{"explain-cat.golden", "GET", "/_cat/indices", exitError},
		{"explain-delete.golden", "DELETE", "/logs-2026.11", exitError},
	} {
		code, out, errOut := runWeir(t, "policy", "explain", "--method", tc.method, "--path", tc.path,
			"--identity-policy", "testdata/policy/weir.json", "--access-policy", "testdata/policy/access.json",
			"--principal", "arn:aws:iam::123456789012:role/weir", "--region", "eu-west-1", "--domain", "logs")
		assert.Equal(t, tc.code, code, errOut)
		golden(t, tc.name, out)
	}
}

func TestPolicyMinimalGoldenPassesItsOwnCheck(t *testing.T) {
	t.Parallel()
	code, out, errOut := runWeir(t, "policy", "minimal", "-c", "testdata/policy/weir.yaml")
	require.Equal(t, exitOK, code, errOut)
	golden(t, "minimal.golden", out)
	_, err := policy.Parse([]byte(out))
	require.NoError(t, err)

	file := filepath.Join(t.TempDir(), "minimal.json")
	require.NoError(t, os.WriteFile(file, []byte(out), 0o600))
	code, report, errOut := runWeir(t, "policy", "check", "-c", "testdata/policy/weir.yaml", "--identity-policy", file)
	assert.Equal(t, exitOK, code, "%s%s", report, errOut)
	assert.Contains(t, report, "denied (0 that weir needs)")
}

func TestPolicyUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"policy"},
		{"policy", "nope"},
		{"policy", "check"},
		{"policy", "explain", "--path", "/x/_search", "--identity-policy", "testdata/policy/weir.json"}, // no domain
		{"policy", "explain", "--region", "r", "--account", "1", "--domain", "d", "--identity-policy", "testdata/policy/weir.json"},
		{"policy", "explain", "--path", "/x", "--region", "r", "--account", "1", "--domain", "d"}, // no policy
	} {
		code, _, errOut := runWeir(t, args...)
		assert.Equal(t, exitUsage, code, "%v: %s", args, errOut)
		assert.NotEmpty(t, errOut, args)
	}
}

func TestStrictRunRefusesADenyingPolicy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	weir := filepath.Join(dir, "weir.json")
	require.NoError(t, os.WriteFile(weir, []byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"es:ESHttpGet","Resource":"*"}}`), 0o600))
	cfgFile := filepath.Join(dir, "weir.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(`
log: {format: text}
opensearch: {urls: ["http://127.0.0.1:1"]}
dead_letter: {path: `+filepath.Join(dir, "dead.ndjson")+`}
control: {listen: "127.0.0.1:0"}
sources: {http: {enabled: true, listen: "127.0.0.1:0"}}
query: {weir_policy_file: `+weir+`, region: eu-west-1, account: "123456789012", domain: logs}
`), 0o600))
	code, _, errOut := runWeir(t, "run", "--strict", "-c", cfgFile)
	assert.Equal(t, exitError, code)
	assert.Contains(t, errOut, "denies a request weir needs")
	assert.Contains(t, errOut, "POST /_bulk")
	assert.Contains(t, errOut, "policy check (strict)")
}
