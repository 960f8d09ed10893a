package auth

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Provider names accepted in CredentialsConfig.Provider.
const (
	ProviderDefault     = "default"
	ProviderAssumeRole  = "assume_role"
	ProviderWebIdentity = "web_identity"
	ProviderSAML        = "saml"
	ProviderStatic      = "static"
)

var providers = []string{ProviderDefault, ProviderAssumeRole, ProviderWebIdentity, ProviderSAML, ProviderStatic}

// CredentialsConfig chooses where weir's AWS identity comes from.
type CredentialsConfig struct {
	// Provider is one of default, assume_role, web_identity, saml, static. Default: default
	// (the SDK chain: env, shared config/profile, web identity token file, ECS, EC2 IMDSv2).
	Provider string `koanf:"provider"`
	// Region for STS and the default chain. Empty: the SDK's own resolution (AWS_REGION, profile).
	Region string `koanf:"region"`
	// Profile selects a shared config profile for the default chain and the base config.
	Profile string `koanf:"profile"`
	// STSEndpoint overrides the STS endpoint URL (tests point it at moto; also VPC endpoints).
	STSEndpoint string `koanf:"sts_endpoint"`

	// RoleARN is the role to assume (assume_role, web_identity, saml).
	RoleARN string `koanf:"role_arn"`
	// ExternalID is passed to AssumeRole when the role's trust policy requires one.
	ExternalID string `koanf:"external_id"`
	// SessionName names the role session; it appears in CloudTrail and in the assumed-role ARN.
	// Default: weir.
	SessionName string `koanf:"session_name"`
	// Duration of the role session, 15m to 12h. Zero: STS's default of 1h.
	Duration time.Duration `koanf:"duration"`
	// Source is the identity that calls AssumeRole. Nil: the default chain.
	// It inherits region, profile and sts_endpoint when it leaves them empty.
	Source *CredentialsConfig `koanf:"source"`

	// TokenFile holds the OIDC token for web_identity; it is re-read on every refresh.
	TokenFile string `koanf:"token_file"`

	// PrincipalARN is the IAM SAML provider's ARN (saml).
	PrincipalARN string `koanf:"principal_arn"`
	// AssertionFile holds the base64 SAML response (or its XML); re-read on every refresh.
	AssertionFile string `koanf:"assertion_file"`
	// AssertionCommand is an argv whose stdout is the SAML response; run on every refresh.
	AssertionCommand []string `koanf:"assertion_command"`

	// AccessKeyID, SecretAccessKey and SessionToken are for static, which is for local development only.
	AccessKeyID     string `koanf:"access_key_id"`
	SecretAccessKey Secret `koanf:"secret_access_key"`
	SessionToken    Secret `koanf:"session_token"`
}

// DefaultCredentialsConfig returns the SDK default chain.
func DefaultCredentialsConfig() CredentialsConfig {
	return CredentialsConfig{Provider: ProviderDefault}
}

// Validate reports every problem, each prefixed with its field path.
func (c CredentialsConfig) Validate() error {
	return errors.Join(c.validate("credentials", 0)...)
}

// maxSourceDepth bounds role chaining; AWS itself caps a chain's session at
// one hour, and a deeper chain is almost certainly a config mistake.
const maxSourceDepth = 4

