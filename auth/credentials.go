package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Credentials is one AWS identity: a provider behind a single
// aws.CredentialsCache, so however many requests wait on a refresh the
// provider is called once (the cache's singleflight). It implements
// aws.CredentialsProvider.
type Credentials struct {
	cache     *aws.CredentialsCache
	refresher *refresher
	now       func() time.Time
	sts       *sts.Client
	provider  string
}

var _ aws.CredentialsProvider = (*Credentials)(nil)

// NewCredentials validates cfg and builds its provider. It does not fetch
// credentials; call Retrieve or CallerIdentity to find out whether they work.
func NewCredentials(ctx context.Context, cfg CredentialsConfig, opts ...Option) (*Credentials, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth: invalid credentials config: %w", err)
	}
	o := newOptions(opts)
	if cfg.Provider == "" {
		cfg.Provider = ProviderDefault
	}
	base, err := loadBaseConfig(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	provider := o.provider
	if provider == nil {
		if provider, err = buildProvider(ctx, cfg, base, o); err != nil {
			return nil, err
		}
	}

	r := &refresher{
		inner:      provider,
		now:        o.now,
		logger:     o.logger,
		backoffMin: o.backoffMin,
		backoffMax: o.backoffMax,
	}
	if r.metrics, err = newCredentialMetrics(o.registerer, o.constLabels, r.secondsToExpiry); err != nil {
		return nil, err
	}
	c := &Credentials{
		cache: aws.NewCredentialsCache(r, func(co *aws.CredentialsCacheOptions) {
			co.ExpiryWindow = o.window
			co.ExpiryWindowJitterFrac = o.jitterFrac
		}),
		refresher: r,
		now:       o.now,
		provider:  cfg.Provider,
	}
	c.sts = sts.NewFromConfig(base, func(so *sts.Options) { so.Credentials = c })
	return c, nil
}

// Retrieve returns valid credentials, refreshing them ExpiryWindow ahead of
// their expiry. It implements aws.CredentialsProvider.
func (c *Credentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := c.cache.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("auth: %s credentials: %w", c.provider, err)
	}
	if !c.expired(creds) {
		return creds, nil
	}
	// The SDK cache judges expiry by its own wall clock; this second check by
	// ours is what lets an injected clock drive refreshes, and it closes the
	// gap between the cache's check and the signature's timestamp.
	c.refresher.expire(creds, c.cache)
	if creds, err = c.cache.Retrieve(ctx); err != nil {
		return aws.Credentials{}, fmt.Errorf("auth: %s credentials: %w", c.provider, err)
	}
	if c.expired(creds) {
		return aws.Credentials{}, fmt.Errorf("auth: %s credentials expired at %s and no newer ones came",
			c.provider, creds.Expires.UTC().Format(time.RFC3339))
	}
	return creds, nil
}

// Invalidate drops the cached credentials, and their use as a fallback, so
// the next Retrieve asks the provider; for when the service refuses them.
func (c *Credentials) Invalidate() { c.refresher.invalidate(c.cache) }

// refused is Invalidate for one set of credentials, rate limited; it reports
// whether a retry would be signed with different ones.
func (c *Credentials) refused(used aws.Credentials) bool { return c.refresher.refuse(used, c.cache) }

func (c *Credentials) expired(creds aws.Credentials) bool {
	return creds.CanExpire && !c.now().Before(creds.Expires)
}

// CallerIdentity asks STS who these credentials are, for the start-up log.
// It returns the ARN and account, never anything secret.
func (c *Credentials) CallerIdentity(ctx context.Context) (arn, account string, err error) {
	out, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", "", fmt.Errorf("auth: sts GetCallerIdentity: %w", err)
	}
	return aws.ToString(out.Arn), aws.ToString(out.Account), nil
}
