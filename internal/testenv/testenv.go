// Package testenv tells tests where the real test substrate runs.
//
// Integration tests need a real OpenSearch node and moto's AWS emulator, both started by
// scripts/opensearch.sh and scripts/moto.sh (make test does it). The scripts export their
// addresses in WEIR_TEST_OPENSEARCH and WEIR_TEST_AWS; without them the tests skip with a
// message that says how to run them, so plain `go test ./...` stays fast.
package testenv

import (
	"os"
	"testing"
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