var (
	// From the STS API reference for RoleSessionName and ExternalId.
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	externalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	arnRE         = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:[a-z-]+/.+$`)
)

func (c CredentialsConfig) validate(path string, depth int) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, args...)))
	}
	provider := c.Provider
	if provider == "" {
		provider = ProviderDefault
	}

	if c.Region != "" && !regionRE.MatchString(c.Region) {
		bad("region", "%q does not look like an AWS region such as us-east-1", c.Region)
	}
	if c.STSEndpoint != "" {
		u, err := url.Parse(c.STSEndpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("sts_endpoint", "must be an absolute http(s) URL")
		}
	}
	if c.Duration != 0 && (c.Duration < 15*time.Minute || c.Duration > 12*time.Hour) {
		bad("duration", "must be between 15m and 12h, got %s", c.Duration)
	}
	if c.SessionName != "" && !sessionNameRE.MatchString(c.SessionName) {
		bad("session_name", "must be 2-64 characters of letters, digits and +=,.@_-")
	}

	// used lists the provider-specific fields a provider reads; any other
	// non-zero one is reported so a typo'd provider name does not silently
	// drop a role ARN.
	used := map[string]bool{}
	requireARN := func(field, value, kind string) {
		used[field] = true
		switch {
		case value == "":
			bad(field, "required for %s", provider)
		case !arnRE.MatchString(value) || !strings.Contains(value, ":"+kind+"/"):
			bad(field, "must be an IAM %s ARN like arn:aws:iam::123456789012:%s/name", kind, kind)
		}
	}

	switch provider {
	case ProviderDefault:
	case ProviderAssumeRole:
		requireARN("role_arn", c.RoleARN, "role")
		used["external_id"], used["session_name"], used["duration"], used["source"] = true, true, true, true
		if c.ExternalID != "" && (len(c.ExternalID) < 2 || len(c.ExternalID) > 1224 || !externalIDRE.MatchString(c.ExternalID)) {
			bad("external_id", "must be 2-1224 characters of letters, digits and +=,.@:/_-")
		}
		if c.Source != nil {
			if depth >= maxSourceDepth {
				bad("source", "role chain deeper than %d", maxSourceDepth)
			} else {
				errs = append(errs, c.Source.validate(path+".source", depth+1)...)
			}
		}
	case ProviderWebIdentity:
		requireARN("role_arn", c.RoleARN, "role")
		used["token_file"], used["session_name"], used["duration"] = true, true, true
		if c.TokenFile == "" {
			bad("token_file", "required for web_identity")
		}
	case ProviderSAML:
		requireARN("role_arn", c.RoleARN, "role")
		requireARN("principal_arn", c.PrincipalARN, "saml-provider")
		used["assertion_file"], used["assertion_command"], used["duration"] = true, true, true
		switch {
		case c.AssertionFile == "" && len(c.AssertionCommand) == 0:
			bad("assertion_file", "one of assertion_file or assertion_command is required for saml")
		case c.AssertionFile != "" && len(c.AssertionCommand) != 0:
			bad("assertion_command", "set either assertion_file or assertion_command, not both")
		case len(c.AssertionCommand) != 0 && strings.TrimSpace(c.AssertionCommand[0]) == "":
			bad("assertion_command", "first element must name the program to run")
		}
	case ProviderStatic:
		used["access_key_id"], used["secret_access_key"], used["session_token"] = true, true, true
		if c.AccessKeyID == "" {
			bad("access_key_id", "required for static")
		}
		if c.SecretAccessKey.IsZero() {
			bad("secret_access_key", "required for static")
		}
	default:
		bad("provider", "unknown provider %q (want one of %s)", c.Provider, strings.Join(providers, ", "))
		return errs
	}

	set := map[string]bool{
		"role_arn":          c.RoleARN != "",
		"external_id":       c.ExternalID != "",
		"session_name":      c.SessionName != "",
		"duration":          c.Duration != 0,
		"source":            c.Source != nil,
		"token_file":        c.TokenFile != "",
		"principal_arn":     c.PrincipalARN != "",
		"assertion_file":    c.AssertionFile != "",
		"assertion_command": len(c.AssertionCommand) != 0,
		"access_key_id":     c.AccessKeyID != "",
		"secret_access_key": !c.SecretAccessKey.IsZero(),
		"session_token":     !c.SessionToken.IsZero(),
	}
	for _, field := range []string{
		"role_arn", "external_id", "session_name", "duration", "source", "token_file", "principal_arn",
		"assertion_file", "assertion_command", "access_key_id", "secret_access_key", "session_token",
	} {
		if set[field] && !used[field] {
			bad(field, "not used by provider %s", provider)
		}
	}
	return errs
}
