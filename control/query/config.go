package query

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/weir-ingest/weir/auth/policy"
	"github.com/weir-ingest/weir/config/units"
)

// Multi-value modes for RoleMapping.MultiValue.
const (
	// MultiValueSortedJoin sorts a claim's values, drops duplicates and joins them with
	// commas into one key, the way Cognito pre-token-generation triggers build one.
	MultiValueSortedJoin = "sorted_join"
	// MultiValueAny looks each value up alone; the first match in sorted order wins.
	MultiValueAny = "any"
)

// Start-up policy check modes for Config.PolicyCheck.
const (
	PolicyCheckWarn   = "warn"
	PolicyCheckStrict = "strict"
	PolicyCheckOff    = "off"
)

// Config is the query section. The endpoint is off unless Enabled; then its routes answer
// 404 with a hint, so nothing is readable by default.
type Config struct {
	// Enabled turns the read-query routes on.
	Enabled bool `koanf:"enabled"`
	// Service is "es" (OpenSearch Service) or "aoss" (Serverless); default:
	// opensearch.sigv4.service, else "es".
	Service string `koanf:"service"`
	// Region, Account and Domain name the domain in IAM resources
	// (arn:aws:es:REGION:ACCOUNT:domain/DOMAIN/...). Region defaults to
	// opensearch.sigv4.region, then aws.region; Account to weir's caller identity; Domain
	// to the name in an opensearch.urls host such as search-DOMAIN-ID.REGION.es.amazonaws.com.
	Region  string `koanf:"region"`
	Account string `koanf:"account"`
	Domain  string `koanf:"domain"`
	// WeirPolicyFile is the identity-based policy deployed on weir's own IAM role. Every
	// query must be allowed by it as well as by the caller's role policy, so the endpoint
	// refuses locally, with the reason, what AWS would refuse anyway. WeirPolicy is the same
	// document inline. One of them is required when Enabled; either also turns on the
	// start-up policy check.
	WeirPolicyFile string `koanf:"weir_policy_file"`
	WeirPolicy     string `koanf:"weir_policy"`
	// PolicyCheck is what `weir run` does when weir's policy denies something weir needs:
	// "warn" (default) logs each denial, "strict" refuses to start, "off" skips the check.
	PolicyCheck string `koanf:"policy_check"`
	// MaxBodyBytes bounds a query's request body. Default: 1MiB.
	MaxBodyBytes units.ByteSize `koanf:"max_body_bytes"`
	// Timeout bounds one forwarded query, answer included. Default: 30s.
	Timeout time.Duration `koanf:"timeout"`
	// OIDC accepts bearer tokens from one issuer (Cognito, Okta, any OpenID provider).
	OIDC OIDCConfig `koanf:"oidc"`
	// APIKeys are static keys for programs, each stored as a hash and bound to a role.
	APIKeys []APIKey `koanf:"api_keys"`
	// RoleMapping turns a token's claims into a role.
	RoleMapping RoleMapping `koanf:"role_mapping"`
	// Roles name the policy that bounds each role's reads.
	Roles map[string]Role `koanf:"roles"`
}

// OIDCConfig verifies bearer tokens: signature against the issuer's JWKS (refetched when a
// token names a key it has not seen, so keys rotate without a restart), issuer, audience,
// expiry and not-before with ClockSkew of leeway.
type OIDCConfig struct {
	// Issuer is the issuer URL; its /.well-known/openid-configuration is read on first use.
	// Empty turns bearer tokens off.
	Issuer string `koanf:"issuer"`
	// ClientIDs are the accepted audiences: a token's aud, or for Cognito access tokens
	// (which have none) its client_id claim, must name one.
	ClientIDs []string `koanf:"client_ids"`
	// ClockSkew is the leeway on exp, nbf and iat. Default: 1m.
	ClockSkew time.Duration `koanf:"clock_skew"`
	// SubjectClaim names the caller in audit logs. Default: sub.
	SubjectClaim string `koanf:"subject_claim"`
}

// APIKey is one static key. Hash is "sha256:" and the hex SHA-256 of the key
// (printf %s "$KEY" | sha256sum); the key itself is never stored.
type APIKey struct {
	Name  string         `koanf:"name"`
	Hash  string         `koanf:"hash"`
	Role  string         `koanf:"role"`
	Extra map[string]any `koanf:",remain"`
}

