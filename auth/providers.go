package auth

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// loadBaseConfig resolves region, profile, HTTP client and STS endpoint, and
// the SDK default chain, which is only asked for credentials when cfg uses it.
func loadBaseConfig(ctx context.Context, cfg CredentialsConfig, o options) (aws.Config, error) {
	var lo []func(*config.LoadOptions) error
	if cfg.Region != "" {
		lo = append(lo, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(cfg.Profile))
	}
	if o.httpClient != nil {
		lo = append(lo, config.WithHTTPClient(o.httpClient))
	}
	if cfg.STSEndpoint != "" {
		// Only STS clients take the override, including the ones the default
		// chain builds for web identity and profile role chaining; SSO keeps
		// its own endpoint.
		endpoint := cfg.STSEndpoint
		lo = append(lo, config.WithServiceOptions(func(id string, so any) {
			if id == sts.ServiceID {
				so.(*sts.Options).BaseEndpoint = aws.String(endpoint)
			}
		}))
	}
	// LoadDefaultConfig always wraps its chain in a CredentialsCache of its
	// own. Giving it our window without jitter makes it expire no later than
	// the outer cache, so each outer refresh really reaches the provider.
	window := o.window
	lo = append(lo, config.WithCredentialsCacheOptions(func(co *aws.CredentialsCacheOptions) {
		co.ExpiryWindow = window
		co.ExpiryWindowJitterFrac = 0
	}))
	base, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("auth: load AWS config: %w", err)
	}
	return base, nil
}

// buildProvider returns an uncached provider for cfg (the default chain comes
// cached from the SDK; see loadBaseConfig).
func buildProvider(ctx context.Context, cfg CredentialsConfig, base aws.Config, o options) (aws.CredentialsProvider, error) {
	sessionName := cfg.SessionName
	if sessionName == "" {
		sessionName = defaultSessionName
	}
	switch cfg.Provider {
	case ProviderDefault, "":
		return base.Credentials, nil

	case ProviderStatic:
		o.logger.Warn("static AWS credentials are for local development only; use the default chain, assume_role or web_identity in production")
		return credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey.Reveal(), cfg.SessionToken.Reveal()), nil

	case ProviderAssumeRole:
		source := base.Credentials
		if cfg.Source != nil {
			src := *cfg.Source
			if src.Provider == "" {
				src.Provider = ProviderDefault
			}
			src.Region = cmp.Or(src.Region, cfg.Region)
			src.Profile = cmp.Or(src.Profile, cfg.Profile)
			src.STSEndpoint = cmp.Or(src.STSEndpoint, cfg.STSEndpoint)
			srcBase, err := loadBaseConfig(ctx, src, o)
			if err != nil {
				return nil, fmt.Errorf("auth: assume_role source: %w", err)
			}
			p, err := buildProvider(ctx, src, srcBase, o)
			if err != nil {
				return nil, err
			}
			// The source is its own identity, so it gets its own cache: STS
			// signs the AssumeRole call with it on every refresh.
			if _, cached := p.(*aws.CredentialsCache); !cached {
				p = aws.NewCredentialsCache(p, func(co *aws.CredentialsCacheOptions) { co.ExpiryWindow = o.window })
			}
			source = p
		}
		client := sts.NewFromConfig(base, func(so *sts.Options) { so.Credentials = source })
		return stscreds.NewAssumeRoleProvider(client, cfg.RoleARN, func(ao *stscreds.AssumeRoleOptions) {
			ao.RoleSessionName = sessionName
			ao.Duration = cfg.Duration
			if cfg.ExternalID != "" {
				ao.ExternalID = aws.String(cfg.ExternalID)
			}
		}), nil

	case ProviderWebIdentity:
		// AssumeRoleWithWebIdentity is unsigned; anonymous credentials keep the
		// SDK from walking the default chain for a call that needs none.
		client := sts.NewFromConfig(base, func(so *sts.Options) { so.Credentials = aws.AnonymousCredentials{} })
		// IdentityTokenFile reads the file on every call, so a projected
		// service-account token that the kubelet rotates is picked up.
		return stscreds.NewWebIdentityRoleProvider(client, cfg.RoleARN, stscreds.IdentityTokenFile(cfg.TokenFile),
			func(wo *stscreds.WebIdentityRoleOptions) {
				wo.RoleSessionName = sessionName
				wo.Duration = cfg.Duration
			}), nil

	case ProviderSAML:
		client := sts.NewFromConfig(base, func(so *sts.Options) { so.Credentials = aws.AnonymousCredentials{} })
		return newSAMLProvider(client, cfg), nil
	}
	return nil, fmt.Errorf("auth: unknown credentials provider %q", cfg.Provider)
}

// durationSeconds converts a configured session duration for STS; zero
// leaves STS's default.
func durationSeconds(d time.Duration) *int32 {
	if d <= 0 {
		return nil
	}
	return aws.Int32(int32(d / time.Second))
}
