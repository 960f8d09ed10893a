// Package explain turns an AWS or OpenSearch refusal (401/403) into a short
// reason, usable as a metric label, and a sentence that says what to change.
//
// The response bodies it recognises are in testdata/, one file per kind: where
// a body was pasted verbatim in public (an issue thread, a log in a README), the
// file says where; the rest are reconstructed from AWS's documentation and say so.
// Messages quote the service's words only with credentials removed: some
// refusals echo the request's Authorization header back.
package explain

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Reasons, each a value of the reason label of weir_auth_denied_total.
const (
	ReasonExpiredToken         = "expired_token"
	ReasonInvalidToken         = "invalid_token"
	ReasonSignatureMismatch    = "signature_mismatch"
	ReasonMissingContentHash   = "missing_content_hash"
	ReasonAccessPolicyDenied   = "access_policy_denied"
	ReasonIdentityPolicyDenied = "identity_policy_denied"
	ReasonNoAllow              = "no_allow"
	ReasonFGACNoRoleMapping    = "fgac_no_role_mapping"
	ReasonAOSSDataAccessDenied = "aoss_data_access_denied"
	ReasonAOSSNetworkPolicy    = "aoss_network_policy"
	ReasonNotSigned            = "not_signed"
	ReasonUnknown              = "unknown"
)

// Reasons lists every reason Classify can return.
func Reasons() []string {
	return []string{
		ReasonExpiredToken, ReasonInvalidToken, ReasonSignatureMismatch, ReasonMissingContentHash,
		ReasonAccessPolicyDenied, ReasonIdentityPolicyDenied, ReasonNoAllow, ReasonFGACNoRoleMapping,
		ReasonAOSSDataAccessDenied, ReasonAOSSNetworkPolicy, ReasonNotSigned, ReasonUnknown,
	}
}

// Context is what weir knows about the refused request.
type Context struct {
	// CanonicalPath is the canonical URI weir signed (auth.CanonicalPath).
	CanonicalPath string
	// Service is the signing service: "es" or "aoss".
	Service string
	// Region is the signing region.
	Region string
	// PrincipalARN is weir's identity from STS GetCallerIdentity, used when the body names none.
	PrincipalARN string
}

// Explanation is a refusal's reason and what to do about it.
type Explanation struct {
	// Reason is one of the Reason constants.
	Reason string
	// Message is one or two sentences saying what to change.
	Message string
}

// maxScan bounds the work done on a response body; refusals are small, and
// a proxy's HTML page need not be read to the end.
const maxScan = 64 << 10

var (
	reNotAuthorized = regexp.MustCompile(`(?i)user: (\S+) is not authorized to perform: ([A-Za-z0-9-]+:[A-Za-z0-9*]+)(?: on resource: (\S+))?`)
	reCanonical     = regexp.MustCompile(`(?is)canonical string for this request should have been\s*'(.*?)'`)
	reSigExpired    = regexp.MustCompile(`(?i)signature expired: (\S+) is now earlier than \S+ \((\S+) - `)
	reSigEarly      = regexp.MustCompile(`(?i)signature not yet current: (\S+) is still later than \S+ \((\S+) \+ `)
	reFGACRoles     = regexp.MustCompile(`(?i)associated roles \[([^\]]*)\]`)
	reFGACAction    = regexp.MustCompile(`(?i)no permissions for \[(.+?)\] and (?:user|associated roles)`)
	reFGACUser      = regexp.MustCompile(`(?i)user \[name=([^,\]]*)`)
	reFGACBackend   = regexp.MustCompile(`(?i)backend_roles=\[([^\]]*)\]`)
	reAssumedRole   = regexp.MustCompile(`^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/`)
	reXMLField      = regexp.MustCompile(`(?s)<(Code|Message)>(.*?)</(?:Code|Message)>`)
	reScopeService  = regexp.MustCompile(`(?i)credential should be scoped to correct service: '([^']*)'`)
	reScopeRegion   = regexp.MustCompile(`(?i)credential should be scoped to a valid region, not '([^']*)'`)
	// Secrets a refusal may echo: the Authorization header's value (HTTP basic
	// credentials, a bearer token) after "Authorization=" or "Authorization
	// header: '", the value a "not a valid key=value pair" refusal quotes first,
	// and a session token in a quoted canonical request.
	reSecrets = []*regexp.Regexp{
		regexp.MustCompile(`(?i)(authorization(?:\s+header)?\s*[=:]\s*'?)[^'"\n]+`),
		regexp.MustCompile(`(?i)(')[^'\s]*(' not a valid key=value pair)`),
		regexp.MustCompile(`(?i)(x-amz-security-token\s*[:=]\s*)[^\s'"]+`),
	}
)

