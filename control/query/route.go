package query

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/weir-ingest/weir/auth"
)

// The reads weir forwards. Anything else is refused before any policy is looked at.
const (
	OpSearch        = "search"
	OpCount         = "count"
	OpMultiSearch   = "msearch"
	OpDocument      = "doc"
	OpMapping       = "mapping"
	OpCatIndices    = "cat_indices"
	OpClusterHealth = "cluster_health"
)

// Structural refusal reasons, the reason label of weir_query_requests_total.
const (
	ReasonWrite            = "write"
	ReasonAdminAPI         = "admin_api"
	ReasonNotARead         = "not_a_read"
	ReasonInvalidIndex     = "invalid_index"
	ReasonInvalidID        = "invalid_id"
	ReasonHiddenIndices    = "hidden_indices"
	ReasonMultiSearchIndex = "msearch_index"
	ReasonCrossIndexLookup = "cross_index_lookup"
	ReasonContentType      = "content_type"
	ReasonMalformedBody    = "malformed_body"
)

// Refusal is a structural refusal: the request is not one of the reads weir forwards, so
// no policy can allow it.
type Refusal struct {
	Reason  string // one of the Reason constants, low cardinality
	Message string
}

func (r *Refusal) Error() string { return r.Reason + ": " + r.Message }

func refuse(reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Op is a read request that passed the structural filter.
type Op struct {
	Kind   string
	Method string // GET or POST
	// Indices are the index expressions the path names, decoded: "logs-*", "a".
	Indices []string
	ID      string     // OpDocument only, decoded
	Query   url.Values // the query string, re-encoded on forwarding
}

// writeAPIs are path segments of requests that change data; they are named in refusals.
var writeAPIs = []string{
	"_bulk", "_delete_by_query", "_update_by_query", "_update", "_create", "_reindex",
	"_rethrottle", "_close", "_open", "_forcemerge", "_flush", "_refresh", "_rollover",
	"_shrink", "_split", "_clone", "_alias", "_aliases", "_settings", "_block",
}

// adminAPIs start paths that administer the cluster or its plugins.
var adminAPIs = []string{
	"_plugins", "_opendistro", "_security", "_snapshot", "_nodes", "_tasks", "_ingest",
	"_scripts", "_template", "_index_template", "_component_template", "_data_stream",
	"_cluster", "_cat", "_search_pipeline", "_ml", "_dashboards", "_notifications",
}

// ParseOp applies the structural filter to a request for OpenSearch: method, the path as
// sent (percent-encoded, without weir's /v1/query prefix) and the raw query string.
func ParseOp(method, escapedPath, rawQuery string) (Op, error) {
	method = strings.ToUpper(method)
	segs, err := splitPath(escapedPath)
	if err != nil {
		return Op{}, err
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Op{}, refuse(ReasonNotARead, "the query string does not parse: %v", err)
	}
	if err := checkQuery(q); err != nil {
		return Op{}, err
	}
	op := Op{Method: method, Query: q}
	reads := method == "GET" || method == "POST"
	switch {
	case len(segs) == 2 && segs[0] == "_cat" && segs[1] == "indices" && method == "GET":
		op.Kind = OpCatIndices
		return op, nil
	case len(segs) == 2 && segs[0] == "_cluster" && segs[1] == "health" && method == "GET":
		op.Kind = OpClusterHealth
		return op, nil
	case len(segs) == 2 && reads && (segs[1] == "_search" || segs[1] == "_count" || segs[1] == "_msearch"),
		len(segs) == 2 && method == "GET" && segs[1] == "_mapping",
		len(segs) == 3 && method == "GET" && segs[1] == "_doc":
		op.Kind = map[string]string{"_search": OpSearch, "_count": OpCount, "_msearch": OpMultiSearch, "_mapping": OpMapping, "_doc": OpDocument}[segs[1]]
		if op.Indices, err = parseIndices(segs[0], op.Kind != OpDocument); err != nil {
			return Op{}, err
		}
		if op.Kind == OpDocument {
			if segs[2] == "" || len(segs[2]) > 512 {
				return Op{}, refuse(ReasonInvalidID, "a document id is 1 to 512 bytes")
			}
			op.ID = segs[2]
		}
		return op, nil
	}
	return Op{}, classify(method, segs)
}

// classify names why a request that matched no read route is refused.
func classify(method string, segs []string) *Refusal {
	what := method + " /" + strings.Join(segs, "/")
	if len(segs) > 0 && slices.Contains(adminAPIs, segs[0]) {
		return refuse(ReasonAdminAPI, "%s administers the cluster; the query endpoint forwards only reads", what)
	}
	for _, s := range segs {
		if slices.Contains(writeAPIs, s) {
			return refuse(ReasonWrite, "%s changes data (%s); the query endpoint forwards only reads", what, s)
		}
	}
	if method != "GET" && method != "POST" && method != "HEAD" {
		return refuse(ReasonWrite, "%s: method %s changes data; the query endpoint forwards only reads", what, method)
	}
	if len(segs) >= 2 && segs[1] == "_doc" {
		return refuse(ReasonWrite, "%s writes a document; only GET /{index}/_doc/{id} is forwarded", what)
	}
	return refuse(ReasonNotARead, "%s is not one of the reads the query endpoint forwards: "+
		"{index}/_search, _count and _msearch (GET or POST), GET {index}/_doc/{id}, GET {index}/_mapping, "+
		"GET _cat/indices, GET _cluster/health", what)
}

func splitPath(escaped string) ([]string, error) {
	escaped = strings.TrimPrefix(escaped, "/")
	if escaped == "" {
		return nil, nil
	}
	raw := strings.Split(escaped, "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		if s == "" {
			return nil, refuse(ReasonNotARead, "the path /%s has an empty segment", escaped)
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return nil, refuse(ReasonNotARead, "the path segment %q is not valid percent-encoding", s)
		}
		segs[i] = d
	}
	return segs, nil
}

