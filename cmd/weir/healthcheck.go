package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// defaultHealthURL is the control port's default listener (control.listen) plus /healthz.
const defaultHealthURL = "http://127.0.0.1:8089/healthz"

// runHealthcheck asks a running weir whether it is up, for container health checks: the
// runtime image has no shell and no curl, so the binary answers for itself. Exit 0 on a
// 2xx answer, 1 otherwise.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("weir healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", defaultHealthURL, "health endpoint to ask (the control port's /healthz, or /readyz)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	quiet := fs.Bool("q", false, "print nothing on success")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "weir healthcheck: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	status, err := probe(ctx, *url)
	if err != nil {
		fmt.Fprintf(stderr, "weir healthcheck: %s: %v\n", *url, err)
		return exitError
	}
	if status < 200 || status > 299 {
		fmt.Fprintf(stderr, "weir healthcheck: %s: HTTP %d\n", *url, status)
		return exitError
	}
	if !*quiet {
		fmt.Fprintf(stdout, "%s: HTTP %d\n", *url, status)
	}
	return exitOK
}

func probe(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	// A plain client: no proxy from the environment, since the target is the local process.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}
