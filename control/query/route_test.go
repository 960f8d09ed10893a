package query

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseOpStructuralFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path, query string
		kind                string // expected kind; empty when refused
		reason              string // expected refusal reason
		forward             string // expected forwarded path
	}{
		{"GET", "/logs-2026.11/_search", "", OpSearch, "", "/logs-2026.11/_search"},
		{"POST", "/logs-*/_search", "size=1", OpSearch, "", "/logs-%2A/_search"},
		{"POST", "/logs-a,logs-b/_count", "", OpCount, "", "/logs-a,logs-b/_count"},
		{"POST", "/logs-*/_msearch", "", OpMultiSearch, "", "/logs-%2A/_msearch"},
		{"GET", "/logs/_doc/a%2Fb%20c", "", OpDocument, "", "/logs/_doc/a%2Fb%20c"},
		{"GET", "/logs/_doc/..", "", OpDocument, "", "/logs/_doc/%2E%2E"},
		{"GET", "/logs/_mapping", "", OpMapping, "", "/logs/_mapping"},
		{"GET", "/_cat/indices", "format=json", OpCatIndices, "", "/_cat/indices"},
		{"GET", "/_cluster/health", "", OpClusterHealth, "", "/_cluster/health"},

		// writes, whatever a policy says
		{"POST", "/x/_doc", "", "", ReasonWrite, ""},
		{"PUT", "/x/_doc/1", "", "", ReasonWrite, ""},
		{"DELETE", "/x/_doc/1", "", "", ReasonWrite, ""},
		{"DELETE", "/x", "", "", ReasonWrite, ""},
		{"PUT", "/x", "", "", ReasonWrite, ""},
		{"POST", "/_bulk", "", "", ReasonWrite, ""},
		{"POST", "/x/_bulk", "", "", ReasonWrite, ""},
		{"POST", "/x/_delete_by_query", "", "", ReasonWrite, ""},
		{"POST", "/x/_update_by_query", "", "", ReasonWrite, ""},
		{"POST", "/x/_update/1", "", "", ReasonWrite, ""},
		{"POST", "/_reindex", "", "", ReasonWrite, ""},
		{"POST", "/x/_search", "", OpSearch, "", "/x/_search"},
		{"PUT", "/x/_search", "", "", ReasonWrite, ""},
		{"POST", "/x/_mapping", "", "", ReasonNotARead, ""},
		// admin APIs
		{"GET", "/_plugins/_security/api/roles", "", "", ReasonAdminAPI, ""},
		{"GET", "/_opendistro/_security/api/internalusers", "", "", ReasonAdminAPI, ""},
		{"PUT", "/_security/user/x", "", "", ReasonAdminAPI, ""},
		{"POST", "/_scripts/s", "", "", ReasonAdminAPI, ""},
		{"GET", "/_cluster/settings", "", "", ReasonAdminAPI, ""},
		{"GET", "/_cat/shards", "", "", ReasonAdminAPI, ""},
		{"GET", "/_nodes", "", "", ReasonAdminAPI, ""},
		// other reads are not forwarded
		{"GET", "/_search", "", "", ReasonNotARead, ""},
		{"GET", "/x/_search/template", "", "", ReasonNotARead, ""},
		{"HEAD", "/x", "", "", ReasonNotARead, ""},
		{"GET", "/", "", "", ReasonNotARead, ""},
		{"GET", "//x/_search", "", "", ReasonNotARead, ""},
		// index names
		{"GET", "/_all/_search", "", "", ReasonInvalidIndex, ""},
		{"GET", "/.opendistro_security/_search", "", "", ReasonInvalidIndex, ""},
		{"GET", "/.kibana/_search", "", "", ReasonInvalidIndex, ""},
		{"GET", "/logs,-logs-secret/_search", "", "", ReasonInvalidIndex, ""},
		{"GET", "/remote:logs/_search", "", "", ReasonInvalidIndex, ""},
		{"GET", "/Logs/_search", "", "", ReasonInvalidIndex, ""},
		{"GET", "/a%2Fb/_search", "", "", ReasonInvalidIndex, ""},
		{"GET", "/a%20b/_search", "", "", ReasonInvalidIndex, ""},
		{"GET", "/%3Clogs-%7Bnow%2Fd%7D%3E/_search", "", "", ReasonInvalidIndex, ""},
		{"GET", "/logs,/_search", "", "", ReasonInvalidIndex, ""},
		{"GET", "/logs-*/_doc/1", "", "", ReasonInvalidIndex, ""},
		{"GET", "/a,b/_doc/1", "", "", ReasonInvalidIndex, ""},
		{"GET", "/x/_search", "expand_wildcards=open,hidden", "", ReasonHiddenIndices, ""},
		{"GET", "/x/_search", "expand_wildcards=all", "", ReasonHiddenIndices, ""},
		{"GET", "/x/_search", "expand_wildcards=open", OpSearch, "", "/x/_search"},
		{"GET", "/x%zz/_search", "", "", ReasonNotARead, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path+"?"+tc.query, func(t *testing.T) {
			t.Parallel()
			op, err := ParseOp(tc.method, tc.path, tc.query)
			if tc.kind == "" {
				var rf *Refusal
				require.True(t, errors.As(err, &rf), "want a refusal, got %v (%+v)", err, op)
				assert.Equal(t, tc.reason, rf.Reason, rf.Message)
				assert.NotEmpty(t, rf.Message)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.kind, op.Kind)
			assert.Equal(t, tc.forward, op.Path())
		})
	}
}

