package policy

import (
	"slices"
	"strings"
)

type callerKind uint8

const (
	kindOther callerKind = iota
	kindUser
	kindRole
	kindAssumedRole
	kindRoot
	kindFederatedUser
)

// caller is Request.Principal taken apart.
type caller struct {
	arn       string
	partition string
	account   string
	kind      callerKind
	name      string // user or role name, without its path
}

func parseCaller(s string) caller {
	c := caller{arn: s}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[4] == "" {
		return c
	}
	c.partition, c.account = parts[1], parts[4]
	res := parts[5]
	lastName := func(r string) string { return r[strings.LastIndexByte(r, '/')+1:] }
	switch parts[2] {
	case "iam":
		switch {
		case res == "root":
			c.kind = kindRoot
		case strings.HasPrefix(res, "user/"):
			c.kind, c.name = kindUser, lastName(res)
		case strings.HasPrefix(res, "role/"):
			c.kind, c.name = kindRole, lastName(res)
		}
	case "sts":
		if rest, ok := strings.CutPrefix(res, "assumed-role/"); ok {
			if role, _, ok := strings.Cut(rest, "/"); ok && role != "" {
				c.kind, c.name = kindAssumedRole, role
			}
		} else if strings.HasPrefix(res, "federated-user/") {
			c.kind, c.name = kindFederatedUser, lastName(res)
		}
	}
	return c
}

// principalARN is what AWS puts in aws:PrincipalArn: for a role session, the role. The
// session ARN does not carry the role's path, so neither can this.
func (c caller) principalARN() string {
	if c.kind == kindAssumedRole {
		return "arn:" + c.partition + ":iam::" + c.account + ":role/" + c.name
	}
	return c.arn
}

// noun names what kind of identity carries the caller's identity-based policies.
func (c caller) noun() string {
	switch c.kind {
	case kindUser:
		return "user"
	case kindRole, kindAssumedRole:
		return "role"
	}
	return "principal"
}

func (c caller) describe() string {
	if c.arn == "" {
		return "the anonymous caller"
	}
	return plain(c.arn)
}

type principalScope uint8

const (
	scopeNone    principalScope = iota
	scopeAccount                // names the caller's account, which delegates to its identity-based policies
	scopeNamed                  // names the caller itself, or everyone
)

// scope says how p names the caller, and which entry did. A Principal names a role
// session when it names the session or its role.
func (p *Principal) scope(c caller) (principalScope, string) {
	if p.Any {
		return scopeNamed, `"*"`
	}
	best, entry := scopeNone, ""
	for _, v := range p.AWS {
		switch awsScope(v, c) {
		case scopeNamed:
			return scopeNamed, "AWS " + quote(v)
		case scopeAccount:
			if best == scopeNone {
				best, entry = scopeAccount, "AWS "+quote(v)
			}
		}
	}
	if c.arn != "" {
		for _, t := range []struct {
			name string
			vals []string
		}{{"Service", p.Service}, {"Federated", p.Federated}, {"CanonicalUser", p.CanonicalUser}} {
			if slices.Contains(t.vals, c.arn) {
				return scopeNamed, t.name + " " + quote(c.arn)
			}
		}
	}
	return best, entry
}

func awsScope(v string, c caller) principalScope {
	switch {
	case v == "*":
		return scopeNamed
	case c.arn == "":
		return scopeNone
	case v == c.arn:
		return scopeNamed
	}
	if acct, ok := accountPrincipal(v); ok {
		switch {
		case acct != c.account:
			return scopeNone
		case c.kind == kindRoot:
			return scopeNamed
		}
		return scopeAccount
	}
	e := parseCaller(v)
	if e.kind == kindRole && c.kind == kindAssumedRole &&
		e.partition == c.partition && e.account == c.account && e.name == c.name {
		return scopeNamed
	}
	return scopeNone
}

// accountPrincipal recognises the two ways of naming an account: its ID and its root ARN.
func accountPrincipal(v string) (string, bool) {
	if isAccountID(v) {
		return v, true
	}
	if c := parseCaller(v); c.kind == kindRoot {
		return c.account, true
	}
	return "", false
}

// exempts reports whether a NotPrincipal spares the caller. AWS may check the account,
// then the role, then the session, so it documents that all of them must be listed; a
// caller counts as exempt only when they are, which errs towards the Deny applying.
func (p *Principal) exempts(c caller) bool {
	if p.Any || slices.Contains(p.AWS, "*") {
		return true
	}
	if c.arn == "" {
		return false
	}
	if c.account == "" {
		return slices.Contains(p.Service, c.arn) || slices.Contains(p.Federated, c.arn) ||
			slices.Contains(p.CanonicalUser, c.arn) || slices.Contains(p.AWS, c.arn)
	}
	accountListed := slices.ContainsFunc(p.AWS, func(v string) bool {
		acct, ok := accountPrincipal(v)
		return ok && acct == c.account
	})
	switch {
	case !accountListed:
		return false
	case c.kind == kindRoot:
		return true
	case !slices.Contains(p.AWS, c.arn):
		return false
	case c.kind == kindAssumedRole:
		return slices.ContainsFunc(p.AWS, func(v string) bool {
			e := parseCaller(v)
			return e.kind == kindRole && e.account == c.account && e.name == c.name
		})
	}
	return true
}
