package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/weir-ingest/weir/auth"
	"github.com/weir-ingest/weir/control/query"
	"github.com/weir-ingest/weir/sinks/opensearch"
)

// queryTransport is how queries reach the domain: built like the sink's transport (signed
// with weir's identity when opensearch.sigv4.enabled), with its own connection pool so that
// reads never wait behind bulk requests.
func (d *daemon) queryTransport(ctx context.Context) (http.RoundTripper, error) {
	base := opensearch.DefaultTransport(d.cfg.OpenSearch.Config)
	if !d.cfg.OpenSearch.SigV4.Enabled {
		return base, nil
	}
	creds, _, err := d.aws(ctx)
	if err != nil {
		return nil, err
	}
	sc := d.cfg.OpenSearch.SigV4.SigningConfig
	if sc.Region == "" {
		sc.Region = d.cfg.AWS.Region
	}
	return auth.NewTransport(base, creds, sc), nil
}

// queryDomain resolves the domain in IAM terms from the query section, the signing
// settings and the OpenSearch URLs; the account falls back to weir's caller identity.
// It also returns weir's ARN when it had to ask for it.
func (d *daemon) queryDomain(ctx context.Context) (query.Domain, string, error) {
	q := d.cfg.Query
	region := d.cfg.OpenSearch.SigV4.Region
	if region == "" {
		region = d.cfg.AWS.Region
	}
	service := ""
	if d.cfg.OpenSearch.SigV4.Enabled {
		service = d.cfg.OpenSearch.SigV4.Service
	}
	q.ResolveDomain(service, region, d.cfg.OpenSearch.URLs)
	var arn string
	if q.Account == "" && d.cfg.NeedsAWS() {
		creds, _, err := d.aws(ctx)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			arn, q.Account, err = creds.CallerIdentity(cctx)
			cancel()
		}
		if err != nil {
			return query.Domain{}, "", fmt.Errorf("query.account: not set, and weir's caller identity is unknown: %w", err)
		}
	}
	var missing []error
	for _, m := range []struct{ key, v string }{{"region", q.Region}, {"account", q.Account}, {"domain", q.Domain}} {
		if m.v == "" {
			missing = append(missing, fmt.Errorf("query.%s: required (it names the domain in IAM resources and cannot be derived here)", m.key))
		}
	}
	return query.Domain{Service: q.Service, Region: q.Region, Account: q.Account, Name: q.Domain}, arn, errors.Join(missing...)
}

// wireQuery runs the start-up policy check and mounts the query routes on the control
// port: the real handler when query.enabled, else one that answers 404 with a hint.
func (d *daemon) wireQuery(ctx context.Context) error {
	q := d.cfg.Query
	checkPolicy := (q.WeirPolicyFile != "" || q.WeirPolicy != "") && q.PolicyCheck != query.PolicyCheckOff
	mountOff := func() {
		off := query.Off(d.reg)
		for _, p := range query.Patterns {
			d.ctrl.Handle(p, off)
		}
	}
	if !q.Enabled && !checkPolicy {
		mountOff()
		return nil
	}
	dom, arn, err := d.queryDomain(ctx)
	if err != nil {
		return err
	}
	if checkPolicy {
		if err := d.startupPolicyCheck(dom, arn); err != nil {
			return err
		}
	}
	if !q.Enabled {
		mountOff()
		return nil
	}
	rt, err := d.queryTransport(ctx)
	if err != nil {
		return err
	}
	q.Service, q.Region, q.Account, q.Domain = dom.Service, dom.Region, dom.Account, dom.Name
	opts := []query.Option{query.WithLogger(d.log), query.WithRegisterer(d.reg), query.WithTransport(rt), query.WithPrincipal(arn)}
	if d.cfg.OpenSearch.Username != "" {
		opts = append(opts, query.WithBasicAuth(d.cfg.OpenSearch.Username, d.cfg.OpenSearch.Password.Reveal()))
	}
	h, err := query.New(q, d.cfg.OpenSearch.URLs, opts...)
	if err != nil {
		return err
	}
	d.query = h
	for _, p := range query.Patterns {
		d.ctrl.Handle(p, h)
	}
	return nil
}

// startQuery discovers the OIDC issuer, when the endpoint is on.
func (d *daemon) startQuery(ctx context.Context) error {
	if d.query == nil {
		return nil
	}
	return d.query.Start(ctx)
}
