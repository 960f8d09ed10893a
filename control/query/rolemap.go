package query

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// ClaimValues reads a claim as a list of values: an array's elements, a string split at
// commas (how Cognito custom attributes hold several values), or a number or boolean as
// its text. A name that is not a top-level claim is tried as a dotted path into nested
// objects (realm_access.roles). Empty values are dropped.
func ClaimValues(claims map[string]any, name string) []string {
	v, ok := claims[name]
	if !ok && strings.Contains(name, ".") {
		var cur any = claims
		for _, part := range strings.Split(name, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				cur = nil
				break
			}
			cur = m[part]
		}
		v = cur
	}
	var out []string
	switch x := v.(type) {
	case nil:
	case string:
		out = splitValues(x)
	case []any:
		for _, e := range x {
			if s := scalar(e); s != "" {
				out = append(out, s)
			}
		}
	default:
		if s := scalar(x); s != "" {
			out = []string{s}
		}
	}
	return out
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	case float64, bool:
		return fmt.Sprint(x)
	}
	return ""
}

func splitValues(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// SortedJoin is the mapping key of a multi-valued claim: its values sorted, without
// duplicates, joined with commas. ["readers","analysts","readers"] → "analysts,readers".
func SortedJoin(values []string) string {
	v := append([]string(nil), values...)
	sort.Strings(v)
	out := v[:0]
	for i, s := range v {
		if i == 0 || s != v[i-1] {
			out = append(out, s)
		}
	}
	return strings.Join(out, ",")
}

// Role maps a claim's values to a role. It returns the role ("" when nothing matched and
// there is no fallback), the key that was looked up, and whether the table matched.
func (m RoleMapping) Role(values []string) (role, key string, matched bool) {
	switch m.MultiValue {
	case MultiValueAny:
		sorted := append([]string(nil), values...)
		sort.Strings(sorted)
		for _, v := range sorted {
			if r, ok := m.Table[v]; ok {
				return r, v, true
			}
		}
		key = SortedJoin(values)
	default:
		key = SortedJoin(values)
		if r, ok := m.Table[key]; ok {
			return r, key, true
		}
	}
	return m.FallbackRole, key, false
}