func TestAuthzPathsSplitIndexLists(t *testing.T) {
	t.Parallel()
	op, err := ParseOp("GET", "/logs-a,secret-b/_search", "")
	require.NoError(t, err)
	// logs-* in a policy matches "logs-a,secret-b/_search" as a whole, so each index is
	// authorized alone as well.
	assert.Equal(t, []string{"/logs-a,secret-b/_search", "/logs-a/_search", "/secret-b/_search"}, op.AuthzPaths(nil))
	op, err = ParseOp("GET", "/logs/_doc/a%2Fb", "")
	require.NoError(t, err)
	assert.Equal(t, []string{"/logs/_doc/a/b"}, op.AuthzPaths(nil))
	op, err = ParseOp("POST", "/logs-*/_msearch", "")
	require.NoError(t, err)
	assert.Equal(t, []string{"/logs-*/_msearch", "/logs-1/_msearch"}, op.AuthzPaths([]string{"logs-1"}))
}

func TestCheckBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, ctype, body string
		reason                  string // empty: accepted
		indices                 []string
	}{
		{"empty search", "/logs-*/_search", "", "", "", nil},
		{"plain search", "/logs-*/_search", "application/json", `{"query":{"match_all":{}}}`, "", nil},
		{"msearch within", "/logs-*/_msearch", "application/x-ndjson",
			"{\"index\":\"logs-1\"}\n{\"query\":{\"match_all\":{}}}\n{}\n{}\n\n{\"size\":0}\n", "", []string{"logs-1"}},
		{"msearch array", "/logs-*/_msearch", "", "{\"index\":[\"logs-1\",\"logs-2\"]}\n{}\n", "", []string{"logs-1", "logs-2"}},
		{"msearch other index", "/logs-*/_msearch", "", "{\"index\":\"logs-1\"}\n{}\n{\"index\":\"secret-1\"}\n{}\n", ReasonMultiSearchIndex, nil},
		{"msearch comma list", "/logs-*/_msearch", "", "{\"index\":\"logs-1,secret-1\"}\n{}\n", ReasonMultiSearchIndex, nil},
		{"msearch wider wildcard", "/logs-*/_msearch", "", "{\"index\":\"*\"}\n{}\n", ReasonMultiSearchIndex, nil},
		{"msearch system index", "/logs-*/_msearch", "", "{\"index\":\".kibana\"}\n{}\n", ReasonMultiSearchIndex, nil},
		{"msearch hidden", "/logs-*/_msearch", "", "{\"expand_wildcards\":\"all\"}\n{}\n", ReasonHiddenIndices, nil},
		{"msearch odd lines", "/logs-*/_msearch", "", "{}\n", ReasonMalformedBody, nil},
		{"msearch no body", "/logs-*/_msearch", "", "", ReasonMalformedBody, nil},
		{"msearch bad header", "/logs-*/_msearch", "", "[1]\n{}\n", ReasonMalformedBody, nil},
		{"terms lookup elsewhere", "/logs-*/_search", "",
			`{"query":{"terms":{"user":{"index":"secret-1","id":"2","path":"followers"}}}}`, ReasonCrossIndexLookup, nil},
		{"terms lookup within", "/logs-*/_search", "",
			`{"query":{"terms":{"user":{"index":"logs-1","id":"2","path":"followers"}}}}`, "", []string{"logs-1"}},
		{"more_like_this elsewhere", "/logs/_search", "",
			`{"query":{"more_like_this":{"fields":["t"],"like":[{"_index":"secret","_id":"1"}]}}}`, ReasonCrossIndexLookup, nil},
		{"lookup in msearch", "/logs-*/_msearch", "",
			"{}\n{\"query\":{\"terms\":{\"u\":{\"index\":\"secret\",\"id\":\"1\",\"path\":\"p\"}}}}\n", ReasonCrossIndexLookup, nil},
		{"field named index", "/logs/_search", "", `{"query":{"term":{"index":"secret"}}}`, "", nil},
		{"not json", "/logs/_search", "", `{"query":`, ReasonMalformedBody, nil},
		{"two values", "/logs/_search", "", `{} {}`, ReasonMalformedBody, nil},
		{"cbor", "/logs/_search", "application/cbor", `xx`, ReasonContentType, nil},
		{"yaml", "/logs/_search", "application/yaml", `query: {}`, ReasonContentType, nil},
		{"count lookup", "/logs/_count", "", `{"query":{"percolate":{"field":"q","index":"secret","id":"1"}}}`, ReasonCrossIndexLookup, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			op, err := ParseOp("POST", tc.path, "")
			require.NoError(t, err)
			indices, err := op.CheckBody(tc.ctype, []byte(tc.body))
			if tc.reason == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.indices, indices)
				return
			}
			var rf *Refusal
			require.True(t, errors.As(err, &rf), "want a refusal, got %v", err)
			assert.Equal(t, tc.reason, rf.Reason, rf.Message)
		})
	}
}

func TestWildcardMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"logs-*", "logs-1", true},
		{"logs-*", "logs-*", true},
		{"logs-*", "logs-a-*", true},
		{"logs-*", "*", false},
		{"logs-*", "l*", false},
		{"logs-*", "secret", false},
		{"*", "anything", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"logs", "logs", true},
		{"logs", "logs2", false},
	} {
		assert.Equal(t, tc.want, wildcardMatch(tc.pattern, tc.name), "%s ~ %s", tc.pattern, tc.name)
	}
}
