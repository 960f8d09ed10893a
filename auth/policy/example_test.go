package policy_test

import (
	"fmt"

	"github.com/weir-ingest/weir/auth/policy"
)

func ExamplePolicy_Evaluate() {
	p, err := policy.Parse([]byte(`{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "es:ESHttp*", "Resource": "arn:aws:es:us-east-1:123456789012:domain/test-domain/*"},
    {"Sid": "DenyRestricted", "Effect": "Deny", "Action": "es:*",
     "Resource": "arn:aws:es:us-east-1:123456789012:domain/test-domain/restricted-index/*"}
  ]
}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/restricted-index/_search"},
		{"DELETE", "/restricted-index"},
	} {
		action, resource := policy.OpenSearchRequest("es", "us-east-1", "123456789012", "test-domain", r.method, r.path)
		d := p.Evaluate(policy.Request{Action: action, Resource: resource})
		fmt.Println(d.Effect, "-", d.Explain())
	}
	// Output:
	// Deny - denied by Statement "DenyRestricted" (Action "es:*", Resource "arn:aws:es:us-east-1:123456789012:domain/test-domain/restricted-index/*")
	// Allow - allowed by Statement[0] (Action "es:ESHttp*", Resource "arn:aws:es:us-east-1:123456789012:domain/test-domain/*")
}

func ExampleEvaluateAccess() {
	access, _ := policy.Parse([]byte(`{
  "Version": "2012-10-17",
  "Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "es:ESHttp*",
                "Resource": "arn:aws:es:us-east-1:123456789012:domain/logs/*"}
}`))
	identity, _ := policy.Parse([]byte(`{
  "Version": "2012-10-17",
  "Statement": {"Effect": "Allow", "Action": "es:ESHttpGet", "Resource": "arn:aws:es:us-east-1:123456789012:domain/logs/*"}
}`))
	req := policy.Request{
		Principal: "arn:aws:sts::123456789012:assumed-role/weir-ingest/i-0abc",
		Action:    "es:ESHttpPost",
		Resource:  "arn:aws:es:us-east-1:123456789012:domain/logs/_bulk",
	}
	fmt.Println(policy.EvaluateAccess(identity, access, req).Explain())
	// Output:
	// implicitly denied: the resource-based access policy names only the account 123456789012, so the identity-based policy on the role must also allow es:ESHttpPost, and it does not: no statement allows es:ESHttpPost on arn:aws:es:us-east-1:123456789012:domain/logs/_bulk
}

func ExampleParse() {
	_, err := policy.Parse([]byte(`{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "es:*", "Resource": "*", "Condition": {"StringEquuals": {"aws:username": "alice"}}}]}`))
	fmt.Println(err)
	// Output:
	// Statement[0].Condition.StringEquuals: unknown condition operator
}