// aossHintHeader is OpenSearch Serverless's reason for a refusal, as documented in
// "Troubleshooting Amazon OpenSearch Serverless": X01:network-policy-deny on a 401
// from the network policy, X01:gw-helper-deny on a 403 from the data access policy
// (and from IAM, and for a missing payload hash, which answer alike).
const aossHintHeader = "X-Aoss-Response-Hint"

// Classify explains a refused response. It never fails: anything it does not
// recognise is ReasonUnknown with the service's own words quoted.
func Classify(status int, header http.Header, body []byte, ctx Context) Explanation {
	if status != http.StatusUnauthorized && status != http.StatusForbidden && status != http.StatusBadRequest {
		return Explanation{ReasonUnknown, fmt.Sprintf("HTTP %d is not an authentication or authorization failure.", status)}
	}
	if len(body) > maxScan {
		body = body[:maxScan]
	}
	text := errorText(body)
	errType := errorType(header)
	lower := strings.ToLower(errType + "\n" + text)
	// The signature-mismatch body quotes the whole canonical request, which
	// names x-amz-content-sha256 and any header; match on the rest only.
	head := lower
	if i := strings.Index(head, "the canonical string for this request"); i >= 0 {
		head = head[:i]
	}

	switch {
	case containsAny(head, "expiredtoken", "security token included in the request is expired", "the provided token has expired"):
		return Explanation{ReasonExpiredToken, "The session token expired before AWS checked it. weir refreshes credentials ahead of expiry and retries once after a refusal, so if this persists the credential source hands out tokens that are already expired or the host's clock runs behind: check NTP and the source's session duration."}
	case containsAny(head, "invalidclienttokenid", "unrecognizedclientexception", "security token included in the request is invalid", "the provided token is malformed"):
		return Explanation{ReasonInvalidToken, "AWS does not recognise the access key or session token: the key was deleted or deactivated, the token was issued for another partition or an opt-in region whose STS tokens this region does not accept (use the regional STS endpoint), or the default chain picked up other credentials than intended (check AWS_PROFILE and AWS_* variables)."}
	case containsAny(head, "x-amz-content-sha256", "content-sha256", "payload hash"):
		return Explanation{ReasonMissingContentHash, "AWS refused the request's payload hash: OpenSearch Serverless requires the x-amz-content-sha256 header, included in SignedHeaders. weir's signer always sets and signs it, so a proxy or client between weir and AWS removed or changed it, or the body was altered after signing."}
	case containsAny(head, "signaturedoesnotmatch", "invalidsignatureexception", "signature we calculated does not match", "signature expired",
		"signature not yet current", "incompletesignature", "credential should be scoped"):
		return signatureMismatch(text, ctx)
	case containsAny(head, "authorization header requires", "not a valid key=value pair"):
		return Explanation{ReasonNotSigned, "The endpoint wants a SigV4-signed request and got another Authorization header (HTTP basic credentials, a bearer token) or none: set opensearch.sigv4.enabled (service es or aoss) instead of basic auth, and check that no proxy on the way replaces the header."}
	}

	if ctx.Service == "aoss" || header.Get(aossHintHeader) != "" {
		if e, ok := classifyAOSS(status, header.Get(aossHintHeader), lower, ctx); ok {
			return e
		}
	}
	if strings.Contains(lower, "no permissions for [") {
		return fgac(text)
	}
	if m := reNotAuthorized.FindStringSubmatch(text); m != nil {
		return iamDenied(lower, m[1], m[2], m[3], ctx)
	}
	if status == http.StatusUnauthorized && ctx.Service != "aoss" {
		return Explanation{ReasonUnknown, fmt.Sprintf("HTTP 401 from the domain (%s): with fine-grained access control and IAM, a 401 usually means the request was not SigV4-signed or the domain expects HTTP basic auth; check that requests go through weir's signing transport.", quote(text))}
	}
	return Explanation{ReasonUnknown, fmt.Sprintf("HTTP %d that weir does not recognise: %s.", status, quote(text))}
}

