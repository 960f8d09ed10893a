package policy

import (
	"strconv"
	"strings"
	"unicode"
)

// Request is what IAM sees of a call.
type Request struct {
	Principal string // ARN of the caller, e.g. arn:aws:sts::123456789012:assumed-role/ROLE/SESSION
	Action    string // e.g. es:ESHttpGet
	Resource  string // e.g. arn:aws:es:us-east-1:123456789012:domain/test-domain/test-index/_search
	// Context holds condition keys and their values, e.g. "aws:SourceIp": {"10.0.0.1"}.
	// Keys are case-insensitive. aws:PrincipalArn, aws:PrincipalAccount and, for IAM users,
	// aws:username are filled in from Principal when absent, as AWS always sets them.
	Context map[string][]string
}

// Match is a statement that took part in a decision, with the elements that matched.
type Match struct {
	Statement string // `Statement "Sid"`, or `Statement[i]` when it has no Sid
	Index     int
	Effect    Effect
	// Principal is set for resource-based evaluation: `Principal AWS "arn:…"`.
	Principal string
	// AccountOnly is set when the Principal named only the caller's account, which
	// delegates to the account's identity-based policies instead of granting anything.
	AccountOnly bool
	Action      string   // `Action "es:ESHttp*"` or `NotAction ["iam:*"]`
	Resource    string   // `Resource "arn:…"` or `NotResource [...]`
	Conditions  []string // each condition that held: `IpAddress aws:SourceIp "192.0.2.0/24"`
	// Unmet says, for a statement whose Action and Resource matched but which did not
	// apply, what stopped it: a condition or the principal.
	Unmet string
}

func (m Match) String() string {
	var parts []string
	if m.Principal != "" {
		p := m.Principal
		if m.AccountOnly {
			p += " (the account)"
		}
		parts = append(parts, p)
	}
	parts = append(parts, m.Action, m.Resource)
	for _, c := range m.Conditions {
		parts = append(parts, "Condition "+c)
	}
	return m.Statement + " (" + strings.Join(parts, ", ") + ")"
}

// Decision is the outcome of evaluating one policy, with the statements that decided it.
type Decision struct {
	Effect   Effect
	Action   string
	Resource string
	// Statements are the statements that decided: every matching Deny when the effect is
	// Deny, every matching Allow when it is Allow, none for ImplicitDeny.
	Statements []Match
	// Unmet are statements whose Action and Resource matched but which did not apply.
	Unmet []Match
}

// Allowed reports whether the effect is Allow.
func (d Decision) Allowed() bool { return d.Effect == Allow }

// maxUnmet bounds an explanation so that a policy with hundreds of statements still
// explains itself in one readable line.
const maxUnmet = 3

// Explain says in one line why the decision was made.
func (d Decision) Explain() string {
	switch d.Effect {
	case Deny:
		return "denied by " + joinMatches(d.Statements)
	case Allow:
		return "allowed by " + joinMatches(d.Statements)
	}
	var b strings.Builder
	b.WriteString("no statement allows " + plain(d.Action) + " on " + plain(d.Resource))
	for i, m := range d.Unmet {
		if i == maxUnmet {
			b.WriteString("; and " + strconv.Itoa(len(d.Unmet)-maxUnmet) + " more")
			break
		}
		b.WriteString("; " + m.Statement + " does not apply: " + m.Unmet)
	}
	return b.String()
}

// plain keeps an explanation on one line: request values are printed as they are unless
// they hold something unprintable, which is quoted.
func plain(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return quote(s)
		}
	}
	return s
}

func joinMatches(ms []Match) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return strings.Join(s, " and ")
}

// Evaluate evaluates p as an identity-based policy: Principal and NotPrincipal are
// ignored, since the policy is attached to the caller. An explicit Deny wins over any
// Allow; with neither the request is implicitly denied. A nil policy allows nothing.
func (p *Policy) Evaluate(req Request) Decision {
	return p.evaluate(req, nil)
}

// EvaluateResource evaluates p as a resource-based policy: a statement applies only when
// its Principal names the caller (or its NotPrincipal does not exempt it). Statements
// whose Principal names only the caller's account are marked AccountOnly; see
// EvaluateAccess for what they grant.
func (p *Policy) EvaluateResource(req Request) Decision {
	c := parseCaller(req.Principal)
	return p.evaluate(req, &c)
}

