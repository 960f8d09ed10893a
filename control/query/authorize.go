package query

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/weir-ingest/weir/auth/policy"
)

// Policy refusal reasons.
const (
	ReasonNoRole     = "no_role"
	ReasonRolePolicy = "role_policy"
	ReasonWeirPolicy = "weir_policy"
)

// LoadPolicy reads a policy from a file or from inline JSON, whichever is set.
func LoadPolicy(file, inline string) (*policy.Policy, error) {
	doc := []byte(inline)
	if file != "" {
		var err error
		if doc, err = os.ReadFile(file); err != nil {
			return nil, err
		}
	}
	p, err := policy.Parse(doc)
	if err != nil {
		if file != "" {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return nil, err
	}
	return p, nil
}

// Domain is where queries go, in IAM's terms.
type Domain struct {
	Service, Region, Account, Name string
}

// authorizer holds the policies every query is checked against.
type authorizer struct {
	domain    Domain
	principal string // weir's ARN when known, for the weir policy's principal keys
	weir      *policy.Policy
	roles     map[string]*policy.Policy
}

// Verdict is the outcome of authorizing one query: the first path refused, or the
// request's own path when all are allowed.
type Verdict struct {
	Allowed  bool
	Reason   string // ReasonRolePolicy or ReasonWeirPolicy when refused
	Method   string
	Path     string
	Action   string
	Resource string
	Role     policy.Decision
	Weir     policy.Decision
}

// authorize checks every path with the role's policy and with weir's own; both must allow
// each of them.
func (a *authorizer) authorize(role, method string, paths []string, ctxKeys map[string][]string) (Verdict, error) {
	rolePolicy := a.roles[role]
	var first Verdict
	for i, p := range paths {
		call, err := policy.MapOpenSearch(a.domain.Service, a.domain.Region, a.domain.Account, a.domain.Name, method, p)
		if err != nil {
			return Verdict{}, err
		}
		v := Verdict{Method: method, Path: p, Action: call.Action, Resource: call.Resource}
		v.Role = rolePolicy.Evaluate(policy.Request{Action: call.Action, Resource: call.Resource, Context: ctxKeys})
		v.Weir = a.weir.Evaluate(policy.Request{Principal: a.principal, Action: call.Action, Resource: call.Resource, Context: timeKeys(ctxKeys)})
		switch {
		case !v.Role.Allowed():
			v.Reason = ReasonRolePolicy
			return v, nil
		case !v.Weir.Allowed():
			v.Reason = ReasonWeirPolicy
			return v, nil
		}
		if i == 0 {
			first = v
		}
	}
	first.Allowed = true
	return first, nil
}

// requestKeys are the condition keys a role policy may test: the caller's address and the
// time.
func requestKeys(remoteIP string, tls bool, now time.Time) map[string][]string {
	keys := map[string][]string{
		"aws:CurrentTime":     {now.UTC().Format(time.RFC3339)},
		"aws:EpochTime":       {strconv.FormatInt(now.Unix(), 10)},
		"aws:SecureTransport": {strconv.FormatBool(tls)},
	}
	if remoteIP != "" {
		keys["aws:SourceIp"] = []string{remoteIP}
	}
	return keys
}

// timeKeys keeps only what is also true of weir's own request to the domain: the time.
// The caller's address is not weir's.
func timeKeys(k map[string][]string) map[string][]string {
	return map[string][]string{"aws:CurrentTime": k["aws:CurrentTime"], "aws:EpochTime": k["aws:EpochTime"]}
}

// explanation is the body of a policy refusal.
func (v Verdict) explanation(role string) map[string]any {
	var msg string
	switch v.Reason {
	case ReasonRolePolicy:
		msg = fmt.Sprintf("the policy of role %q does not allow %s on %s", role, v.Action, v.Resource)
	case ReasonWeirPolicy:
		msg = fmt.Sprintf("weir's own identity-based policy (query.weir_policy_file) does not allow %s on %s, so no caller may do it through weir", v.Action, v.Resource)
	}
	return map[string]any{
		"error":    "forbidden",
		"reason":   v.Reason,
		"message":  msg,
		"request":  v.Method + " " + v.Path,
		"action":   v.Action,
		"resource": v.Resource,
		"role":     role,
		"role_policy": map[string]any{
			"decision": v.Role.Effect.String(),
			"explain":  v.Role.Explain(),
		},
		"weir_policy": map[string]any{
			"decision": v.Weir.Effect.String(),
			"explain":  v.Weir.Explain(),
		},
	}
}
