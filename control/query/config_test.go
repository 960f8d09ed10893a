package query_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/config"
	"github.com/weir-ingest/weir/control/query"
)

func load(t *testing.T, yaml string) error {
	t.Helper()
	base := "sources: {http: {enabled: true}}\n"
	_, err := config.Load(config.Source{YAML: []byte(base + yaml), Name: "test.yaml"})
	return err
}

func TestQueryConfigOffByDefault(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	assert.False(t, cfg.Query.Enabled)
	require.NoError(t, load(t, ""))
}

func TestQueryConfigValidation(t *testing.T) {
	t.Parallel()
	const good = `
query:
  enabled: true
  domain: logs
  region: eu-west-1
  account: "123456789012"
  weir_policy: '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"es:ESHttpGet","Resource":"*"}}'
  oidc: {issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc", client_ids: [app]}
  api_keys: [{name: ci, hash: "sha256:51be6a8f46dfbc2611f404bbb900788cea7c27ccbd7cca2300de565a5f7b2300", role: analyst}]
  role_mapping:
    claim: "custom:groups"
    table: {"analysts,readers": analyst}
  roles:
    analyst: {policy: '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"es:ESHttpGet","Resource":"*"}}'}
`
	require.NoError(t, load(t, good))

	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"nothing but enabled", "query: {enabled: true}", []string{
			"query.weir_policy_file: required",
			"query.oidc.issuer: the query endpoint is enabled but accepts no credentials",
		}},
		{"bad pieces", `
query:
  enabled: true
  service: opensearch
  policy_check: loud
  weir_policy_file: weir.json
  oidc: {issuer: "ftp://x", clock_skew: 1h}
  api_keys: [{name: ci, hash: "deadbeef", role: nobody, rol: typo}, {name: ci, hash: "sha256:00", role: analyst}]
  role_mapping: {table: {"readers, analysts": analyst}, fallback_role: ghost}
  roles:
    analyst: {policy: '{"Statement": []}', polcy_file: x}
    empty: {}
`, []string{
			`query.service: must be "es" or "aoss"`,
			"query.policy_check: must be warn, strict or off",
			"query.oidc.issuer: want an http(s) URL",
			"query.oidc.client_ids: required",
			"query.oidc.clock_skew: must be between 0s and 10m",
			"query.api_keys[0].hash: want \"sha256:\"",
			`query.api_keys[0].role: no role "nobody" under roles`,
			"query.api_keys[0].rol: unknown key",
			`query.api_keys[1].name: "ci" is used twice`,
			"query.api_keys[1].hash: want",
			`query.role_mapping.table.readers, analysts: keys are matched sorted and without spaces: write "analysts,readers"`,
			`query.role_mapping.fallback_role: no role "ghost" under roles`,
			"query.roles.analyst.policy: ",
			"query.roles.analyst.polcy_file: unknown key",
			"query.roles.empty.policy_file: required",
		}},
		{"multi_value", "query: {role_mapping: {multi_value: first}, enabled: true}", []string{`query.role_mapping.multi_value: must be "sorted_join" or "any"`}},
		{"unknown key", "query: {enabled: false, enable_writes: true}", []string{"query.enable_writes: unknown key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := load(t, tc.yaml)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestDomainFromHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ host, name, region, service string }{
		{"search-logs-abc123xyz.eu-west-1.es.amazonaws.com", "logs", "eu-west-1", "es"},
		{"vpc-my-logs-2-abc123.us-east-1.es.amazonaws.com", "my-logs-2", "us-east-1", "es"},
		{"k3x9q1.eu-west-1.aoss.amazonaws.com", "k3x9q1", "eu-west-1", "aoss"},
		{"127.0.0.1", "", "", ""},
		{"opensearch.internal.example.com", "", "", ""},
	} {
		n, r, s := query.DomainFromHost(tc.host)
		assert.Equal(t, []string{tc.name, tc.region, tc.service}, []string{n, r, s}, tc.host)
	}
	var c query.Config
	c.ResolveDomain("", "", []string{"https://search-logs-abc.eu-west-1.es.amazonaws.com"})
	assert.Equal(t, []string{"es", "eu-west-1", "logs"}, []string{c.Service, c.Region, c.Domain})
	assert.True(t, strings.HasPrefix(query.HashAPIKey("k"), "sha256:"))
}
