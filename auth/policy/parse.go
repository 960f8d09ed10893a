package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// statement is a Statement with its matchers compiled once at Parse.
type statement struct {
	Statement
	index     int
	label     string       // how decisions name it: `Statement "Sid"` or `Statement[i]`
	actions   [][]tok      // Action or NotAction, whichever is set
	resources []arnPattern // Resource or NotResource, whichever is set
	conds     []condition
}

var (
	topElements       = []string{"Version", "Id", "Statement"}
	statementElements = []string{"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
	principalTypes    = []string{"AWS", "Service", "Federated", "CanonicalUser"}
)

// Parse parses an identity-based or resource-based policy document. Every error wraps
// ErrMalformed and is a *SyntaxError naming the JSON path of the offending element.
func Parse(doc []byte) (*Policy, error) {
	top, err := object(doc, "policy")
	if err != nil {
		return nil, err
	}
	if err := knownElements(top, "", topElements); err != nil {
		return nil, err
	}
	p := &Policy{}
	if raw, ok := top["Version"]; ok {
		if p.version, err = str(raw, "Version"); err != nil {
			return nil, err
		}
		if p.version != Version2012 && p.version != Version2008 {
			return nil, malformed("Version", "must be %q or %q, got %q", Version2012, Version2008, p.version)
		}
	}
	if raw, ok := top["Id"]; ok {
		if p.id, err = str(raw, "Id"); err != nil {
			return nil, err
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, malformed("Statement", "required")
	}
	vars := p.version == Version2012
	switch kind := kindOf(raw); kind {
	case "object":
		st, err := parseStatement(raw, "Statement", 0, vars)
		if err != nil {
			return nil, err
		}
		p.statements = []statement{st}
	case "list":
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, &SyntaxError{Path: "Statement", Reason: "invalid JSON", Err: err}
		}
		if len(list) == 0 {
			return nil, malformed("Statement", "must contain at least one statement")
		}
		p.statements = make([]statement, 0, len(list))
		for i, r := range list {
			st, err := parseStatement(r, fmt.Sprintf("Statement[%d]", i), i, vars)
			if err != nil {
				return nil, err
			}
			p.statements = append(p.statements, st)
		}
	default:
		return nil, malformed("Statement", "must be an object or a list of objects, got %s", kind)
	}
	// Sids name statements in every explanation, so two with one name would make those ambiguous.
	seen := map[string]int{}
	for i, st := range p.statements {
		if st.Sid == "" {
			continue
		}
		if j, dup := seen[st.Sid]; dup {
			return nil, malformed(fmt.Sprintf("Statement[%d].Sid", i), "duplicate %q (also Statement[%d])", st.Sid, j)
		}
		seen[st.Sid] = i
	}
	return p, nil
}

func parseStatement(raw json.RawMessage, path string, index int, vars bool) (statement, error) {
	st := statement{index: index}
	obj, err := object(raw, path)
	if err != nil {
		return st, err
	}
	if err := knownElements(obj, path+".", statementElements); err != nil {
		return st, err
	}
	if r, ok := obj["Sid"]; ok {
		if st.Sid, err = str(r, path+".Sid"); err != nil {
			return st, err
		}
	}
	st.label = fmt.Sprintf("Statement[%d]", index)
	if st.Sid != "" {
		st.label = "Statement " + quote(st.Sid)
	}

	r, ok := obj["Effect"]
	if !ok {
		return st, malformed(path, "missing Effect")
	}
	effect, err := str(r, path+".Effect")
	if err != nil {
		return st, err
	}
	switch effect {
	case "Allow":
		st.Effect = Allow
	case "Deny":
		st.Effect = Deny
	default:
		return st, malformed(path+".Effect", `must be "Allow" or "Deny", got %q`, effect)
	}

	if err := exclusive(obj, path, "Principal", "NotPrincipal", false); err != nil {
		return st, err
	}
	if r, ok := obj["Principal"]; ok {
		if st.Principal, err = parsePrincipal(r, path+".Principal"); err != nil {
			return st, err
		}
	}
	if r, ok := obj["NotPrincipal"]; ok {
		if st.NotPrincipal, err = parsePrincipal(r, path+".NotPrincipal"); err != nil {
			return st, err
		}
	}

	if err := exclusive(obj, path, "Action", "NotAction", true); err != nil {
		return st, err
	}
	for _, name := range []string{"Action", "NotAction"} {
		r, ok := obj[name]
		if !ok {
			continue
		}
		vals, at, err := strs(r, path+"."+name)
		if err != nil {
			return st, err
		}
		for i, v := range vals {
			if !validAction(v) {
				return st, malformed(at(i), `must be "*" or "service:action", got %q`, v)
			}
			st.actions = append(st.actions, parseTemplate(v, false).tokens(nil, true))
		}
		if name == "Action" {
			st.Action = vals
		} else {
			st.NotAction = vals
		}
	}

	if err := exclusive(obj, path, "Resource", "NotResource", true); err != nil {
		return st, err
	}
	for _, name := range []string{"Resource", "NotResource"} {
		r, ok := obj[name]
		if !ok {
			continue
		}
		vals, at, err := strs(r, path+"."+name)
		if err != nil {
			return st, err
		}
		for i, v := range vals {
			pat := compileARNPattern(v, vars)
			if v != "*" && pat.segs == nil {
				return st, malformed(at(i), `must be "*" or an ARN (arn:partition:service:region:account:resource), got %q`, v)
			}
			st.resources = append(st.resources, pat)
		}
		if name == "Resource" {
			st.Resource = vals
		} else {
			st.NotResource = vals
		}
	}

	if r, ok := obj["Condition"]; ok {
		if st.conds, err = parseConditions(r, path+".Condition", vars); err != nil {
			return st, err
		}
		for _, c := range st.conds {
			st.Conditions = append(st.Conditions, c.Condition)
		}
	}
	return st, nil
}

func parsePrincipal(raw json.RawMessage, path string) (*Principal, error) {
	switch kind := kindOf(raw); kind {
	case "string":
		s, err := str(raw, path)
		if err != nil {
			return nil, err
		}
		if s != "*" {
			return nil, malformed(path, `must be "*" or an object such as {"AWS": "arn:..."}, got %q`, s)
		}
		return &Principal{Any: true}, nil
	case "object":
	default:
		return nil, malformed(path, `must be "*" or an object such as {"AWS": "arn:..."}, got %s`, kind)
	}
	obj, err := object(raw, path)
	if err != nil {
		return nil, err
	}
	if len(obj) == 0 {
		return nil, malformed(path, "must name at least one principal")
	}
	for _, k := range sortedKeys(obj) {
		if !slices.Contains(principalTypes, k) {
			return nil, malformed(path+"."+k, "unknown principal type (want AWS, Service, Federated or CanonicalUser)")
		}
	}
	p := &Principal{}
	for _, typ := range principalTypes {
		r, ok := obj[typ]
		if !ok {
			continue
		}
		vals, at, err := strs(r, path+"."+typ)
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			if v == "" {
				return nil, malformed(at(i), "must not be empty")
			}
			if typ == "AWS" && !validAWSPrincipal(v) {
				return nil, malformed(at(i), `must be "*", a 12-digit account ID or an ARN, got %q`, v)
			}
		}
		switch typ {
		case "AWS":
			p.AWS = vals
		case "Service":
			p.Service = vals
		case "Federated":
			p.Federated = vals
		case "CanonicalUser":
			p.CanonicalUser = vals
		}
	}
	return p, nil
}

