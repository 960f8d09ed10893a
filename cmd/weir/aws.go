package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/weir-ingest/weir/auth"
)

// awsIdentity builds weir's one AWS identity on first use: the credential cache every AWS
// client and the OpenSearch signer share, so one refresh serves them all.
type awsIdentity struct {
	once  sync.Once
	creds *auth.Credentials
	cfg   aws.Config
	err   error
}

func (d *daemon) aws(ctx context.Context) (*auth.Credentials, aws.Config, error) {
	id := &d.awsID
	id.once.Do(func() {
		c := d.cfg.AWS
		cc := c.Credentials
		if cc.Region == "" {
			cc.Region = c.Region
		}
		if cc.STSEndpoint == "" {
			cc.STSEndpoint = c.EndpointURL
		}
		id.creds, id.err = auth.NewCredentials(ctx, cc, auth.WithLogger(d.log), auth.WithRegisterer(d.reg))
		if id.err != nil {
			id.err = fmt.Errorf("aws.credentials: %w", id.err)
			return
		}
		id.cfg = aws.Config{
			Region:      c.Region,
			Credentials: id.creds,
			HTTPClient:  &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		}
		if c.EndpointURL != "" {
			id.cfg.BaseEndpoint = aws.String(c.EndpointURL)
		}
	})
	return id.creds, id.cfg, id.err
}

// logIdentity logs who weir is (never a secret); a failure is a warning, not fatal, because
// a role may lack sts:GetCallerIdentity and everything else still works.
func (d *daemon) logIdentity(ctx context.Context) {
	creds, _, err := d.aws(ctx)
	if err != nil {
		return
	}
	arn, account, err := creds.CallerIdentity(ctx)
	if err != nil {
		d.log.Warn("cannot tell the caller identity (sts:GetCallerIdentity)", "err", err)
		return
	}
	d.log.Info("aws identity", "arn", arn, "account", account)
	if d.sink != nil {
		d.sink.SetPrincipal(arn) // an explained 403 names the principal the policy must allow
	}
}