func signatureMismatch(text string, ctx Context) Explanation {
	if m := reScopeService.FindStringSubmatch(text); m != nil {
		// AWS's wording names a service, but not always the expected one: a
		// Serverless collection signed for es answers "correct service: 'es'".
		return Explanation{ReasonSignatureMismatch, fmt.Sprintf("The endpoint refused the signing service (weir signed for %q; AWS said: credential should be scoped to correct service %q): set opensearch.sigv4.service to es for an OpenSearch Service domain (*.es.amazonaws.com) or aoss for a Serverless collection (*.aoss.amazonaws.com).", ctx.Service, m[1])}
	}
	if m := reScopeRegion.FindStringSubmatch(text); m != nil {
		return Explanation{ReasonSignatureMismatch, fmt.Sprintf("weir signed for region %q, which is not the endpoint's: set opensearch.sigv4.region (or aws.region) to the region in the endpoint's host name.", m[1])}
	}
	for _, re := range []*regexp.Regexp{reSigExpired, reSigEarly} {
		if m := re.FindStringSubmatch(text); m != nil {
			return Explanation{ReasonSignatureMismatch, fmt.Sprintf("The request was signed at %s but AWS's clock said %s, more than 5 minutes apart: fix the host's clock (NTP/chrony); the credentials are fine.", m[1], m[2])}
		}
	}
	if m := reCanonical.FindStringSubmatch(text); m != nil && ctx.CanonicalPath != "" {
		lines := strings.Split(m[1], "\n")
		if len(lines) > 1 && lines[1] != ctx.CanonicalPath {
			return Explanation{ReasonSignatureMismatch, fmt.Sprintf("AWS canonicalised the path as %q but weir signed %q: something re-encoded the path on the way (a proxy, or a URL whose RawPath disagrees with its Path); build paths from auth.EscapePathSegment and send them unchanged.", lines[1], ctx.CanonicalPath)}
		}
	}
	path := ctx.CanonicalPath
	if path == "" {
		path = "(unknown)"
	}
	return Explanation{ReasonSignatureMismatch, fmt.Sprintf("AWS computed a different signature for the request weir signed with canonical path %q, service %q and region %q. Check that the region and service match the endpoint (es for domains, aoss for Serverless), that index names and IDs are escaped with auth.EscapePathSegment, that no proxy rewrites the path, headers or body, and that the secret key belongs to the access key.", path, ctx.Service, ctx.Region)}
}

func classifyAOSS(status int, hint, lower string, ctx Context) (Explanation, bool) {
	principal := principalName(ctx.PrincipalARN)
	switch {
	case strings.Contains(hint, "network-policy-deny"), status == http.StatusUnauthorized && hint == "",
		containsAny(lower, "vpc endpoint", "vpce", "network policy", "public access"):
		// A 401 from Serverless, with an empty body, is its network policy.
		return Explanation{ReasonAOSSNetworkPolicy, "The collection's network policy refuses requests from where weir runs: allow public access to the collection's OpenSearch endpoint, or add the OpenSearch Serverless VPC endpoint weir's traffic uses to the policy."}, true
	case strings.Contains(lower, "user does not have permissions for the requested resource"):
		return Explanation{ReasonAOSSDataAccessDenied, fmt.Sprintf("The collection's data access policy grants %s nothing for this request: add a rule for the collection and index pattern with aoss:WriteDocument, aoss:CreateIndex, aoss:UpdateIndex and aoss:DescribeIndex naming that principal (policies can take a few minutes to apply).", principal)}, true
	case strings.Contains(hint, "gw-helper-deny"), strings.Contains(lower, "403 forbidden"), strings.Contains(lower, "accessdenied"):
		// Serverless answers a data access policy that names no rule for the
		// principal, an identity policy without aoss:APIAccessAll and a request
		// without a signed payload hash with the same body and hint.
		return Explanation{ReasonAOSSDataAccessDenied, fmt.Sprintf("OpenSearch Serverless refused %s before the collection saw the request: add the principal to a data access policy rule for the collection and its indexes (aoss:WriteDocument, aoss:CreateIndex, aoss:DescribeIndex), and allow aoss:APIAccessAll on the collection in its identity-based policy. weir always signs x-amz-content-sha256, which Serverless also requires, so if both policies are right, look for a proxy that strips that header.", principal)}, true
	}
	return Explanation{}, false
}

