package main

import (
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestProfileDaemon runs weir alone in this process, in async mode, against a null receiver
// running elsewhere, and writes a CPU profile of it while an external load generator posts:
// a profile of weir and nothing else, which BenchmarkEndToEnd (load generator, weir and
// receiver in one process) cannot give. It is a tool, skipped unless WEIR_PROFILE_OUT is set:
//
//	bin/bench/nullbulk -listen 127.0.0.1:19555 &
//	WEIR_PROFILE_OUT=/tmp/weir.prof WEIR_PROFILE_RECEIVER=http://127.0.0.1:19555 \
//	WEIR_PROFILE_LISTEN=127.0.0.1:19556 WEIR_PROFILE_SECONDS=15 \
//	  go test -run TestProfileDaemon -count=1 -o /tmp/weir.test ./cmd/weir/ &
//	bin/bench/loadgen -url http://127.0.0.1:19556/v1/ingest/bench \
//	  -stats http://127.0.0.1:19555/_nullbulk/stats -warmup 3s -duration 10s
//	go tool pprof -top /tmp/weir.test /tmp/weir.prof
func TestProfileDaemon(t *testing.T) {
	out := os.Getenv("WEIR_PROFILE_OUT")
	if out == "" {
		t.Skip("a profiling tool: set WEIR_PROFILE_OUT, WEIR_PROFILE_RECEIVER and WEIR_PROFILE_LISTEN")
	}
	secs, err := time.ParseDuration(os.Getenv("WEIR_PROFILE_SECONDS") + "s")
	if err != nil || secs <= 0 {
		secs = 15 * time.Second
	}
	cfg := testConfig(t, os.Getenv("WEIR_PROFILE_RECEIVER"), "async")
	cfg.Sources.HTTP.Listen = os.Getenv("WEIR_PROFILE_LISTEN")
	cfg.Pipeline.Index = "bench"
	cfg.OpenSearch.FlushDocuments = 500
	cfg.OpenSearch.FlushBytes = 5_000_000
	cfg.OpenSearch.FlushInterval = time.Second
	if os.Getenv("WEIR_PROFILE_SIGV4") != "" {
		cfg.OpenSearch.SigV4.Enabled = true
		cfg.AWS.Region = "us-east-1"
		cfg.AWS.EndpointURL = cfg.OpenSearch.URLs[0]
		cfg.AWS.Credentials.Provider = "static"
		cfg.AWS.Credentials.AccessKeyID = "AKIDEXAMPLE"
		cfg.AWS.Credentials.SecretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	}
	d, _ := startDaemon(t, cfg)
	defer func() { _, _ = d.shutdown(t.Context()) }()
	f, err := os.Create(out)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, pprof.StartCPUProfile(f))
	time.Sleep(secs)
	pprof.StopCPUProfile()
}
