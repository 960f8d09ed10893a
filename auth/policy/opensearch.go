package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Services OpenSearchRequest knows.
const (
	ServiceES   = "es"   // Amazon OpenSearch Service domains
	ServiceAOSS = "aoss" // OpenSearch Serverless collections
)

// ErrUnsupported is wrapped when a request cannot be mapped to IAM terms.
var ErrUnsupported = errors.New("unsupported OpenSearch request")

// OpenSearchCall is what IAM sees of an HTTP request to OpenSearch.
type OpenSearchCall struct {
	Action   string // es:ESHttpGet…, or aoss:APIAccessAll
	Resource string // the domain ARN plus the path, or the collection ARN
	// DataPermission is, for aoss only, the data-access-policy permission the request
	// most likely needs (aoss:ReadDocument, aoss:WriteDocument, aoss:DescribeIndex,
	// aoss:CreateIndex, aoss:UpdateIndex, aoss:DeleteIndex), or empty when the path does not
	// say. It is a hint for explanations: data-access policies are not IAM policies, and
	// OpenSearch Serverless alone enforces them.
	DataPermission string
}

var esActions = map[string]string{
	"GET":    "es:ESHttpGet",
	"HEAD":   "es:ESHttpHead",
	"POST":   "es:ESHttpPost",
	"PUT":    "es:ESHttpPut",
	"PATCH":  "es:ESHttpPatch",
	"DELETE": "es:ESHttpDelete",
}

// OpenSearchRequest maps an HTTP request to OpenSearch onto the IAM action and resource
// that authorize it. It returns empty strings for a service or method it does not know;
// MapOpenSearch says why.
func OpenSearchRequest(service, region, account, domainOrCollection, method, path string) (action, resource string) {
	call, err := MapOpenSearch(service, region, account, domainOrCollection, method, path)
	if err != nil {
		return "", ""
	}
	return call.Action, call.Resource
}

// MapOpenSearch maps an HTTP request to OpenSearch onto what IAM sees. For es the resource
// is arn:aws:es:REGION:ACCOUNT:domain/DOMAIN followed by the path without its query
// string, so the root maps to domain/DOMAIN/. For aoss, every data-plane request is the
// IAM action aoss:APIAccessAll on arn:aws:aoss:REGION:ACCOUNT:collection/COLLECTION_ID.
func MapOpenSearch(service, region, account, domainOrCollection, method, path string) (OpenSearchCall, error) {
	if region == "" || account == "" || domainOrCollection == "" {
		return OpenSearchCall{}, fmt.Errorf("%w: region, account and domain or collection are required", ErrUnsupported)
	}
	path, _, _ = strings.Cut(path, "?")
	path, _, _ = strings.Cut(path, "#")
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	method = strings.ToUpper(method)
	arn := "arn:" + partition(region) + ":" + service + ":" + region + ":" + account + ":"
	switch service {
	case ServiceES:
		action, ok := esActions[method]
		if !ok {
			return OpenSearchCall{}, fmt.Errorf("%w: HTTP method %q has no es:ESHttp action", ErrUnsupported, method)
		}
		return OpenSearchCall{Action: action, Resource: arn + "domain/" + domainOrCollection + path}, nil
	case ServiceAOSS:
		return OpenSearchCall{
			Action:         "aoss:APIAccessAll",
			Resource:       arn + "collection/" + domainOrCollection,
			DataPermission: aossDataPermission(method, path),
		}, nil
	}
	return OpenSearchCall{}, fmt.Errorf("%w: service %q (want %q or %q)", ErrUnsupported, service, ServiceES, ServiceAOSS)
}

func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

var (
	aossRead  = []string{"_search", "_msearch", "_count", "_mget", "_explain", "_source", "_validate", "_field_caps", "_termvectors", "_mtermvectors", "_search_shards"}
	aossWrite = []string{"_bulk", "_create", "_update", "_delete_by_query", "_update_by_query"}
	aossMeta  = []string{"_mapping", "_mappings", "_settings", "_alias", "_aliases"}
)

func aossDataPermission(method, path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if segs[0] == "" {
		return ""
	}
	reads := method == "GET" || method == "HEAD"
	first, api := segs[0], ""
	if strings.HasPrefix(first, "_") {
		api = first
	} else if len(segs) > 1 {
		api = segs[1]
	}
	switch {
	case api == "" && !strings.HasPrefix(first, "_"):
		switch method {
		case "PUT":
			return "aoss:CreateIndex"
		case "DELETE":
			return "aoss:DeleteIndex"
		case "GET", "HEAD":
			return "aoss:DescribeIndex"
		}
	case api == "_doc":
		if reads {
			return "aoss:ReadDocument"
		}
		return "aoss:WriteDocument"
	case slices.Contains(aossRead, api):
		return "aoss:ReadDocument"
	case slices.Contains(aossWrite, api):
		return "aoss:WriteDocument"
	case slices.Contains(aossMeta, api):
		if reads {
			return "aoss:DescribeIndex"
		}
		return "aoss:UpdateIndex"
	case api == "_cat" && len(segs) > 1 && segs[1] == "indices":
		return "aoss:DescribeIndex"
	}
	return ""
}
