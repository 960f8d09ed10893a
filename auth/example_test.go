package auth_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-ingest/weir/auth"
	"github.com/weir-ingest/weir/auth/explain"
)

// Build the identity once at start-up, log who it is, and sign every
// OpenSearch request with it.
func Example() {
	ctx := context.Background()
	reg := prometheus.NewRegistry()

	cfg := auth.DefaultCredentialsConfig()
	cfg.Region = "eu-west-1"
	creds, err := auth.NewCredentials(ctx, cfg, auth.WithRegisterer(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	principal, account, err := creds.CallerIdentity(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	slog.Info("aws identity", "arn", principal, "account", account)

	signing := auth.SigningConfig{Service: auth.ServiceOpenSearch, Region: "eu-west-1", Compress: true}
	client := &http.Client{Transport: auth.NewTransport(http.DefaultTransport, creds, signing)}
	explainer, _ := explain.NewExplainer(reg)

	url := "https://search-logs.eu-west-1.es.amazonaws.com/" + auth.EscapePathSegment("logs 2024") +
		"/_doc/" + auth.EscapePathSegment("user/42#a")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader(`{"msg":"hi"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusForbidden {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		x := explainer.Explain(resp.StatusCode, resp.Header, body, explain.Context{
			CanonicalPath: auth.CanonicalPath(req.URL), Service: signing.Service, Region: signing.Region, PrincipalARN: principal,
		})
		slog.Warn("opensearch refused weir", "reason", x.Reason, "hint", x.Message)
	}
}
