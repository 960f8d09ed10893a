package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCredentialsConfigValidate(t *testing.T) {
	t.Parallel()
	const role = "arn:aws:iam::123456789012:role/weir"
	const samlIdP = "arn:aws:iam::123456789012:saml-provider/corp"
	tests := []struct {
		name string
		cfg  CredentialsConfig
		want []string // each must appear; none means valid
	}{
		{"default", DefaultCredentialsConfig(), nil},
		{"empty provider means default", CredentialsConfig{}, nil},
		{"assume_role", CredentialsConfig{Provider: ProviderAssumeRole, RoleARN: role, ExternalID: "ext-1", SessionName: "weir-1", Duration: time.Hour}, nil},
		{"assume_role chain", CredentialsConfig{Provider: ProviderAssumeRole, RoleARN: role,
			Source: &CredentialsConfig{Provider: ProviderWebIdentity, RoleARN: role, TokenFile: "/var/run/token"}}, nil},
		{"web_identity", CredentialsConfig{Provider: ProviderWebIdentity, RoleARN: role, TokenFile: "/t"}, nil},
		{"saml file", CredentialsConfig{Provider: ProviderSAML, RoleARN: role, PrincipalARN: samlIdP, AssertionFile: "/a"}, nil},
		{"saml command", CredentialsConfig{Provider: ProviderSAML, RoleARN: role, PrincipalARN: samlIdP, AssertionCommand: []string{"saml2aws", "print"}}, nil},
		{"static", CredentialsConfig{Provider: ProviderStatic, AccessKeyID: "AKID", SecretAccessKey: "s"}, nil},
		{"sts endpoint", CredentialsConfig{STSEndpoint: "https://sts.eu-west-1.amazonaws.com"}, nil},

		{"unknown provider", CredentialsConfig{Provider: "env"}, []string{`credentials.provider: unknown provider "env"`}},
		{"assume_role without role", CredentialsConfig{Provider: ProviderAssumeRole}, []string{"credentials.role_arn: required for assume_role"}},
		{"bad role arn", CredentialsConfig{Provider: ProviderAssumeRole, RoleARN: "weir"}, []string{"credentials.role_arn: must be an IAM role ARN"}},
		{"bad duration and session", CredentialsConfig{Provider: ProviderAssumeRole, RoleARN: role, Duration: time.Minute, SessionName: "bad name!"},
			[]string{"credentials.duration: must be between 15m and 12h", "credentials.session_name:"}},
		{"bad external id", CredentialsConfig{Provider: ProviderAssumeRole, RoleARN: role, ExternalID: "x"}, []string{"credentials.external_id:"}},
		{"nested source error path", CredentialsConfig{Provider: ProviderAssumeRole, RoleARN: role, Source: &CredentialsConfig{Provider: ProviderStatic}},
			[]string{"credentials.source.access_key_id: required for static", "credentials.source.secret_access_key: required for static"}},
		{"web_identity missing all", CredentialsConfig{Provider: ProviderWebIdentity},
			[]string{"credentials.role_arn: required for web_identity", "credentials.token_file: required for web_identity"}},
		{"saml neither", CredentialsConfig{Provider: ProviderSAML, RoleARN: role, PrincipalARN: samlIdP}, []string{"credentials.assertion_file: one of"}},
		{"saml both", CredentialsConfig{Provider: ProviderSAML, RoleARN: role, PrincipalARN: samlIdP, AssertionFile: "/a", AssertionCommand: []string{"x"}},
			[]string{"credentials.assertion_command: set either"}},
		{"saml principal is a role", CredentialsConfig{Provider: ProviderSAML, RoleARN: role, PrincipalARN: role, AssertionFile: "/a"},
			[]string{"credentials.principal_arn: must be an IAM saml-provider ARN"}},
		{"saml empty argv0", CredentialsConfig{Provider: ProviderSAML, RoleARN: role, PrincipalARN: samlIdP, AssertionCommand: []string{" "}},
			[]string{"credentials.assertion_command: first element"}},
		{"field of another provider", CredentialsConfig{Provider: ProviderDefault, RoleARN: role, TokenFile: "/t"},
			[]string{"credentials.role_arn: not used by provider default", "credentials.token_file: not used by provider default"}},
		{"secret of static on assume_role", CredentialsConfig{Provider: ProviderAssumeRole, RoleARN: role, SecretAccessKey: "leaky-secret"},
			[]string{"credentials.secret_access_key: not used by provider assume_role"}},
		{"bad sts endpoint", CredentialsConfig{STSEndpoint: "sts.amazonaws.com"}, []string{"credentials.sts_endpoint: must be an absolute http(s) URL"}},
		{"chain too deep", deepChain(6), []string{"role chain deeper than"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "leaky-secret", "no secret values in errors")
		})
	}
}

func deepChain(n int) CredentialsConfig {
	cfg := CredentialsConfig{Provider: ProviderDefault}
	for range n {
		src := cfg
		cfg = CredentialsConfig{Provider: ProviderAssumeRole, RoleARN: "arn:aws:iam::123456789012:role/r", Source: &src}
	}
	return cfg
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	err := CredentialsConfig{Provider: ProviderSAML, Duration: time.Second, STSEndpoint: "::"}.Validate()
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	assert.Len(t, lines, 5, err.Error()) // sts_endpoint, duration, role_arn, principal_arn, assertion_file
	for _, l := range lines {
		assert.True(t, strings.HasPrefix(l, "credentials."), l)
	}
}

func TestSigningConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  SigningConfig
		want string
	}{
		{SigningConfig{Service: "es", Region: "eu-west-1"}, ""},
		{SigningConfig{Service: "aoss", Region: "us-gov-west-1", Compress: true}, ""},
		{SigningConfig{Service: "es", Region: "cn-northwest-1"}, ""},
		{DefaultSigningConfig(), "signing.region: required"},
		{SigningConfig{Region: "eu-west-1"}, "signing.service: required"},
		{SigningConfig{Service: "opensearch", Region: "eu-west-1"}, `signing.service: "opensearch" is not`},
		{SigningConfig{Service: "es", Region: "EU_WEST"}, "signing.region:"},
	}
	for _, tc := range tests {
		t.Run(tc.cfg.Service+"/"+tc.cfg.Region, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tc.want)
		})
	}
}
