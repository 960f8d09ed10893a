package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustParse(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	require.NoError(t, err)
	return p
}

// The policies below are the examples of "Identity and Access Management in Amazon
// OpenSearch Service" (developer guide, ac.md), verbatim but for the documented variants
// named in each test case. Their user is in account 123456789012 and their domain in
// 987654321098, so they are checked here as the resource-based policy alone decides;
// access_test.go covers how it combines with the identity-based policy.
const (
	docsAccount = "987654321098"
	testUser    = "arn:aws:iam::123456789012:user/test-user"

	docsFullAccess = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"AWS": ["arn:aws:iam::123456789012:user/test-user"]},
      "Action": ["es:*"],
      "Resource": "arn:aws:es:us-west-1:987654321098:domain/test-domain/*"
    }
  ]
}`
	docsSearchOnly = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"AWS": ["arn:aws:iam::123456789012:user/test-user"]},
      "Action": ["es:ESHttpGet"],
      "Resource": "arn:aws:es:us-west-1:987654321098:domain/test-domain/test-index/_search"
    }
  ]
}`
	docsPowerUser = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"AWS": ["arn:aws:iam::123456789012:role/power-user-role"]},
      "Action": ["es:ESHttpGet", "es:ESHttpPut"],
      "Resource": "arn:aws:es:us-west-1:987654321098:domain/test-domain/commerce-data/*"
    }
  ]
}`
	docsRestricted = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::123456789012:user/test-user"},
      "Action": "es:ESHttp*",
      "Resource": "arn:aws:es:us-west-1:987654321098:domain/test-domain/*"
    },
    {
      "Sid": "DenyRestricted",
      "Effect": "Deny",
      "Principal": {"AWS": "arn:aws:iam::123456789012:user/test-user"},
      "Action": "es:ESHttp*",
      "Resource": "arn:aws:es:us-west-1:987654321098:domain/test-domain/restricted-index/*"
    }
  ]
}`
	docsIP = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"AWS": "*"},
      "Action": ["es:ESHttp*"],
      "Condition": {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8:1234::/48"]}},
      "Resource": "arn:aws:es:us-west-1:987654321098:domain/test-domain/*"
    }
  ]
}`
	docsUserAndIP = `{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Principal": {"AWS": ["arn:aws:iam::987654321098:user/test-user"]},
    "Action": ["es:ESHttp*"],
    "Condition": {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24"]}},
    "Resource": "arn:aws:es:us-west-1:987654321098:domain/test-domain/*"
  }]
}`
	docsReadOnlyConfig = `{
  "Version": "2012-10-17",
  "Statement": [{"Action": ["es:Describe*", "es:List*"], "Effect": "Allow", "Resource": "*"}]
}`
	docsTagged = `{
  "Version": "2012-10-17",
  "Statement": [{
    "Action": ["es:ESHttpGet", "es:ESHttpPut"],
    "Effect": "Allow",
    "Resource": "*",
    "Condition": {"ForAnyValue:StringEquals": {"aws:ResourceTag/environment": ["production"]}}
  }]
}`
	// Not in the guide: NotAction in an identity-based policy, everything but deletion.
	notDelete = `{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "NotAction": ["es:ESHttpDelete", "es:Delete*"],
    "Resource": "arn:aws:es:us-west-1:987654321098:domain/test-domain/*"
  }]
}`
	actionCase = `{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "ES:eshttpget", "Resource": "arn:aws:es:us-west-1:987654321098:domain/test-domain/Test-Index/*"}]
}`
)

func TestOpenSearchDocsExamples(t *testing.T) {
	t.Parallel()
	const sessionARN = "arn:aws:sts::123456789012:assumed-role/power-user-role/alice"
	tests := []struct {
		name      string
		policy    string
		identity  bool // evaluate as identity-based, else as resource-based
		principal string
		method    string
		path      string
		action    string // instead of method and path, for the configuration API
		resource  string
		ctx       map[string][]string
		want      Effect
		explain   string
	}{
		{name: "full access: index", policy: docsFullAccess, principal: testUser, method: "GET", path: "/test-index", want: Allow,
			explain: `allowed by Statement[0] (Principal AWS "arn:aws:iam::123456789012:user/test-user", Action "es:*", Resource "arn:aws:es:us-west-1:987654321098:domain/test-domain/*")`},
		{name: "full access: root path is a subresource", policy: docsFullAccess, principal: testUser, method: "GET", path: "/", want: Allow},
		{name: "full access: not the configuration API", policy: docsFullAccess, principal: testUser,
			action: "es:UpdateDomainConfig", resource: "arn:aws:es:us-west-1:987654321098:domain/test-domain", want: ImplicitDeny,
			explain: "no statement allows es:UpdateDomainConfig on arn:aws:es:us-west-1:987654321098:domain/test-domain"},
		{name: "full access: other user", policy: docsFullAccess, principal: "arn:aws:iam::123456789012:user/other", method: "GET", path: "/test-index", want: ImplicitDeny,
			explain: `Statement[0] does not apply: its Principal AWS "arn:aws:iam::123456789012:user/test-user" does not name arn:aws:iam::123456789012:user/other`},
		{name: "full access: other domain", policy: docsFullAccess, principal: testUser, action: "es:ESHttpGet",
			resource: "arn:aws:es:us-west-1:987654321098:domain/other-domain/test-index", want: ImplicitDeny},

		{name: "search only: GET _search", policy: docsSearchOnly, principal: testUser, method: "GET", path: "/test-index/_search?q=thor", want: Allow},
		{name: "search only: GET _doc", policy: docsSearchOnly, principal: testUser, method: "GET", path: "/test-index/_doc/1", want: ImplicitDeny},
		{name: "search only: POST _search", policy: docsSearchOnly, principal: testUser, method: "POST", path: "/test-index/_search", want: ImplicitDeny,
			explain: "no statement allows es:ESHttpPost on arn:aws:es:us-west-1:987654321098:domain/test-domain/test-index/_search"},

		{name: "power user role: session may GET", policy: docsPowerUser, principal: sessionARN, method: "GET", path: "/commerce-data/_search", want: Allow,
			explain: `Principal AWS "arn:aws:iam::123456789012:role/power-user-role"`},
		{name: "power user role: role itself may PUT", policy: docsPowerUser, principal: "arn:aws:iam::123456789012:role/power-user-role",
			method: "PUT", path: "/commerce-data/_doc/1", want: Allow},
		{name: "power user role: no DELETE", policy: docsPowerUser, principal: sessionARN, method: "DELETE", path: "/commerce-data/_doc/1", want: ImplicitDeny},
		{name: "power user role: session of another role", policy: docsPowerUser,
			principal: "arn:aws:sts::123456789012:assumed-role/power-user-role-2/alice", method: "GET", path: "/commerce-data/_search", want: ImplicitDeny},

		{name: "restricted: documents denied", policy: docsRestricted, principal: testUser, method: "GET", path: "/restricted-index/_search", want: Deny,
			explain: `denied by Statement "DenyRestricted" (Principal AWS "arn:aws:iam::123456789012:user/test-user", Action "es:ESHttp*", Resource "arn:aws:es:us-west-1:987654321098:domain/test-domain/restricted-index/*")`},
		{name: "restricted: deleting the index itself is allowed", policy: docsRestricted, principal: testUser, method: "DELETE", path: "/restricted-index", want: Allow,
			explain: `allowed by Statement[0]`},
		{name: "restricted: _all/_search slips past, as the guide warns", policy: docsRestricted, principal: testUser, method: "GET", path: "/_all/_search", want: Allow},
		{name: "restricted: other index", policy: docsRestricted, principal: testUser, method: "PUT", path: "/test-index/_doc/1", want: Allow},

		{name: "IP: in range", policy: docsIP, principal: "", method: "GET", path: "/test-index/_search",
			ctx: map[string][]string{"aws:SourceIp": {"192.0.2.17"}}, want: Allow,
			explain: `Principal AWS "*", Action "es:ESHttp*", Resource "arn:aws:es:us-west-1:987654321098:domain/test-domain/*", Condition IpAddress aws:SourceIp ["192.0.2.0/24", "2001:db8:1234::/48"]`},
		{name: "IP: out of range", policy: docsIP, principal: "", method: "GET", path: "/test-index/_search",
			ctx: map[string][]string{"aws:SourceIp": {"198.51.100.1"}}, want: ImplicitDeny,
			explain: `Statement[0] does not apply: condition IpAddress aws:SourceIp ["192.0.2.0/24", "2001:db8:1234::/48"] is not met`},
		{name: "IP: IPv6 in range", policy: docsIP, principal: testUser, method: "GET", path: "/test-index/_search",
			ctx: map[string][]string{"aws:sourceip": {"2001:db8:1234:ffff::1"}}, want: Allow},
		{name: "IP: IPv6 out of range", policy: docsIP, principal: testUser, method: "GET", path: "/test-index/_search",
			ctx: map[string][]string{"aws:SourceIp": {"2001:db8:1235::1"}}, want: ImplicitDeny},
		{name: "IP: IPv4-mapped IPv6 in range", policy: docsIP, method: "GET", path: "/",
			ctx: map[string][]string{"aws:SourceIp": {"::ffff:192.0.2.1"}}, want: Allow},
		{name: "IP: no source IP", policy: docsIP, method: "GET", path: "/", want: ImplicitDeny},
		{name: "user and IP: both", policy: docsUserAndIP, principal: "arn:aws:iam::987654321098:user/test-user", method: "POST", path: "/test-index/_doc",
			ctx: map[string][]string{"aws:SourceIp": {"192.0.2.1"}}, want: Allow},
		{name: "user and IP: wrong IP", policy: docsUserAndIP, principal: "arn:aws:iam::987654321098:user/test-user", method: "POST", path: "/test-index/_doc",
			ctx: map[string][]string{"aws:SourceIp": {"192.0.3.1"}}, want: ImplicitDeny},

		{name: "identity read-only config: DescribeDomain", policy: docsReadOnlyConfig, identity: true,
			action: "es:DescribeDomain", resource: "arn:aws:es:us-west-1:987654321098:domain/test-domain", want: Allow},
		{name: "identity read-only config: no data", policy: docsReadOnlyConfig, identity: true, method: "GET", path: "/test-index/_search", want: ImplicitDeny},
		{name: "identity tags: production", policy: docsTagged, identity: true, method: "GET", path: "/test-index/_search",
			ctx: map[string][]string{"aws:ResourceTag/environment": {"production"}}, want: Allow},
		{name: "identity tags: staging", policy: docsTagged, identity: true, method: "GET", path: "/test-index/_search",
			ctx: map[string][]string{"aws:ResourceTag/environment": {"staging"}}, want: ImplicitDeny},
		{name: "identity tags: untagged", policy: docsTagged, identity: true, method: "GET", path: "/test-index/_search", want: ImplicitDeny},

		{name: "NotAction: GET allowed", policy: notDelete, identity: true, method: "GET", path: "/test-index/_search", want: Allow,
			explain: `allowed by Statement[0] (NotAction ["es:ESHttpDelete", "es:Delete*"], Resource "arn:aws:es:us-west-1:987654321098:domain/test-domain/*")`},
		{name: "NotAction: DELETE not allowed", policy: notDelete, identity: true, method: "DELETE", path: "/test-index", want: ImplicitDeny},
		{name: "NotAction: listed action case-insensitive", policy: notDelete, identity: true, action: "ES:DELETEDOMAIN",
			resource: "arn:aws:es:us-west-1:987654321098:domain/test-domain/x", want: ImplicitDeny},

		{name: "action case: ES:eshttpget matches es:ESHttpGet", policy: actionCase, identity: true,
			action: "es:ESHttpGet", resource: "arn:aws:es:us-west-1:987654321098:domain/test-domain/Test-Index/_search", want: Allow},
		{name: "resource case: test-index is not Test-Index", policy: actionCase, identity: true, method: "GET", path: "/test-index/_search", want: ImplicitDeny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustParse(t, tt.policy)
			action, resource := tt.action, tt.resource
			if action == "" {
				action, resource = OpenSearchRequest(ServiceES, "us-west-1", docsAccount, "test-domain", tt.method, tt.path)
				require.NotEmpty(t, action)
			}
			req := Request{Principal: tt.principal, Action: action, Resource: resource, Context: tt.ctx}
			var d Decision
			if tt.identity {
				d = p.Evaluate(req)
			} else {
				d = p.EvaluateResource(req)
			}
			assert.Equal(t, tt.want, d.Effect, d.Explain())
			if tt.explain != "" {
				assert.Contains(t, d.Explain(), tt.explain)
			}
		})
	}
}