func validAction(v string) bool {
	if v == "*" {
		return true
	}
	i := strings.IndexByte(v, ':')
	return i > 0 && i < len(v)-1
}

func validAWSPrincipal(v string) bool {
	return v == "*" || isAccountID(v) || strings.HasPrefix(v, "arn:") || isUniqueID(v)
}

// isUniqueID accepts the AIDA…/AROA… IDs IAM shows in place of a deleted user or role,
// so that a policy read back from AWS still parses.
func isUniqueID(v string) bool {
	if len(v) < 16 || !(strings.HasPrefix(v, "AIDA") || strings.HasPrefix(v, "AROA")) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isAccountID(v string) bool {
	if len(v) != 12 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// exclusive checks that at most one (or, if required, exactly one) of a and b is present.
func exclusive(obj map[string]json.RawMessage, path, a, b string, required bool) error {
	_, hasA := obj[a]
	_, hasB := obj[b]
	switch {
	case hasA && hasB:
		return malformed(path, "has both %s and %s", a, b)
	case required && !hasA && !hasB:
		return malformed(path, "must have %s or %s", a, b)
	}
	return nil
}

func knownElements(obj map[string]json.RawMessage, prefix string, known []string) error {
	for _, k := range sortedKeys(obj) {
		if slices.Contains(known, k) {
			continue
		}
		// Element names are case-sensitive in AWS, and a wrong case is the usual mistake.
		for _, want := range known {
			if strings.EqualFold(k, want) {
				return malformed(prefix+k, "unknown element (element names are case-sensitive: did you mean %q?)", want)
			}
		}
		return malformed(prefix+k, "unknown element")
	}
	return nil
}

func object(raw []byte, path string) (map[string]json.RawMessage, error) {
	if kind := kindOf(raw); kind != "object" {
		if kind == "invalid" {
			var v any
			err := json.Unmarshal(raw, &v)
			return nil, &SyntaxError{Path: path, Reason: "invalid JSON", Err: err}
		}
		return nil, malformed(path, "must be a JSON object, got %s", kind)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, &SyntaxError{Path: path, Reason: "invalid JSON", Err: err}
	}
	return obj, nil
}

func str(raw json.RawMessage, path string) (string, error) {
	if kind := kindOf(raw); kind != "string" {
		return "", malformed(path, "must be a string, got %s", kind)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", &SyntaxError{Path: path, Reason: "invalid JSON", Err: err}
	}
	return s, nil
}

// strs reads a string or a non-empty list of strings. at names the path of the i-th value,
// which is the element itself when it was written as a single string.
func strs(raw json.RawMessage, path string) (vals []string, at func(int) string, err error) {
	at = func(int) string { return path }
	switch kind := kindOf(raw); kind {
	case "string":
		s, err := str(raw, path)
		return []string{s}, at, err
	case "list":
	default:
		return nil, at, malformed(path, "must be a string or a list of strings, got %s", kind)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, at, &SyntaxError{Path: path, Reason: "invalid JSON", Err: err}
	}
	if len(list) == 0 {
		return nil, at, malformed(path, "must not be an empty list")
	}
	at = func(i int) string { return fmt.Sprintf("%s[%d]", path, i) }
	vals = make([]string, len(list))
	for i, r := range list {
		if vals[i], err = str(r, at(i)); err != nil {
			return nil, at, err
		}
	}
	return vals, at, nil
}

// kindOf names the JSON type of raw for error messages, judging by its first byte;
// json.Unmarshal still checks the rest.
func kindOf(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "invalid"
	}
	if !json.Valid(raw) {
		return "invalid"
	}
	switch c := raw[0]; {
	case c == '{':
		return "object"
	case c == '[':
		return "list"
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	default:
		return "number"
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func malformed(path, format string, args ...any) error {
	return &SyntaxError{Path: path, Reason: fmt.Sprintf(format, args...)}
}
