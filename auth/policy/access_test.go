package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEvaluateAccess(t *testing.T) {
	t.Parallel()
	const (
		acct    = "123456789012"
		domain  = "arn:aws:es:us-east-1:123456789012:domain/test-domain"
		role    = "arn:aws:iam::123456789012:role/ingest"
		session = "arn:aws:sts::123456789012:assumed-role/ingest/weir-7"
		user    = "arn:aws:iam::123456789012:user/alice"
	)
	resourcePolicy := func(principal string) string {
		return `{"Version": "2012-10-17", "Statement": [{"Sid": "Domain", "Effect": "Allow", "Principal": ` + principal +
			`, "Action": "es:ESHttp*", "Resource": "` + domain + `/*"}]}`
	}
	var (
		accountID   = resourcePolicy(`{"AWS": "123456789012"}`)
		accountRoot = resourcePolicy(`{"AWS": "arn:aws:iam::123456789012:root"}`)
		namesRole   = resourcePolicy(`{"AWS": ["arn:aws:iam::123456789012:role/ingest"]}`)
		namesRoleP  = resourcePolicy(`{"AWS": "arn:aws:iam::123456789012:role/service/ingest"}`)
		namesSess   = resourcePolicy(`{"AWS": "arn:aws:sts::123456789012:assumed-role/ingest/weir-7"}`)
		namesOther  = resourcePolicy(`{"AWS": "arn:aws:sts::123456789012:assumed-role/ingest/other"}`)
		anonymous   = resourcePolicy(`"*"`)
		namesUser   = resourcePolicy(`{"AWS": "arn:aws:iam::123456789012:user/alice"}`)
		otherAcct   = resourcePolicy(`{"AWS": "210987654321"}`)
		denyAccount = `{"Version": "2012-10-17", "Statement": [{"Sid": "NoDelete", "Effect": "Deny", "Principal": {"AWS": "123456789012"},
			"Action": "es:ESHttpDelete", "Resource": "` + domain + `/*"}]}`
		identityPost  = `{"Version": "2012-10-17", "Statement": [{"Sid": "Post", "Effect": "Allow", "Action": "es:ESHttpPost", "Resource": "` + domain + `/*"}]}`
		identityGet   = `{"Version": "2012-10-17", "Statement": [{"Sid": "Get", "Effect": "Allow", "Action": "es:ESHttpGet", "Resource": "` + domain + `/*"}]}`
		identityDeny  = `{"Version": "2012-10-17", "Statement": [{"Sid": "NoPost", "Effect": "Deny", "Action": "es:ESHttpPost", "Resource": "*"}]}`
		identityAllES = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "es:*", "Resource": "*"}]}`
	)
	post := func(principal string) Request {
		return Request{Principal: principal, Action: "es:ESHttpPost", Resource: domain + "/logs/_bulk"}
	}
	tests := []struct {
		name      string
		identity  string
		resource  string
		req       Request
		want      Effect
		delegated bool
		explain   string
	}{
		{name: "account-only principal without identity allow", identity: identityGet, resource: accountID, req: post(session),
			want: ImplicitDeny, delegated: true,
			explain: "implicitly denied: the resource-based access policy names only the account 123456789012, so the identity-based policy on the role must also allow es:ESHttpPost, and it does not: no statement allows es:ESHttpPost on " + domain + "/logs/_bulk"},
		{name: "account root principal without identity allow", resource: accountRoot, req: post(user),
			want: ImplicitDeny, delegated: true, explain: "so the identity-based policy on the user must also allow es:ESHttpPost"},
		{name: "account-only principal with identity allow", identity: identityPost, resource: accountID, req: post(session), want: Allow,
			explain: `allowed: identity-based policy: allowed by Statement "Post" (Action "es:ESHttpPost", Resource "` + domain + `/*")`},
		{name: "role principal alone allows its session", resource: namesRole, req: post(session), want: Allow,
			explain: `allowed: the resource-based policy names the caller, so no identity-based allow is needed: allowed by Statement "Domain" (Principal AWS "arn:aws:iam::123456789012:role/ingest"`},
		{name: "role principal with a path allows its session", resource: namesRoleP, req: post(session), want: Allow},
		{name: "role principal allows the role itself", resource: namesRole, req: post(role), want: Allow},
		{name: "session principal allows that session", resource: namesSess, req: post(session), want: Allow},
		{name: "session principal does not allow another session", resource: namesOther, req: post(session), want: ImplicitDeny,
			explain: "implicitly denied: neither policy allows es:ESHttpPost"},
		{name: "user principal", resource: namesUser, req: post(user), want: Allow},
		{name: "user principal is not the role", resource: namesUser, req: post(session), want: ImplicitDeny},
		{name: "anonymous principal names everyone", resource: anonymous, req: post(session), want: Allow},
		{name: "anonymous principal, unsigned caller", resource: anonymous, req: post(""), want: Allow},
		{name: "other account's principal does not apply", resource: otherAcct, req: post(session), want: ImplicitDeny},
		{name: "both allow", identity: identityPost, resource: namesRole, req: post(session), want: Allow, explain: "allowed by both policies"},
		{name: "identity deny beats resource allow", identity: identityDeny, resource: namesRole, req: post(session), want: Deny,
			explain: `explicitly denied: identity-based policy: denied by Statement "NoPost" (Action "es:ESHttpPost", Resource "*")`},
		{name: "resource deny naming the account beats identity allow", identity: identityAllES, resource: denyAccount,
			req: Request{Principal: session, Action: "es:ESHttpDelete", Resource: domain + "/logs"}, want: Deny,
			explain: `explicitly denied: resource-based policy: denied by Statement "NoDelete" (Principal AWS "123456789012" (the account), Action "es:ESHttpDelete"`},
		{name: "no resource policy, identity allows", identity: identityPost, req: post(session), want: Allow},
		{name: "no policies at all", req: post(session), want: ImplicitDeny},
		{name: "cross-account: resource names the caller, identity silent", resource: namesRole,
			req: Request{Principal: session, Action: "es:ESHttpPost", Resource: "arn:aws:es:us-east-1:999999999999:domain/d/x"}, want: ImplicitDeny},
		{name: "cross-account: both allow", identity: identityAllES,
			resource: `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "es:*", "Resource": "*"}}`,
			req:      Request{Principal: session, Action: "es:ESHttpPost", Resource: "arn:aws:es:us-east-1:999999999999:domain/d/x"}, want: Allow,
			explain: "so both policies must allow, and both do"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var identity, resource *Policy
			if tt.identity != "" {
				identity = mustParse(t, tt.identity)
			}
			if tt.resource != "" {
				resource = mustParse(t, tt.resource)
			}
			d := EvaluateAccess(identity, resource, tt.req)
			assert.Equal(t, tt.want, d.Effect, d.Explain())
			assert.Equal(t, tt.want == Allow, d.Allowed())
			assert.Equal(t, tt.delegated, d.DelegatedToAccount)
			if tt.explain != "" {
				assert.Contains(t, d.Explain(), tt.explain)
			}
		})
	}
}

// NotPrincipal spares a caller only when the account, the role and the session are all
// listed, as the IAM guide's NotPrincipal examples do.
func TestNotPrincipal(t *testing.T) {
	t.Parallel()
	const (
		session = "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app"
		roleARN = "arn:aws:iam::444455556666:role/cross-account-read-only-role"
		root    = "arn:aws:iam::444455556666:root"
		bob     = "arn:aws:iam::444455556666:user/Bob"
	)
	deny := func(listed ...string) *Policy {
		aws := `"` + listed[0] + `"`
		for _, l := range listed[1:] {
			aws += `, "` + l + `"`
		}
		return mustParse(t, `{"Version": "2012-10-17", "Statement": [
			{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"},
			{"Effect": "Deny", "NotPrincipal": {"AWS": [`+aws+`]}, "Action": "s3:*", "Resource": "*"}]}`)
	}
	tests := []struct {
		name   string
		policy *Policy
		caller string
		want   Effect
	}{
		{"session, role and account listed", deny(session, roleARN, root), session, Allow},
		{"role missing", deny(session, root), session, Deny},
		{"account missing", deny(session, roleARN), session, Deny},
		{"role only", deny(roleARN), session, Deny},
		{"user and account", deny(bob, root), bob, Allow},
		{"user alone", deny(bob), bob, Deny},
		{"another user", deny(bob, root), "arn:aws:iam::444455556666:user/Eve", Deny},
		{"the account root", deny(root), root, Allow},
		{"anonymous", deny(bob, root), "", Deny},
		{"everyone exempt", deny("*"), bob, Allow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := tt.policy.EvaluateResource(Request{Principal: tt.caller, Action: "s3:GetObject", Resource: "arn:aws:s3:::Bucket_AccountAudit/x"})
			assert.Equal(t, tt.want, d.Effect, d.Explain())
		})
	}
}

// An identity-based policy ignores Principal: it is attached to the caller already.
func TestEvaluateIgnoresPrincipal(t *testing.T) {
	t.Parallel()
	p := mustParse(t, `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:user/x"}, "Action": "es:*", "Resource": "*"}}`)
	assert.True(t, p.Evaluate(Request{Principal: "arn:aws:iam::123456789012:user/alice", Action: "es:ESHttpGet", Resource: "*"}).Allowed())

	noPrincipal := mustParse(t, `{"Statement": {"Effect": "Allow", "Action": "es:*", "Resource": "*"}}`)
	d := noPrincipal.EvaluateResource(Request{Principal: "arn:aws:iam::123456789012:user/alice", Action: "es:ESHttpGet", Resource: "*"})
	assert.Equal(t, ImplicitDeny, d.Effect)
	assert.Contains(t, d.Explain(), "it has no Principal")

	var nilPolicy *Policy
	assert.Equal(t, ImplicitDeny, nilPolicy.Evaluate(Request{Action: "es:ESHttpGet"}).Effect)
}

func TestExplainLimitsUnmet(t *testing.T) {
	t.Parallel()
	st := `{"Effect": "Allow", "Action": "es:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}`
	p := mustParse(t, `{"Version": "2012-10-17", "Statement": [`+st+`,`+st+`,`+st+`,`+st+`,`+st+`]}`)
	d := p.Evaluate(Request{Action: "es:ESHttpGet", Resource: "*"})
	assert.Len(t, d.Unmet, 5)
	assert.Equal(t, `no statement allows es:ESHttpGet on *; Statement[0] does not apply: condition Bool aws:SecureTransport "true" is not met; `+
		`Statement[1] does not apply: condition Bool aws:SecureTransport "true" is not met; `+
		`Statement[2] does not apply: condition Bool aws:SecureTransport "true" is not met; and 2 more`, d.Explain())
}