func fgac(text string) Explanation {
	action := "the requested action"
	if m := reFGACAction.FindStringSubmatch(text); m != nil {
		action = m[1]
	}
	if m := reFGACRoles.FindStringSubmatch(text); m != nil {
		return Explanation{ReasonFGACNoRoleMapping, fmt.Sprintf("Fine-grained access control maps weir's identity to the roles [%s], and none grants %s on the target indices: add that permission to one of them, or map the IAM role to a role that has it (all_access, or one allowing indices:data/write/bulk* and indices:data/write/index).", m[1], action)}
	}
	user := "the IAM role"
	if m := reFGACUser.FindStringSubmatch(text); m != nil && m[1] != "" {
		user = m[1]
	}
	mapping := fmt.Sprintf("map %s as a backend role", user)
	if m := reFGACBackend.FindStringSubmatch(text); m != nil && strings.TrimSpace(m[1]) != "" {
		mapping = fmt.Sprintf("map backend role %s", strings.TrimSpace(m[1]))
	}
	return Explanation{ReasonFGACNoRoleMapping, fmt.Sprintf("IAM let the request in but fine-grained access control has no role for %s that grants %s: in the security plugin's role mappings (OpenSearch Dashboards > Security > Roles, or _plugins/_security/api/rolesmapping), %s to a role with that permission on the target indices, such as all_access or one allowing indices:data/write/bulk* and indices:data/write/index.", user, action, mapping)}
}

func iamDenied(lower, principal, action, resource string, ctx Context) Explanation {
	who := principalName(principal)
	if principal == "anonymous" {
		return Explanation{ReasonNotSigned, fmt.Sprintf("The request reached AWS unsigned (User: anonymous) and the access policy does not allow anonymous %s: set opensearch.sigv4.enabled so that requests go through weir's signing transport, and check that no proxy removes the Authorization header.", action)}
	}
	on := ""
	if resource != "" {
		on = " on " + resource
	}
	aoss := strings.HasPrefix(action, "aoss:") || ctx.Service == "aoss"
	switch {
	case strings.Contains(lower, "explicit deny in a resource-based policy"):
		return Explanation{ReasonAccessPolicyDenied, fmt.Sprintf("The domain access policy explicitly denies %s to %s%s: remove or narrow that Deny statement (check its Principal, Resource and conditions such as aws:SourceIp); an explicit deny wins over every Allow.", action, who, on)}
	case strings.Contains(lower, "explicit deny in a service control policy"):
		return Explanation{ReasonIdentityPolicyDenied, fmt.Sprintf("A service control policy of the account's AWS Organization denies %s to %s: ask the organization's administrators to exempt it.", action, who)}
	case strings.Contains(lower, "explicit deny in a permissions boundary"):
		return Explanation{ReasonIdentityPolicyDenied, fmt.Sprintf("The permissions boundary of %s denies %s%s: allow it in the boundary policy.", who, action, on)}
	case strings.Contains(lower, "explicit deny in a session policy"):
		return Explanation{ReasonIdentityPolicyDenied, fmt.Sprintf("The session policy passed when %s was assumed denies %s: widen the policy given to AssumeRole.", who, action)}
	case strings.Contains(lower, "explicit deny in an identity-based policy"):
		return Explanation{ReasonIdentityPolicyDenied, fmt.Sprintf("An identity-based policy attached to %s explicitly denies %s%s: remove or narrow that Deny statement.", who, action, on)}
	case aoss:
		return Explanation{ReasonNoAllow, fmt.Sprintf("No identity-based policy allows %s to %s%s: attach a policy allowing aoss:APIAccessAll on the collection to the role (and grant it data access in the collection's data access policy).", action, who, on)}
	case strings.Contains(lower, "because no resource-based policy allows"):
		return Explanation{ReasonNoAllow, fmt.Sprintf("The domain access policy does not allow %s for %s%s. If the policy names only the account (arn:aws:iam::ACCOUNT:root), the role also needs an identity-based policy allowing %s on the domain; if it names the role itself, that statement alone is enough: add %s to the policy's Principal.", action, who, on, action, roleARN(principal))}
	case strings.Contains(lower, "because no identity-based policy allows"):
		return Explanation{ReasonNoAllow, fmt.Sprintf("No identity-based policy allows %s to %s%s, and the domain access policy does not name the role, so IAM must: attach a policy allowing %s on the domain to the role, or name %s in the domain access policy.", action, who, on, action, roleARN(principal))}
	}
	return Explanation{ReasonNoAllow, fmt.Sprintf("Nothing allows %s to %s%s: name %s in the domain access policy, or name the account there and allow the action in the principal's identity-based policy.", action, who, on, roleARN(principal))}
}

