package policy

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/internal/testenv"
)

// gen draws random policies and requests from small pools, so that statements match
// requests often enough for the properties below to be tested rather than vacuous.
type gen struct{ r *rand.Rand }

var (
	genActions        = []string{"es:ESHttpGet", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete", "es:DescribeDomain", "s3:GetObject", "aoss:APIAccessAll"}
	genActionPatterns = []string{"*", "es:*", "es:ESHttp*", "es:ESHttpGet", "ES:eshttpget", "es:ESHttp?et", "es:ESHttpP*",
		"s3:*", "s3:Get*", "es:Describe*", "aoss:*", "es:ESHttpDelete"}
	genResources = []string{
		"arn:aws:es:us-east-1:123456789012:domain/d/idx/_search",
		"arn:aws:es:us-east-1:123456789012:domain/d/idx",
		"arn:aws:es:us-east-1:123456789012:domain/d/",
		"arn:aws:es:us-east-1:123456789012:domain/d",
		"arn:aws:es:eu-west-1:210987654321:domain/e/logs-2024/_doc/1",
		"arn:aws:aoss:us-east-1:123456789012:collection/abc123",
		"arn:aws:s3:::bucket/home/alice/x",
		"*",
	}
	genResourcePatterns = []string{"*",
		"arn:aws:es:*:*:domain/d/*",
		"arn:aws:es:us-east-1:123456789012:domain/d/idx*",
		"arn:aws:es:us-east-1:123456789012:domain/*/idx/*",
		"arn:aws:es:us-?ast-1:*:domain/d",
		"arn:aws:es:eu-west-1:210987654321:domain/e/logs-*",
		"arn:aws:aoss:*:123456789012:collection/*",
		"arn:aws:s3:::bucket/home/${aws:username}/*",
		"arn:aws:s3:::*",
	}
	genConditions = []string{
		`{"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}`,
		`{"NotIpAddress": {"aws:SourceIp": "10.1.0.0/16"}}`,
		`{"StringEquals": {"aws:username": "alice"}}`,
		`{"StringNotEquals": {"aws:username": ["bob"]}}`,
		`{"StringLikeIfExists": {"aws:PrincipalTag/team": "search-*"}}`,
		`{"ForAnyValue:StringLike": {"aws:TagKeys": "env*"}}`,
		`{"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}}`,
		`{"Bool": {"aws:SecureTransport": true}}`,
		`{"Null": {"aws:TokenIssueTime": "false"}}`,
		`{"NumericLessThan": {"es:size": 100}, "DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}`,
		`{"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/*"}}`,
	}
	genPrincipals = []string{
		"arn:aws:sts::123456789012:assumed-role/ingest/s1",
		"arn:aws:iam::123456789012:role/ingest",
		"arn:aws:iam::123456789012:user/alice",
		"arn:aws:iam::210987654321:user/eve",
		"",
	}
	genPrincipalElements = []any{"*",
		map[string]any{"AWS": "123456789012"},
		map[string]any{"AWS": "arn:aws:iam::123456789012:root"},
		map[string]any{"AWS": []string{"arn:aws:iam::123456789012:role/ingest"}},
		map[string]any{"AWS": "arn:aws:iam::123456789012:user/alice"},
		map[string]any{"AWS": "*"},
		map[string]any{"Service": "es.amazonaws.com"},
	}
)

func pick[T any](g gen, list []T) T { return list[g.r.IntN(len(list))] }

func (g gen) some(list []string) []string {
	n := 1 + g.r.IntN(3)
	out := make([]string, n)
	for i := range out {
		out[i] = pick(g, list)
	}
	return out
}

func (g gen) statement(effect string, resourceBased bool) map[string]any {
	st := map[string]any{"Effect": effect}
	if g.r.IntN(4) == 0 {
		st["NotAction"] = g.some(genActionPatterns)
	} else {
		st["Action"] = g.some(genActionPatterns)
	}
	if g.r.IntN(5) == 0 {
		st["NotResource"] = g.some(genResourcePatterns)
	} else {
		st["Resource"] = g.some(genResourcePatterns)
	}
	if g.r.IntN(3) == 0 {
		st["Condition"] = json.RawMessage(pick(g, genConditions))
	}
	if resourceBased {
		st["Principal"] = pick(g, genPrincipalElements)
	}
	return st
}

func (g gen) effect() string {
	if g.r.IntN(3) == 0 {
		return "Deny"
	}
	return "Allow"
}

func (g gen) statements(resourceBased bool) []map[string]any {
	out := make([]map[string]any, g.r.IntN(6))
	for i := range out {
		out[i] = g.statement(g.effect(), resourceBased)
	}
	return out
}

func (g gen) request() Request {
	ctx := map[string][]string{}
	if g.r.IntN(2) == 0 {
		ctx["aws:SourceIp"] = []string{pick(g, []string{"10.0.0.1", "10.1.2.3", "192.0.2.1", "2001:db8::5", "::1"})}
	}
	if g.r.IntN(2) == 0 {
		ctx["aws:username"] = []string{pick(g, []string{"alice", "bob"})}
	}
	if g.r.IntN(2) == 0 {
		keys := g.some([]string{"env", "team", "owner"})
		ctx["aws:TagKeys"] = keys[:g.r.IntN(len(keys)+1)] // sometimes present but empty
	}
	if g.r.IntN(2) == 0 {
		ctx["aws:SecureTransport"] = []string{pick(g, []string{"true", "false"})}
	}
	if g.r.IntN(2) == 0 {
		ctx["aws:PrincipalTag/team"] = []string{pick(g, []string{"search-a", "ingest"})}
	}
	if g.r.IntN(2) == 0 {
		ctx["es:size"] = []string{pick(g, []string{"1", "100", "x"})}
		ctx["aws:CurrentTime"] = []string{pick(g, []string{"2019-01-01T00:00:00Z", "2024-01-01T00:00:00Z"})}
	}
	return Request{Principal: pick(g, genPrincipals), Action: pick(g, genActions), Resource: pick(g, genResources), Context: ctx}
}

func parseStatements(t *testing.T, sts []map[string]any) *Policy {
	t.Helper()
	if len(sts) == 0 {
		return nil // no policy at all, which allows nothing
	}
	doc, err := json.Marshal(map[string]any{"Version": Version2012, "Statement": sts})
	require.NoError(t, err)
	p, err := Parse(doc)
	require.NoError(t, err, "%s", doc)
	return p
}

func insert(sts []map[string]any, at int, st map[string]any) []map[string]any {
	out := append([]map[string]any{}, sts[:at]...)
	out = append(out, st)
	return append(out, sts[at:]...)
}

// matchingDeny is a Deny statement that certainly applies to req.
func (g gen) matchingDeny(req Request, resourceBased bool) map[string]any {
	st := map[string]any{"Effect": "Deny", "Action": req.Action, "Resource": req.Resource}
	if g.r.IntN(2) == 0 {
		st["Action"] = "*"
	}
	if g.r.IntN(2) == 0 || req.Resource == "*" {
		st["Resource"] = "*"
	}
	if resourceBased {
		st["Principal"] = "*"
	}
	return st
}

func evaluate(p *Policy, req Request, resourceBased bool) Decision {
	if resourceBased {
		return p.EvaluateResource(req)
	}
	return p.Evaluate(req)
}

func TestPropertyMatchingDenyNeverAllows(t *testing.T) {
	t.Parallel()
	g := gen{rand.New(rand.NewPCG(1, 2))}
	for i := range testenv.Size(20000, 1500) {
		resourceBased := i%2 == 1
		sts, req := g.statements(resourceBased), g.request()
		sts = insert(sts, g.r.IntN(len(sts)+1), g.matchingDeny(req, resourceBased))
		p := parseStatements(t, sts)
		d := evaluate(p, req, resourceBased)
		require.Equal(t, Deny, d.Effect, "iteration %d: %s", i, d.Explain())

		// The same holds once the other kind of policy is combined in, whatever it says.
		other := parseStatements(t, g.statements(!resourceBased))
		a := EvaluateAccess(p, other, req)
		if resourceBased {
			a = EvaluateAccess(other, p, req)
		}
		require.Equal(t, Deny, a.Effect, "iteration %d: %s", i, a.Explain())
	}
}

func TestPropertyAddingAllowKeepsAllow(t *testing.T) {
	t.Parallel()
	g := gen{rand.New(rand.NewPCG(3, 4))}
	allowed := 0
	for i := range testenv.Size(20000, 1500) {
		resourceBased := i%2 == 1
		sts, req := g.statements(resourceBased), g.request()
		before := evaluate(parseStatements(t, sts), req, resourceBased)
		more := insert(sts, g.r.IntN(len(sts)+1), g.statement("Allow", resourceBased))
		after := evaluate(parseStatements(t, more), req, resourceBased)
		switch before.Effect {
		case Allow:
			allowed++
			require.Equal(t, Allow, after.Effect, "iteration %d: %s", i, after.Explain())
		case Deny:
			require.Equal(t, Deny, after.Effect, "iteration %d: %s", i, after.Explain())
		}
	}
	require.Greater(t, allowed, 50, "the generator should produce allowed requests often enough to test anything")
}

// Deny wins regardless of order, and a policy decides exactly as its statements do one by
// one: Deny if any denies, else Allow if any allows.
func TestPropertyOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	g := gen{rand.New(rand.NewPCG(5, 6))}
	denied := 0
	for i := range testenv.Size(20000, 1500) {
		resourceBased := i%2 == 1
		sts, req := g.statements(resourceBased), g.request()
		if len(sts) == 0 {
			continue
		}
		want := ImplicitDeny
		for _, st := range sts {
			switch evaluate(parseStatements(t, []map[string]any{st}), req, resourceBased).Effect {
			case Deny:
				want = Deny
			case Allow:
				if want != Deny {
					want = Allow
				}
			}
		}
		if want == Deny {
			denied++
		}
		d := evaluate(parseStatements(t, sts), req, resourceBased)
		require.Equal(t, want, d.Effect, "iteration %d: %s", i, d.Explain())
		g.r.Shuffle(len(sts), func(a, b int) { sts[a], sts[b] = sts[b], sts[a] })
		require.Equal(t, want, evaluate(parseStatements(t, sts), req, resourceBased).Effect, "iteration %d shuffled", i)
	}
	require.Greater(t, denied, 50)
}