// RoleMapping maps a claim's value or values to a role.
type RoleMapping struct {
	// Claim is the claim read (e.g. "cognito:groups", "custom:groups", "groups"); a dotted
	// path reaches into nested objects when no top-level claim has the whole name.
	Claim string `koanf:"claim"`
	// MultiValue is "sorted_join" (default) or "any". A claim may hold a JSON array or a
	// comma-separated string.
	MultiValue string `koanf:"multi_value"`
	// Table maps a key (one value, or sorted values joined with commas) to a role.
	Table map[string]string `koanf:"table"`
	// FallbackRole is the role of a caller no entry matches; empty refuses them with 403.
	FallbackRole string `koanf:"fallback_role"`
}

// Role names the identity-based policy that bounds a role: PolicyFile or Policy (inline JSON).
type Role struct {
	PolicyFile string         `koanf:"policy_file"`
	Policy     string         `koanf:"policy"`
	Extra      map[string]any `koanf:",remain"`
}

// DefaultConfig returns the defaults: off.
func DefaultConfig() Config {
	return Config{
		PolicyCheck:  PolicyCheckWarn,
		MaxBodyBytes: 1 << 20,
		Timeout:      30 * time.Second,
		OIDC:         OIDCConfig{ClockSkew: time.Minute, SubjectClaim: "sub"},
		RoleMapping:  RoleMapping{MultiValue: MultiValueSortedJoin},
	}
}

// maxBodyLimit keeps a query body small enough to hold and inspect in memory.
const maxBodyLimit = 64 << 20

// Validate reports every problem, each prefixed with its key. Policy files are read by New,
// not here; inline policies are parsed here.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Service != "" && c.Service != policy.ServiceES && c.Service != policy.ServiceAOSS {
		add("service: must be %q or %q, got %q", policy.ServiceES, policy.ServiceAOSS, c.Service)
	}
	switch c.PolicyCheck {
	case PolicyCheckWarn, PolicyCheckStrict, PolicyCheckOff:
	default:
		add("policy_check: must be warn, strict or off, got %q", c.PolicyCheck)
	}
	if c.WeirPolicyFile != "" && c.WeirPolicy != "" {
		errs = append(errs, errors.New("weir_policy: set weir_policy_file or weir_policy, not both"))
	}
	if c.WeirPolicy != "" {
		if _, err := policy.Parse([]byte(c.WeirPolicy)); err != nil {
			add("weir_policy: %w", err)
		}
	}
	if !c.Enabled {
		return errors.Join(errs...)
	}
	if c.WeirPolicyFile == "" && c.WeirPolicy == "" {
		errs = append(errs, errors.New("weir_policy_file: required when the query endpoint is enabled: the identity-based policy on weir's IAM role, which bounds every query"))
	}
	if c.MaxBodyBytes < 1 || c.MaxBodyBytes > maxBodyLimit {
		add("max_body_bytes: must be between 1B and %s, got %s", units.ByteSize(maxBodyLimit), c.MaxBodyBytes)
	}
	if c.Timeout <= 0 {
		add("timeout: must be positive, got %s", c.Timeout)
	}
	if c.OIDC.Issuer == "" && len(c.APIKeys) == 0 {
		errs = append(errs, errors.New("oidc.issuer: the query endpoint is enabled but accepts no credentials: set oidc.issuer or api_keys"))
	}
	errs = append(errs, c.OIDC.validate()...)
	names := map[string]bool{}
	for i, k := range c.APIKeys {
		p := fmt.Sprintf("api_keys[%d]", i)
		if k.Name == "" {
			add("%s.name: required", p)
		} else if names[k.Name] {
			add("%s.name: %q is used twice", p, k.Name)
		}
		names[k.Name] = true
		if _, err := parseKeyHash(k.Hash); err != nil {
			add("%s.hash: %w", p, err)
		}
		if k.Role == "" {
			add("%s.role: required", p)
		} else if _, ok := c.Roles[k.Role]; !ok {
			add("%s.role: no role %q under roles", p, k.Role)
		}
		for _, x := range sortedKeys(k.Extra) {
			add("%s.%s: unknown key", p, x)
		}
	}
	errs = append(errs, c.RoleMapping.validate(c.Roles, c.OIDC.Issuer != "")...)
	for _, name := range sortedKeys(c.Roles) {
		r := c.Roles[name]
		p := "roles." + name
		switch {
		case r.PolicyFile == "" && r.Policy == "":
			add("%s.policy_file: required (or policy, inline)", p)
		case r.PolicyFile != "" && r.Policy != "":
			add("%s.policy: set policy_file or policy, not both", p)
		case r.Policy != "":
			if _, err := policy.Parse([]byte(r.Policy)); err != nil {
				add("%s.policy: %w", p, err)
			}
		}
		for _, x := range sortedKeys(r.Extra) {
			add("%s.%s: unknown key", p, x)
		}
	}
	return errors.Join(errs...)
}

