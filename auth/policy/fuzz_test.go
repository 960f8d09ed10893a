package policy

import (
	"errors"
	"testing"
)

var fuzzSeeds = []string{
	docsFullAccess, docsSearchOnly, docsPowerUser, docsRestricted, docsIP, docsUserAndIP,
	docsReadOnlyConfig, docsTagged, notDelete, actionCase,
	`{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::444455556666:user/Bob", "arn:aws:iam::444455556666:root"]},
	  "Action": "s3:*", "Resource": ["arn:aws:s3:::BUCKETNAME", "arn:aws:s3:::BUCKETNAME/*"]}}`,
	`{"Version": "2012-10-17", "Statement": [{"Sid": "Home", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
	  "Resource": "arn:aws:s3:::bucket/home/${aws:username}/${*}${?}${$}/${aws:PrincipalTag/team, 'none'}/*",
	  "Condition": {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}, "ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]},
	    "NumericLessThanEquals": {"s3:max-keys": "10"}, "DateGreaterThan": {"aws:CurrentTime": "2013-06-30T00:00:00Z"},
	    "Bool": {"aws:SecureTransport": false}, "BinaryEquals": {"k": "QmluYXJ5"}, "NotIpAddress": {"aws:SourceIp": ["::/0", "10.0.0.1"]},
	    "ArnNotLikeIfExists": {"aws:SourceArn": "arn:aws:sns:*:*:t"}, "Null": {"aws:TokenIssueTime": "true"},
	    "ForAnyValue:StringNotEqualsIgnoreCase": {"aws:CalledVia": "athena.amazonaws.com"}}}]}`,
	`{"Version": "2008-10-17", "Id": "x", "Statement": [{"Effect": "Allow", "Principal": {"Service": ["es.amazonaws.com"], "Federated": "cognito-identity.amazonaws.com", "CanonicalUser": "abc"},
	  "NotAction": "iam:*", "NotResource": "arn:aws:iam::*:*"}]}`,
	`{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateLessThan": {"aws:EpochTime": 1700000000}}}]}`,
	`{"Statement": {"Effect": "allow"}}`,
	`[]`,
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	requests := []Request{
		{},
		{Principal: testUser, Action: "es:ESHttpGet", Resource: "arn:aws:es:us-west-1:987654321098:domain/test-domain/test-index/_search",
			Context: map[string][]string{"aws:SourceIp": {"192.0.2.1"}, "aws:username": {"test-user"}}},
		{Principal: "arn:aws:sts::123456789012:assumed-role/r/s", Action: "s3:GetObject", Resource: "arn:aws:s3:::bucket/home/alice/*?$/none/x",
			Context: map[string][]string{"aws:TagKeys": {}, "aws:CurrentTime": {"2024-01-01"}, "s3:max-keys": {"x"}, "k": {"QmluYXJ5"}}},
		{Principal: "es.amazonaws.com", Action: "*", Resource: "*", Context: map[string][]string{"aws:SourceIp": {"not an ip"}}},
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := Parse(doc)
		if err != nil {
			if p != nil || !errors.Is(err, ErrMalformed) || err.Error() == "" {
				t.Fatalf("Parse error contract broken: policy %v, error %v", p, err)
			}
			return
		}
		_ = p.Statements()
		for _, req := range requests {
			d := p.Evaluate(req)
			if again := p.Evaluate(req); again.Effect != d.Effect {
				t.Fatalf("evaluation is not deterministic: %v then %v", d.Effect, again.Effect)
			}
			_ = d.Explain()
			_ = p.EvaluateResource(req).Explain()
			_ = EvaluateAccess(p, p, req).Explain()
		}
	})
}

// FuzzEvaluate throws arbitrary requests at the seed policies.
func FuzzEvaluate(f *testing.F) {
	policies := make([]*Policy, 0, len(fuzzSeeds))
	for _, s := range fuzzSeeds {
		if p, err := Parse([]byte(s)); err == nil {
			policies = append(policies, p)
		}
	}
	f.Add("arn:aws:iam::123456789012:user/test-user", "es:ESHttpGet", "arn:aws:es:us-west-1:987654321098:domain/test-domain/x", "aws:SourceIp", "192.0.2.1")
	f.Add("arn:aws:sts::1:assumed-role//", "s3:*", "arn:::::", "aws:username", "${aws:username}")
	f.Fuzz(func(t *testing.T, principal, action, resource, key, value string) {
		req := Request{Principal: principal, Action: action, Resource: resource, Context: map[string][]string{key: {value}}}
		for _, p := range policies {
			_ = p.Evaluate(req).Explain()
			_ = EvaluateAccess(p, p, req).Explain()
		}
		_, _ = OpenSearchRequest(ServiceES, "us-east-1", "123456789012", "d", action, resource)
		_, _ = MapOpenSearch(ServiceAOSS, "us-east-1", "123456789012", "c", action, resource)
	})
}