// principalName describes an ARN for a message; an assumed-role session is
// named by its role, which is what policies refer to.
func principalName(arn string) string {
	if arn == "" {
		return "weir's principal"
	}
	if m := reAssumedRole.FindStringSubmatch(arn); m != nil {
		return fmt.Sprintf("role %s (session %s)", m[3], arn)
	}
	return arn
}

// roleARN turns an assumed-role session ARN into the role's ARN as a policy
// would name it (a role path, which the session ARN omits, must be added).
func roleARN(arn string) string {
	if m := reAssumedRole.FindStringSubmatch(arn); m != nil {
		return fmt.Sprintf("arn:%s:iam::%s:role/%s", m[1], m[2], m[3])
	}
	return arn
}

// errorType returns the x-amzn-ErrorType header without its namespace suffix.
func errorType(h http.Header) string {
	t, _, _ := strings.Cut(h.Get("X-Amzn-Errortype"), ":")
	return t
}

// errorText pulls the human-readable parts out of the JSON or XML error
// shapes AWS and OpenSearch use, falling back to the body itself.
func errorText(body []byte) string {
	var doc any
	if json.Unmarshal(body, &doc) == nil {
		var parts []string
		collect(doc, &parts, 0)
		if len(parts) > 0 {
			return strings.Join(parts, "\n")
		}
	}
	if ms := reXMLField.FindAllSubmatch(body, -1); len(ms) > 0 {
		parts := make([]string, 0, len(ms))
		for _, m := range ms {
			parts = append(parts, string(m[2]))
		}
		return strings.Join(parts, "\n")
	}
	return strings.ToValidUTF8(strings.TrimSpace(string(body)), "?")
}

// collect gathers the string fields that carry an error's meaning, at any
// depth (OpenSearch nests them under error and root_cause).
func collect(v any, parts *[]string, depth int) {
	if depth > 8 {
		return
	}
	switch v := v.(type) {
	case map[string]any:
		for _, k := range []string{"__type", "code", "Code", "message", "Message", "type", "reason", "error", "root_cause", "Error"} {
			if x, ok := v[k]; ok {
				collect(x, parts, depth+1)
			}
		}
	case []any:
		for _, x := range v {
			collect(x, parts, depth+1)
		}
	case string:
		*parts = append(*parts, v)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// quote shortens the service's text to one line for a message, without the
// credentials it may echo (see reSecrets).
func quote(text string) string {
	const maxQuote = 200
	text = redact(strings.Join(strings.Fields(text), " "))
	if text == "" {
		return "empty body"
	}
	if len(text) > maxQuote {
		cut := maxQuote
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	return fmt.Sprintf("%q", text)
}

// redact replaces the secrets a refusal may echo with [redacted].
func redact(text string) string {
	for _, re := range reSecrets {
		text = re.ReplaceAllString(text, "${1}[redacted]${2}")
	}
	return text
}
