package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenSearchRequest(t *testing.T) {
	t.Parallel()
	const domain = "arn:aws:es:us-east-1:123456789012:domain/test-domain"
	tests := []struct {
		service, region, method, path string
		action, resource              string
	}{
		{ServiceES, "us-east-1", "GET", "/", "es:ESHttpGet", domain + "/"},
		{ServiceES, "us-east-1", "GET", "", "es:ESHttpGet", domain + "/"},
		{ServiceES, "us-east-1", "head", "/test-index", "es:ESHttpHead", domain + "/test-index"},
		{ServiceES, "us-east-1", "POST", "/test-index/_search?q=thor&size=1", "es:ESHttpPost", domain + "/test-index/_search"},
		{ServiceES, "us-east-1", "PUT", "test-index/_doc/1", "es:ESHttpPut", domain + "/test-index/_doc/1"},
		{ServiceES, "us-east-1", "PATCH", "/_plugins/_security/api/roles", "es:ESHttpPatch", domain + "/_plugins/_security/api/roles"},
		{ServiceES, "us-east-1", "DELETE", "/restricted-index", "es:ESHttpDelete", domain + "/restricted-index"},
		{ServiceES, "cn-north-1", "GET", "/", "es:ESHttpGet", "arn:aws-cn:es:cn-north-1:123456789012:domain/test-domain/"},
		{ServiceES, "us-gov-west-1", "GET", "/", "es:ESHttpGet", "arn:aws-us-gov:es:us-gov-west-1:123456789012:domain/test-domain/"},
		{ServiceAOSS, "us-east-1", "POST", "/logs/_bulk", "aoss:APIAccessAll", "arn:aws:aoss:us-east-1:123456789012:collection/test-domain"},
		{ServiceES, "us-east-1", "OPTIONS", "/", "", ""},
		{"s3", "us-east-1", "GET", "/", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.service+" "+tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			action, resource := OpenSearchRequest(tt.service, tt.region, "123456789012", "test-domain", tt.method, tt.path)
			assert.Equal(t, tt.action, action)
			assert.Equal(t, tt.resource, resource)
		})
	}
}

func TestMapOpenSearchErrors(t *testing.T) {
	t.Parallel()
	_, err := MapOpenSearch(ServiceES, "us-east-1", "123456789012", "d", "TRACE", "/")
	require.ErrorIs(t, err, ErrUnsupported)
	assert.EqualError(t, err, `unsupported OpenSearch request: HTTP method "TRACE" has no es:ESHttp action`)
	_, err = MapOpenSearch("es ", "us-east-1", "123456789012", "d", "GET", "/")
	assert.ErrorIs(t, err, ErrUnsupported)
	_, err = MapOpenSearch(ServiceES, "", "123456789012", "d", "GET", "/")
	assert.ErrorIs(t, err, ErrUnsupported)
}

func TestAOSSDataPermission(t *testing.T) {
	t.Parallel()
	tests := []struct{ method, path, want string }{
		{"GET", "/logs/_search", "aoss:ReadDocument"},
		{"POST", "/logs/_search?size=0", "aoss:ReadDocument"},
		{"POST", "/_msearch", "aoss:ReadDocument"},
		{"GET", "/logs/_doc/1", "aoss:ReadDocument"},
		{"PUT", "/logs/_doc/1", "aoss:WriteDocument"},
		{"DELETE", "/logs/_doc/1", "aoss:WriteDocument"},
		{"POST", "/_bulk", "aoss:WriteDocument"},
		{"POST", "/logs/_update_by_query", "aoss:WriteDocument"},
		{"PUT", "/logs", "aoss:CreateIndex"},
		{"DELETE", "/logs", "aoss:DeleteIndex"},
		{"HEAD", "/logs", "aoss:DescribeIndex"},
		{"GET", "/logs/_mapping", "aoss:DescribeIndex"},
		{"PUT", "/logs/_mapping", "aoss:UpdateIndex"},
		{"GET", "/_cat/indices", "aoss:DescribeIndex"},
		{"GET", "/", ""},
		{"GET", "/_cluster/health", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			call, err := MapOpenSearch(ServiceAOSS, "us-east-1", "123456789012", "abc123", tt.method, tt.path)
			require.NoError(t, err)
			assert.Equal(t, "aoss:APIAccessAll", call.Action)
			assert.Equal(t, "arn:aws:aoss:us-east-1:123456789012:collection/abc123", call.Resource)
			assert.Equal(t, tt.want, call.DataPermission)
		})
	}
}

// The OpenSearch guide's IAM policy for Serverless data-plane access.
func TestAOSSIdentityPolicy(t *testing.T) {
	t.Parallel()
	p := mustParse(t, `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "aoss:APIAccessAll",
		"Resource": "arn:aws:aoss:us-east-1:123456789012:collection/abc123"}]}`)
	action, resource := OpenSearchRequest(ServiceAOSS, "us-east-1", "123456789012", "abc123", "GET", "/logs/_search")
	assert.True(t, p.Evaluate(Request{Action: action, Resource: resource}).Allowed())
	action, resource = OpenSearchRequest(ServiceAOSS, "us-east-1", "123456789012", "other", "GET", "/logs/_search")
	assert.False(t, p.Evaluate(Request{Action: action, Resource: resource}).Allowed())
}