// checkQuery refuses query parameters that would widen a read beyond the indices it names.
func checkQuery(q url.Values) error {
	for _, v := range q["expand_wildcards"] {
		for _, w := range strings.Split(v, ",") {
			if w == "all" || w == "hidden" {
				return refuse(ReasonHiddenIndices, "expand_wildcards=%s reaches hidden and system indices", w)
			}
		}
	}
	return nil
}

// parseIndices validates an index expression: comma-separated names (aliases and data
// streams included), with '*' wildcards when multi is set.
func parseIndices(expr string, multi bool) ([]string, error) {
	parts := strings.Split(expr, ",")
	if !multi && len(parts) > 1 {
		return nil, refuse(ReasonInvalidIndex, "%q: a document lives in one index; name one", expr)
	}
	for _, p := range parts {
		if err := validIndex(p, multi); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

// validIndex applies OpenSearch's index-name rules, and refuses what would escape the
// names a policy sees: names starting with '.' (system and hidden indices), '_' (APIs),
// '-' (exclusions), and ':' (another cluster).
func validIndex(name string, wildcards bool) error {
	switch {
	case name == "":
		return refuse(ReasonInvalidIndex, "an empty index name")
	case len(name) > 255:
		return refuse(ReasonInvalidIndex, "index name longer than 255 bytes")
	case name[0] == '.':
		return refuse(ReasonInvalidIndex, "%q: indices starting with '.' are system or hidden indices", name)
	case name[0] == '_' || name[0] == '-' || name[0] == '+':
		return refuse(ReasonInvalidIndex, "%q: an index name cannot start with %q", name, name[0])
	case !wildcards && strings.Contains(name, "*"):
		return refuse(ReasonInvalidIndex, "%q: name one index, without wildcards", name)
	}
	for _, r := range name {
		switch {
		case r >= 'A' && r <= 'Z':
			return refuse(ReasonInvalidIndex, "%q: index names are lower case", name)
		case r == ':':
			return refuse(ReasonInvalidIndex, "%q: cross-cluster names are not forwarded", name)
		case strings.ContainsRune("\\/?\"<>| #,", r) || r < ' ' || r == 0x7f:
			return refuse(ReasonInvalidIndex, "%q: an index name cannot hold %q", name, r)
		}
	}
	return nil
}

// Path is the path forwarded to OpenSearch, each index and the id re-escaped so that what
// OpenSearch reads, what is signed and what was authorized are the same names.
func (o Op) Path() string {
	switch o.Kind {
	case OpCatIndices:
		return "/_cat/indices"
	case OpClusterHealth:
		return "/_cluster/health"
	}
	esc := make([]string, len(o.Indices))
	for i, ix := range o.Indices {
		esc[i] = auth.EscapePathSegment(ix)
	}
	p := "/" + strings.Join(esc, ",") + "/" + o.api()
	if o.Kind == OpDocument {
		p += "/" + auth.EscapePathSegment(o.ID)
	}
	return p
}

func (o Op) api() string {
	switch o.Kind {
	case OpDocument:
		return "_doc"
	case OpMapping:
		return "_mapping"
	}
	return "_" + o.Kind
}

// AuthzPaths are the decoded paths authorized for the request, as IAM sees them: the path
// itself, and when it names several indices, each one alone too, because a policy's
// wildcard (logs-*) would otherwise match a list that goes on to another index
// (logs-a,secret-b). extra are indices the body names (msearch headers, lookups).
func (o Op) AuthzPaths(extra []string) []string {
	switch o.Kind {
	case OpCatIndices, OpClusterHealth:
		return []string{o.Path()}
	}
	suffix := "/" + o.api()
	if o.Kind == OpDocument {
		suffix += "/" + o.ID
	}
	paths := []string{"/" + strings.Join(o.Indices, ",") + suffix}
	seen := map[string]bool{paths[0]: true}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	if len(o.Indices) > 1 {
		for _, ix := range o.Indices {
			add("/" + ix + suffix)
		}
	}
	for _, ix := range extra {
		add("/" + ix + suffix)
	}
	return paths
}

// within reports whether index is covered by one of the path's index expressions.
func (o Op) within(index string) bool {
	for _, p := range o.Indices {
		if wildcardMatch(p, index) {
			return true
		}
	}
	return false
}

// wildcardMatch matches name against an index pattern where '*' stands for any run of
// characters; a name that is itself a pattern must be covered by it.
func wildcardMatch(pattern, name string) bool {
	for {
		star := strings.IndexByte(pattern, '*')
		if star < 0 {
			return pattern == name
		}
		if !strings.HasPrefix(name, pattern[:star]) {
			return false
		}
		name, pattern = name[star:], pattern[star+1:]
		if pattern == "" {
			return true
		}
		for i := 0; i <= len(name); i++ {
			if wildcardMatch(pattern, name[i:]) {
				return true
			}
		}
		return false
	}
}

// Request is a method and path in OpenSearch's terms.
type Request struct{ Method, Path string }

// ReadRequests are the requests the endpoint may forward, with "*" standing for any index
// or document id: what weir's own policy must allow for every read to be possible.
func ReadRequests() []Request {
	return []Request{
		{"GET", "/*/_search"}, {"POST", "/*/_search"},
		{"GET", "/*/_count"}, {"POST", "/*/_count"},
		{"GET", "/*/_msearch"}, {"POST", "/*/_msearch"},
		{"GET", "/*/_doc/*"}, {"GET", "/*/_mapping"},
		{"GET", "/_cat/indices"}, {"GET", "/_cluster/health"},
	}
}
