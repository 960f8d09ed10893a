// Package testenv tells tests where the real test substrate runs.
//
// Integration tests need a real OpenSearch node and moto's AWS emulator, both started by
// scripts/opensearch.sh and scripts/moto.sh (make test does it). The scripts export their
// addresses in WEIR_TEST_OPENSEARCH and WEIR_TEST_AWS; without them the tests skip with a
// message that says how to run them, so plain `go test ./...` stays fast.
package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

const hint = "; run `make test` (it starts the node and the emulator) or export it yourself"

// OpenSearch returns the base URL of the real OpenSearch node, or skips the test.
func OpenSearch(t testing.TB) string {
	t.Helper()
	u := os.Getenv("WEIR_TEST_OPENSEARCH")
	if u == "" {
		t.Skip("integration test: WEIR_TEST_OPENSEARCH is not set" + hint)
	}
	return u
}

// AWS returns the endpoint URL of moto's server (SQS, Kinesis, DynamoDB, STS, S3), or skips the test.
func AWS(t testing.TB) string {
	t.Helper()
	u := os.Getenv("WEIR_TEST_AWS")
	if u == "" {
		t.Skip("integration test: WEIR_TEST_AWS is not set" + hint)
	}
	return u
}

// Large reports whether tests should run at the full size an issue's proof names.
// CI runs them smaller; WEIR_TEST_FULL=1 runs them full size.
func Large() bool { return os.Getenv("WEIR_TEST_FULL") == "1" }

// Size returns full when WEIR_TEST_FULL=1, else small.
func Size(full, small int) int {
	if Large() {
		return full
	}
	return small
}

// Call sends method path to the OpenSearch node at base, with body as JSON when not nil, and
// returns the status and the decoded JSON answer (nil when it is not a JSON object).
func Call(t testing.TB, base, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
