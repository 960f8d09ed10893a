package policy

import "strings"

// AccessDecision combines an identity-based and a resource-based policy.
type AccessDecision struct {
	Effect   Effect
	Identity Decision // the identity-based policy attached to the caller
	Resource Decision // the resource-based policy, e.g. a domain access policy
	// DelegatedToAccount is set when the resource-based policy allowed the request only
	// through a Principal naming the caller's account, which grants nothing by itself.
	DelegatedToAccount bool
	// CrossAccount is set when the caller's account differs from the one in the
	// resource's ARN; then both policies must allow.
	CrossAccount bool

	caller          caller
	resourceAccount string
	namedByResource bool
}

// Allowed reports whether the effect is Allow.
func (d AccessDecision) Allowed() bool { return d.Effect == Allow }

// EvaluateAccess decides a request the way AWS combines an identity-based policy with a
// resource-based one. An explicit Deny in either wins. Otherwise, for a caller in the
// resource's account, the request is allowed when the identity-based policy allows it or
// when the resource-based policy allows it with a Principal naming the caller itself: its
// user or role ARN, its role session ARN, or "*". A Principal naming only the account
// (`"AWS": "123456789012"` or its :root ARN) delegates to the account, so then the
// identity-based policy must allow as well. A caller from another account needs both.
// Either policy may be nil.
func EvaluateAccess(identity *Policy, resource *Policy, req Request) AccessDecision {
	d := AccessDecision{
		Identity: identity.Evaluate(req),
		Resource: resource.EvaluateResource(req),
		caller:   parseCaller(req.Principal),
	}
	if parts := strings.SplitN(req.Resource, ":", 6); len(parts) == 6 && parts[0] == "arn" {
		d.resourceAccount = parts[4]
	}
	d.CrossAccount = d.caller.account != "" && d.resourceAccount != "" && d.caller.account != d.resourceAccount
	if d.Resource.Effect == Allow {
		for _, m := range d.Resource.Statements {
			if !m.AccountOnly {
				d.namedByResource = true
			}
		}
	}
	idAllows, resAllows := d.Identity.Effect == Allow, d.Resource.Effect == Allow
	switch {
	case d.Identity.Effect == Deny || d.Resource.Effect == Deny:
		d.Effect = Deny
	case d.CrossAccount:
		if idAllows && resAllows {
			d.Effect = Allow
		}
	case idAllows || d.namedByResource:
		d.Effect = Allow
	default:
		d.DelegatedToAccount = resAllows
	}
	return d
}

// Explain says in one line why access was or was not granted, naming the policy and the
// statements that decided.
func (d AccessDecision) Explain() string {
	id, rs := d.Identity, d.Resource
	switch d.Effect {
	case Deny:
		var parts []string
		if id.Effect == Deny {
			parts = append(parts, "identity-based policy: "+id.Explain())
		}
		if rs.Effect == Deny {
			parts = append(parts, "resource-based policy: "+rs.Explain())
		}
		return "explicitly denied: " + strings.Join(parts, "; ")
	case Allow:
		switch {
		case d.CrossAccount:
			return "allowed: " + d.caller.describe() + " is in account " + d.caller.account +
				" and the resource in " + d.resourceAccount + ", so both policies must allow, and both do: identity-based policy: " +
				id.Explain() + "; resource-based policy: " + rs.Explain()
		case d.namedByResource && id.Allowed():
			return "allowed by both policies: identity-based policy: " + id.Explain() + "; resource-based policy: " + rs.Explain()
		case d.namedByResource:
			return "allowed: the resource-based policy names the caller, so no identity-based allow is needed: " + rs.Explain()
		}
		return "allowed: identity-based policy: " + id.Explain()
	}
	action := plain(id.Action)
	switch {
	case d.CrossAccount:
		return "implicitly denied: " + d.caller.describe() + " is in account " + d.caller.account +
			" and the resource in " + d.resourceAccount + ", so both the identity-based and the resource-based policy must allow " +
			action + ": identity-based policy: " + id.Explain() + "; resource-based policy: " + rs.Explain()
	case d.DelegatedToAccount:
		return "implicitly denied: the resource-based access policy names only the account " + d.caller.account +
			", so the identity-based policy on the " + d.caller.noun() + " must also allow " + action +
			", and it does not: " + id.Explain()
	}
	return "implicitly denied: neither policy allows " + action + ": identity-based policy: " + id.Explain() +
		"; resource-based policy: " + rs.Explain()
}