func (o OIDCConfig) validate() []error {
	if o.Issuer == "" {
		return nil
	}
	var errs []error
	if u, err := url.Parse(o.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("oidc.issuer: want an http(s) URL, got %q", o.Issuer))
	}
	if len(o.ClientIDs) == 0 || slices.Contains(o.ClientIDs, "") {
		errs = append(errs, errors.New("oidc.client_ids: required: the audiences (app client ids) tokens must be issued for"))
	}
	if o.ClockSkew < 0 || o.ClockSkew > 10*time.Minute {
		errs = append(errs, fmt.Errorf("oidc.clock_skew: must be between 0s and 10m, got %s", o.ClockSkew))
	}
	if o.SubjectClaim == "" {
		errs = append(errs, errors.New("oidc.subject_claim: required"))
	}
	return errs
}

func (m RoleMapping) validate(roles map[string]Role, oidc bool) []error {
	var errs []error
	if m.MultiValue != MultiValueSortedJoin && m.MultiValue != MultiValueAny {
		errs = append(errs, fmt.Errorf("role_mapping.multi_value: must be %q or %q, got %q", MultiValueSortedJoin, MultiValueAny, m.MultiValue))
	}
	if oidc && m.Claim == "" && m.FallbackRole == "" {
		errs = append(errs, errors.New("role_mapping.claim: required: the claim whose values pick a role (or set fallback_role to give every caller one)"))
	}
	for _, k := range sortedKeys(m.Table) {
		if _, ok := roles[m.Table[k]]; !ok {
			errs = append(errs, fmt.Errorf("role_mapping.table.%s: no role %q under roles", k, m.Table[k]))
		}
		if m.MultiValue == MultiValueSortedJoin && k != canonicalKey(k) {
			errs = append(errs, fmt.Errorf("role_mapping.table.%s: keys are matched sorted and without spaces: write %q", k, canonicalKey(k)))
		}
	}
	if m.FallbackRole != "" {
		if _, ok := roles[m.FallbackRole]; !ok {
			errs = append(errs, fmt.Errorf("role_mapping.fallback_role: no role %q under roles", m.FallbackRole))
		}
	}
	return errs
}

// canonicalKey is how a table key written by hand compares: its comma-separated values
// trimmed, sorted and without duplicates.
func canonicalKey(k string) string { return SortedJoin(splitValues(k)) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ResolveDomain fills Service, Region and Domain from the OpenSearch section where the query
// section leaves them empty: service and region from the signing settings, the domain from
// an Amazon OpenSearch Service endpoint host (search-DOMAIN-ID.REGION.es.amazonaws.com or
// vpc-…) or a Serverless one (ID.REGION.aoss.amazonaws.com).
func (c *Config) ResolveDomain(signingService, signingRegion string, urls []string) {
	if c.Service == "" {
		c.Service = signingService
	}
	if c.Service == "" {
		c.Service = policy.ServiceES
	}
	if c.Region == "" {
		c.Region = signingRegion
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		name, region, service := DomainFromHost(u.Hostname())
		if c.Domain == "" && name != "" && service == c.Service {
			c.Domain = name
		}
		if c.Region == "" && region != "" {
			c.Region = region
		}
	}
}

// DomainFromHost reads a domain (or collection) name, region and service from an AWS
// OpenSearch endpoint host; all empty when the host is not one.
func DomainFromHost(host string) (name, region, service string) {
	labels := strings.Split(strings.ToLower(host), ".")
	if len(labels) < 5 || labels[len(labels)-2] != "amazonaws" {
		return "", "", ""
	}
	first, region, service := labels[0], labels[1], labels[2]
	switch service {
	case policy.ServiceAOSS:
		return first, region, service
	case policy.ServiceES:
		for _, p := range []string{"search-", "vpc-"} {
			if rest, ok := strings.CutPrefix(first, p); ok {
				if i := strings.LastIndexByte(rest, '-'); i > 0 {
					return rest[:i], region, service
				}
			}
		}
	}
	return "", "", ""
}
