package query

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoleMappingKeys(t *testing.T) {
	t.Parallel()
	var claims map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{
		"cognito:groups": ["readers", "analysts", "readers"],
		"custom:teams": "ops, analysts,,dev ",
		"single": "analysts",
		"level": 3,
		"realm_access": {"roles": ["b", "a"]},
		"empty": [],
		"mixed": ["x", 1, true, {"no": 1}, " "]
	}`), &claims))
	tests := []struct {
		claim string
		want  []string
		key   string
	}{
		{"cognito:groups", []string{"readers", "analysts", "readers"}, "analysts,readers"},
		{"custom:teams", []string{"ops", "analysts", "dev"}, "analysts,dev,ops"},
		{"single", []string{"analysts"}, "analysts"},
		{"level", []string{"3"}, "3"},
		{"realm_access.roles", []string{"b", "a"}, "a,b"},
		{"empty", nil, ""},
		{"missing", nil, ""},
		{"mixed", []string{"x", "1", "true"}, "1,true,x"},
	}
	for _, tc := range tests {
		vals := ClaimValues(claims, tc.claim)
		assert.Equal(t, tc.want, vals, tc.claim)
		assert.Equal(t, tc.key, SortedJoin(vals), tc.claim)
	}
}

func TestRoleMappingTable(t *testing.T) {
	t.Parallel()
	m := RoleMapping{
		MultiValue:   MultiValueSortedJoin,
		Table:        map[string]string{"analysts,readers": "analyst", "admins": "admin", "readers": "reader"},
		FallbackRole: "",
	}
	tests := []struct {
		values  []string
		role    string
		key     string
		matched bool
	}{
		{[]string{"readers", "analysts"}, "analyst", "analysts,readers", true},
		{[]string{"analysts", "readers", "analysts"}, "analyst", "analysts,readers", true},
		{[]string{"admins"}, "admin", "admins", true},
		{[]string{"admins", "readers"}, "", "admins,readers", false},
		{nil, "", "", false},
	}
	for _, tc := range tests {
		role, key, matched := m.Role(tc.values)
		assert.Equal(t, tc.role, role, "%v", tc.values)
		assert.Equal(t, tc.key, key)
		assert.Equal(t, tc.matched, matched)
	}

	m.FallbackRole = "guest"
	role, _, matched := m.Role([]string{"nobody"})
	assert.Equal(t, "guest", role)
	assert.False(t, matched)

	// any: each value alone, the first in sorted order that the table knows.
	m.MultiValue = MultiValueAny
	role, key, matched := m.Role([]string{"zeta", "readers", "admins"})
	assert.Equal(t, "admin", role)
	assert.Equal(t, "admins", key)
	assert.True(t, matched)
}
