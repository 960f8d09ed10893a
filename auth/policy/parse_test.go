package policy

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseErrors(t *testing.T) {
	t.Parallel()
	const ok = `"Effect": "Allow", "Action": "es:*", "Resource": "*"`
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"not JSON", `{"Statement": [}`, "policy: invalid JSON: invalid character '}' looking for beginning of value"},
		{"empty", ``, "policy: invalid JSON: unexpected end of JSON input"},
		{"trailing data", `{"Statement": {` + ok + `}} {}`, "policy: invalid JSON: invalid character '{' after top-level value"},
		{"not an object", `[1]`, "policy: must be a JSON object, got list"},
		{"null", `null`, "policy: must be a JSON object, got null"},
		{"unknown top element", `{"Statement": {` + ok + `}, "Foo": 1}`, "Foo: unknown element"},
		{"wrong case element", `{"statement": {` + ok + `}}`, `statement: unknown element (element names are case-sensitive: did you mean "Statement"?)`},
		{"bad version", `{"Version": "2012-10-18", "Statement": {` + ok + `}}`, `Version: must be "2012-10-17" or "2008-10-17", got "2012-10-18"`},
		{"version not a string", `{"Version": 2012, "Statement": {` + ok + `}}`, `Version: must be a string, got number`},
		{"no statement", `{"Version": "2012-10-17"}`, "Statement: required"},
		{"empty statement list", `{"Statement": []}`, "Statement: must contain at least one statement"},
		{"statement is a string", `{"Statement": "x"}`, "Statement: must be an object or a list of objects, got string"},
		{"statement entry is a list", `{"Statement": [{` + ok + `}, []]}`, "Statement[1]: must be a JSON object, got list"},
		{"Effect case", `{"Statement": [{` + ok + `}, {` + ok + `}, {"Effect": "allow", "Action": "es:*", "Resource": "*"}]}`,
			`Statement[2].Effect: must be "Allow" or "Deny", got "allow"`},
		{"Effect missing", `{"Statement": {"Action": "es:*", "Resource": "*"}}`, "Statement: missing Effect"},
		{"Effect not a string", `{"Statement": [{"Effect": true, "Action": "es:*", "Resource": "*"}]}`, "Statement[0].Effect: must be a string, got boolean"},
		{"Action and NotAction", `{"Statement": [{` + ok + `, "NotAction": "s3:*"}]}`, "Statement[0]: has both Action and NotAction"},
		{"no Action", `{"Statement": [{"Effect": "Allow", "Resource": "*"}]}`, "Statement[0]: must have Action or NotAction"},
		{"Resource and NotResource", `{"Statement": [{` + ok + `, "NotResource": "*"}]}`, "Statement[0]: has both Resource and NotResource"},
		{"no Resource", `{"Statement": [{"Effect": "Allow", "Action": "es:*"}]}`, "Statement[0]: must have Resource or NotResource"},
		{"Principal and NotPrincipal", `{"Statement": [{` + ok + `, "Principal": "*", "NotPrincipal": "*"}]}`, "Statement[0]: has both Principal and NotPrincipal"},
		{"unknown statement element", `{"Statement": [{` + ok + `, "Conditions": {}}]}`,
			`Statement[0].Conditions: unknown element`},
		{"action without service", `{"Statement": [{"Effect": "Allow", "Action": ["es:*", "ESHttpGet"], "Resource": "*"}]}`,
			`Statement[0].Action[1]: must be "*" or "service:action", got "ESHttpGet"`},
		{"action not a string", `{"Statement": [{"Effect": "Allow", "Action": ["es:*", 3], "Resource": "*"}]}`,
			`Statement[0].Action[1]: must be a string, got number`},
		{"action empty list", `{"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]}`,
			`Statement[0].Action: must not be an empty list`},
		{"action object", `{"Statement": [{"Effect": "Allow", "Action": {}, "Resource": "*"}]}`,
			`Statement[0].Action: must be a string or a list of strings, got object`},
		{"resource not an ARN", `{"Statement": {"Effect": "Allow", "Action": "es:*", "Resource": "domain/test"}}`,
			`Statement.Resource: must be "*" or an ARN (arn:partition:service:region:account:resource), got "domain/test"`},
		{"resource ARN too short", `{"Statement": {"Effect": "Allow", "Action": "es:*", "NotResource": ["arn:aws:es:*"]}}`,
			`Statement.NotResource[0]: must be "*" or an ARN (arn:partition:service:region:account:resource), got "arn:aws:es:*"`},
		{"principal string", `{"Statement": {` + ok + `, "Principal": "arn:aws:iam::123456789012:root"}}`,
			`Statement.Principal: must be "*" or an object such as {"AWS": "arn:..."}, got "arn:aws:iam::123456789012:root"`},
		{"principal type", `{"Statement": {` + ok + `, "Principal": {"Aws": "*"}}}`,
			`Statement.Principal.Aws: unknown principal type (want AWS, Service, Federated or CanonicalUser)`},
		{"principal empty", `{"Statement": {` + ok + `, "Principal": {}}}`, `Statement.Principal: must name at least one principal`},
		{"principal account typo", `{"Statement": {` + ok + `, "NotPrincipal": {"AWS": ["12345678901"]}}}`,
			`Statement.NotPrincipal.AWS[0]: must be "*", a 12-digit account ID or an ARN, got "12345678901"`},
		{"duplicate Sid", `{"Statement": [{"Sid": "A", ` + ok + `}, {"Sid": "A", ` + ok + `}]}`, `Statement[1].Sid: duplicate "A" (also Statement[0])`},
		{"unknown operator", `{"Statement": [{` + ok + `}, {` + ok + `, "Condition": {"StringEquuals": {"a": "b"}}}]}`,
			"Statement[1].Condition.StringEquuals: unknown condition operator"},
		{"operator case", `{"Statement": {` + ok + `, "Condition": {"stringEquals": {"a": "b"}}}}`,
			`Statement.Condition.stringEquals: unknown condition operator (operators are case-sensitive: did you mean "StringEquals"?)`},
		{"unknown set qualifier", `{"Statement": {` + ok + `, "Condition": {"ForSomeValues:StringEquals": {"a": "b"}}}}`,
			"Statement.Condition.ForSomeValues:StringEquals: unknown condition operator"},
		{"NullIfExists", `{"Statement": {` + ok + `, "Condition": {"NullIfExists": {"a": "true"}}}}`,
			"Statement.Condition.NullIfExists: Null takes neither IfExists nor ForAllValues/ForAnyValue: it already tests whether the key exists"},
		{"operator block not an object", `{"Statement": {` + ok + `, "Condition": {"StringEquals": ["a"]}}}`,
			"Statement.Condition.StringEquals: must be an object of condition keys and values, got list"},
		{"condition not an object", `{"Statement": {` + ok + `, "Condition": "x"}}`, "Statement.Condition: must be a JSON object, got string"},
		{"condition value object", `{"Statement": {` + ok + `, "Condition": {"StringEquals": {"a": {"b": 1}}}}}`,
			"Statement.Condition.StringEquals.a: must be a string, number or boolean, got object"},
		{"condition value null in list", `{"Statement": {` + ok + `, "Condition": {"StringEquals": {"a": ["x", null]}}}}`,
			"Statement.Condition.StringEquals.a[1]: must be a string, number or boolean, got null"},
		{"bad number", `{"Statement": {` + ok + `, "Condition": {"NumericLessThan": {"s3:max-keys": ["1", "NaN"]}}}}`,
			`Statement.Condition.NumericLessThan.s3:max-keys[1]: must be a number, got "NaN"`},
		{"bad date", `{"Statement": {` + ok + `, "Condition": {"DateLessThan": {"aws:CurrentTime": "yesterday"}}}}`,
			`Statement.Condition.DateLessThan.aws:CurrentTime: must be an ISO 8601 date or epoch seconds, got "yesterday"`},
		{"bad CIDR", `{"Statement": {` + ok + `, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}}}`,
			`Statement.Condition.IpAddress.aws:SourceIp: must be an IP address or CIDR block, got "10.0.0.0/33"`},
		{"bad bool", `{"Statement": {` + ok + `, "Condition": {"Bool": {"aws:SecureTransport": "yes"}}}}`,
			`Statement.Condition.Bool.aws:SecureTransport: must be "true" or "false", got "yes"`},
		{"bad base64", `{"Statement": {` + ok + `, "Condition": {"BinaryEquals": {"k": "!!"}}}}`,
			`Statement.Condition.BinaryEquals.k: must be base64, got "!!"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse([]byte(tt.doc))
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Equal(t, tt.want, err.Error())
			assert.ErrorIs(t, err, ErrMalformed)
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
		})
	}
}

func TestParseJSONErrorIsWrapped(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte(`{"Statement": `))
	var syntax *json.SyntaxError
	assert.True(t, errors.As(err, &syntax), "the decoder's error should be reachable: %v", err)
}

func TestParseShapes(t *testing.T) {
	t.Parallel()
	p := mustParse(t, `{
  "Version": "2012-10-17",
  "Id": "weir-test",
  "Statement": {
    "Sid": "One",
    "Effect": "Deny",
    "NotPrincipal": {"AWS": ["arn:aws:iam::123456789012:root", "AROAEXAMPLEEXAMPLE123"], "Service": "es.amazonaws.com",
                     "Federated": "cognito-identity.amazonaws.com", "CanonicalUser": "79a59df900b949e55d96a1e698fbaced"},
    "NotAction": "es:ESHttpGet",
    "NotResource": ["arn:aws:es:us-east-1:123456789012:domain/d/*"],
    "Condition": {"StringEquals": {"b": ["1", 2, true]}, "Bool": {"a": false}}
  }
}`)
	assert.Equal(t, Version2012, p.Version())
	assert.Equal(t, "weir-test", p.ID())
	st := p.Statements()
	require.Len(t, st, 1)
	assert.Equal(t, Statement{
		Sid:    "One",
		Effect: Deny,
		NotPrincipal: &Principal{
			AWS:           []string{"arn:aws:iam::123456789012:root", "AROAEXAMPLEEXAMPLE123"},
			Service:       []string{"es.amazonaws.com"},
			Federated:     []string{"cognito-identity.amazonaws.com"},
			CanonicalUser: []string{"79a59df900b949e55d96a1e698fbaced"},
		},
		NotAction:   []string{"es:ESHttpGet"},
		NotResource: []string{"arn:aws:es:us-east-1:123456789012:domain/d/*"},
		Conditions: []Condition{
			{Operator: "Bool", Key: "a", Values: []string{"false"}},
			{Operator: "StringEquals", Key: "b", Values: []string{"1", "2", "true"}},
		},
	}, st[0])

	// Statements hands out copies: the policy cannot be changed through them.
	st[0].NotAction[0] = "*"
	assert.Equal(t, "es:ESHttpGet", p.Statements()[0].NotAction[0])
	assert.Equal(t, Deny, p.Evaluate(Request{Action: "es:ESHttpPut", Resource: "arn:aws:es:us-east-1:123456789012:domain/e",
		Context: ctx{"a": {"false"}, "b": {"2"}}}).Effect)
}

func TestEffectString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "Allow", Allow.String())
	assert.Equal(t, "Deny", Deny.String())
	assert.Equal(t, "ImplicitDeny", ImplicitDeny.String())
	assert.Equal(t, "Effect(7)", Effect(7).String())
	var d Decision
	assert.Equal(t, ImplicitDeny, d.Effect, "a zero Decision must deny")
}