func (p *Policy) evaluate(req Request, c *caller) Decision {
	d := Decision{Action: req.Action, Resource: req.Resource}
	if p == nil {
		return d
	}
	ctx := newEvalCtx(req)
	var allows, denies []Match
	for i := range p.statements {
		m, applies := p.statements[i].evaluate(req, ctx, c)
		switch {
		case m.Statement == "":
		case !applies:
			d.Unmet = append(d.Unmet, m)
		case m.Effect == Deny:
			denies = append(denies, m)
		default:
			allows = append(allows, m)
		}
	}
	switch {
	case len(denies) > 0:
		d.Effect, d.Statements = Deny, denies
	case len(allows) > 0:
		d.Effect, d.Statements = Allow, allows
	}
	return d
}

// evaluate returns a zero Match when the action or resource does not match, a Match with
// Unmet set when they match but the principal or a condition does not, and applies=true
// when the statement applies to the request.
func (s *statement) evaluate(req Request, ctx *evalCtx, c *caller) (Match, bool) {
	m := Match{Statement: s.label, Index: s.index, Effect: s.Effect}

	if len(s.Action) > 0 {
		for i, a := range s.actions {
			if globMatch(a, req.Action, true) {
				m.Action = "Action " + quote(s.Action[i])
				break
			}
		}
		if m.Action == "" {
			return Match{}, false
		}
	} else {
		for _, a := range s.actions {
			if globMatch(a, req.Action, true) {
				return Match{}, false
			}
		}
		m.Action = "NotAction " + quoteList(s.NotAction)
	}

	if len(s.Resource) > 0 {
		for i, r := range s.resources {
			if r.match(req.Resource, ctx.lookup) {
				m.Resource = "Resource " + quote(s.Resource[i])
				break
			}
		}
		if m.Resource == "" {
			return Match{}, false
		}
	} else {
		for _, r := range s.resources {
			if r.match(req.Resource, ctx.lookup) {
				return Match{}, false
			}
		}
		m.Resource = "NotResource " + quoteList(s.NotResource)
	}

	if c != nil {
		switch {
		case s.Principal != nil:
			scope, entry := s.Principal.scope(*c)
			if scope == scopeNone {
				m.Unmet = "its Principal " + s.Principal.String() + " does not name " + c.describe()
				return m, false
			}
			m.Principal = "Principal " + entry
			m.AccountOnly = scope == scopeAccount
		case s.NotPrincipal != nil:
			if s.NotPrincipal.exempts(*c) {
				m.Unmet = "its NotPrincipal " + s.NotPrincipal.String() + " exempts " + c.describe()
				return m, false
			}
			m.Principal = "NotPrincipal " + s.NotPrincipal.String()
		default:
			m.Unmet = "it has no Principal, which a resource-based policy statement needs"
			return m, false
		}
	}

	for i := range s.conds {
		cond := &s.conds[i]
		if !cond.eval(ctx) {
			m.Unmet = "condition " + cond.String() + " is not met"
			m.Conditions = nil
			return m, false
		}
		m.Conditions = append(m.Conditions, cond.String())
	}
	return m, true
}

// evalCtx is a request's condition keys, lower-cased once because keys are
// case-insensitive.
type evalCtx struct {
	keys map[string][]string
}

func newEvalCtx(req Request) *evalCtx {
	keys := make(map[string][]string, len(req.Context)+3)
	for k, v := range req.Context {
		lk := strings.ToLower(k)
		keys[lk] = append(keys[lk], v...)
	}
	setDefault := func(k, v string) {
		if _, ok := keys[k]; !ok {
			keys[k] = []string{v}
		}
	}
	if c := parseCaller(req.Principal); c.account != "" {
		setDefault("aws:principalaccount", c.account)
		setDefault("aws:principalarn", c.principalARN())
		if c.kind == kindUser {
			setDefault("aws:username", c.name)
		}
	}
	return &evalCtx{keys: keys}
}

func (c *evalCtx) values(key string) []string {
	return c.keys[strings.ToLower(key)]
}

func (c *evalCtx) lookup(key string) (string, bool) {
	v := c.values(key)
	if len(v) != 1 {
		return "", false
	}
	return v[0], true
}
