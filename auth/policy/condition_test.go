package policy

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// conditionPolicy wraps one Condition block in an allow-everything identity-based policy.
func conditionPolicy(t testing.TB, version, condition string) *Policy {
	t.Helper()
	v := ""
	if version != "" {
		v = `"Version": ` + version + `,`
	}
	return mustParse(t, `{`+v+`"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": `+condition+`}}`)
}

type ctx = map[string][]string

func TestConditionOperators(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		condition string
		ctx       ctx
		want      bool
	}{
		// String
		{"StringEquals match", `{"StringEquals": {"aws:username": "alice"}}`, ctx{"aws:username": {"alice"}}, true},
		{"StringEquals is case-sensitive", `{"StringEquals": {"aws:username": "alice"}}`, ctx{"aws:username": {"Alice"}}, false},
		{"StringEquals values are OR'd", `{"StringEquals": {"aws:username": ["bob", "alice"]}}`, ctx{"aws:username": {"alice"}}, true},
		{"StringEquals * is literal", `{"StringEquals": {"aws:username": "*"}}`, ctx{"aws:username": {"alice"}}, false},
		{"StringEquals missing key", `{"StringEquals": {"aws:username": "alice"}}`, nil, false},
		{"StringEquals key is case-insensitive", `{"StringEquals": {"AWS:UserName": "alice"}}`, ctx{"aws:username": {"alice"}}, true},
		{"StringNotEquals other", `{"StringNotEquals": {"aws:username": ["bob", "carol"]}}`, ctx{"aws:username": {"alice"}}, true},
		{"StringNotEquals none may match", `{"StringNotEquals": {"aws:username": ["bob", "alice"]}}`, ctx{"aws:username": {"alice"}}, false},
		{"StringNotEquals missing key is true", `{"StringNotEquals": {"aws:username": "bob"}}`, nil, true},
		{"StringEqualsIgnoreCase", `{"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}`, ctx{"aws:username": {"alice"}}, true},
		{"StringNotEqualsIgnoreCase", `{"StringNotEqualsIgnoreCase": {"aws:username": "ALICE"}}`, ctx{"aws:username": {"alice"}}, false},
		{"StringLike *", `{"StringLike": {"s3:prefix": "home/*"}}`, ctx{"s3:prefix": {"home/alice/x"}}, true},
		{"StringLike ?", `{"StringLike": {"s3:prefix": "home/?"}}`, ctx{"s3:prefix": {"home/ab"}}, false},
		{"StringLike case-sensitive", `{"StringLike": {"s3:prefix": "Home/*"}}`, ctx{"s3:prefix": {"home/a"}}, false},
		{"StringNotLike", `{"StringNotLike": {"s3:prefix": ["tmp/*", "scratch/*"]}}`, ctx{"s3:prefix": {"home/a"}}, true},
		{"StringNotLike matching", `{"StringNotLike": {"s3:prefix": ["tmp/*", "home/*"]}}`, ctx{"s3:prefix": {"home/a"}}, false},

		// Numeric
		{"NumericEquals", `{"NumericEquals": {"s3:max-keys": "10"}}`, ctx{"s3:max-keys": {"10.0"}}, true},
		{"NumericEquals JSON number", `{"NumericEquals": {"s3:max-keys": 10}}`, ctx{"s3:max-keys": {"10"}}, true},
		{"NumericNotEquals", `{"NumericNotEquals": {"s3:max-keys": 10}}`, ctx{"s3:max-keys": {"11"}}, true},
		{"NumericLessThan", `{"NumericLessThan": {"s3:max-keys": 10}}`, ctx{"s3:max-keys": {"9.5"}}, true},
		{"NumericLessThan equal", `{"NumericLessThan": {"s3:max-keys": 10}}`, ctx{"s3:max-keys": {"10"}}, false},
		{"NumericLessThanEquals", `{"NumericLessThanEquals": {"s3:max-keys": 10}}`, ctx{"s3:max-keys": {"10"}}, true},
		{"NumericGreaterThan", `{"NumericGreaterThan": {"s3:max-keys": "-1"}}`, ctx{"s3:max-keys": {"0"}}, true},
		{"NumericGreaterThanEquals", `{"NumericGreaterThanEquals": {"s3:max-keys": 1e2}}`, ctx{"s3:max-keys": {"99"}}, false},
		{"Numeric request not a number", `{"NumericLessThan": {"s3:max-keys": 10}}`, ctx{"s3:max-keys": {"NaN"}}, false},

		// Date
		{"DateLessThan ISO", `{"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}`, ctx{"aws:CurrentTime": {"2019-12-31T23:59:59Z"}}, true},
		{"DateLessThan epoch vs ISO", `{"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}`, ctx{"aws:CurrentTime": {"1577836800"}}, false},
		{"DateEquals zone offsets", `{"DateEquals": {"aws:CurrentTime": "2020-01-01T02:00:00+02:00"}}`, ctx{"aws:CurrentTime": {"2020-01-01T00:00:00Z"}}, true},
		{"DateEquals epoch policy", `{"DateEquals": {"aws:EpochTime": 1577836800}}`, ctx{"aws:EpochTime": {"2020-01-01"}}, true},
		{"DateNotEquals", `{"DateNotEquals": {"aws:CurrentTime": "2020-01-01"}}`, ctx{"aws:CurrentTime": {"2020-01-02"}}, true},
		{"DateLessThanEquals", `{"DateLessThanEquals": {"aws:CurrentTime": "2020-01-01"}}`, ctx{"aws:CurrentTime": {"2020-01-01T00:00:00Z"}}, true},
		{"DateGreaterThan", `{"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}}`, ctx{"aws:TokenIssueTime": {"2020-06-01T00:00:00.5Z"}}, true},
		{"DateGreaterThanEquals", `{"DateGreaterThanEquals": {"aws:CurrentTime": "20200101T000000Z"}}`, ctx{"aws:CurrentTime": {"2019-01-01T00:00:00Z"}}, false},

		// Bool, Binary
		{"Bool true", `{"Bool": {"aws:SecureTransport": "true"}}`, ctx{"aws:SecureTransport": {"true"}}, true},
		{"Bool JSON false", `{"Bool": {"aws:SecureTransport": false}}`, ctx{"aws:SecureTransport": {"true"}}, false},
		{"Bool missing", `{"Bool": {"aws:SecureTransport": false}}`, nil, false},
		{"BinaryEquals", `{"BinaryEquals": {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}`, ctx{"key": {"QmluYXJ5VmFsdWVJbkJhc2U2NA"}}, true},
		{"BinaryEquals differs", `{"BinaryEquals": {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}`, ctx{"key": {"AAAA"}}, false},

		// IP
		{"IpAddress v4", `{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, ctx{"aws:SourceIp": {"203.0.113.255"}}, true},
		{"IpAddress bare address", `{"IpAddress": {"aws:SourceIp": "203.0.113.7"}}`, ctx{"aws:SourceIp": {"203.0.113.7"}}, true},
		{"IpAddress v6", `{"IpAddress": {"aws:SourceIp": "2001:DB8:1234:5678::/64"}}`, ctx{"aws:SourceIp": {"2001:db8:1234:5678::42"}}, true},
		{"IpAddress v6 vs v4 block", `{"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}`, ctx{"aws:SourceIp": {"2001:db8::1"}}, false},
		{"IpAddress not an IP", `{"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}`, ctx{"aws:SourceIp": {"localhost"}}, false},
		{"NotIpAddress outside", `{"NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}`, ctx{"aws:SourceIp": {"198.51.100.1"}}, true},
		{"NotIpAddress inside", `{"NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}`, ctx{"aws:SourceIp": {"2001:db8::1"}}, false},
		{"NotIpAddress missing", `{"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, nil, true},

		// ARN
		{"ArnLike segment-aware", `{"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:topic-*"}}`, ctx{"aws:SourceArn": {"arn:aws:sns:us-east-1:123456789012:topic-a"}}, true},
		{"ArnLike * stays in its part", `{"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:topic-a"}}`, ctx{"aws:SourceArn": {"arn:aws:sns:us-east-1:123456789012:topic-a"}}, false},
		{"ArnEquals takes wildcards too", `{"ArnEquals": {"aws:SourceArn": "arn:aws:iam::*:role/*"}}`, ctx{"aws:SourceArn": {"arn:aws:iam::123456789012:role/path/r"}}, true},
		{"ArnLike request not an ARN", `{"ArnLike": {"aws:SourceArn": "arn:*:*:*:*:*"}}`, ctx{"aws:SourceArn": {"not-an-arn"}}, false},
		{"ArnNotEquals", `{"ArnNotEquals": {"aws:SourceArn": "arn:aws:iam::123456789012:role/a"}}`, ctx{"aws:SourceArn": {"arn:aws:iam::123456789012:role/b"}}, true},
		{"ArnNotLike matching", `{"ArnNotLike": {"aws:SourceArn": "arn:aws:iam::123456789012:role/*"}}`, ctx{"aws:SourceArn": {"arn:aws:iam::123456789012:role/b"}}, false},
		{"ArnNotLike missing", `{"ArnNotLike": {"aws:SourceArn": "arn:aws:iam::123456789012:role/*"}}`, nil, true},

		// Null
		{"Null true: missing", `{"Null": {"aws:TokenIssueTime": "true"}}`, nil, true},
		{"Null true: present", `{"Null": {"aws:TokenIssueTime": "true"}}`, ctx{"aws:TokenIssueTime": {"x"}}, false},
		{"Null false: present", `{"Null": {"aws:TokenIssueTime": false}}`, ctx{"aws:TokenIssueTime": {"x"}}, true},
		{"Null false: empty counts as missing", `{"Null": {"aws:TagKeys": false}}`, ctx{"aws:TagKeys": {}}, false},

		// IfExists
		{"IfExists missing", `{"StringEqualsIfExists": {"ec2:InstanceType": "t3.micro"}}`, nil, true},
		{"IfExists present matching", `{"StringEqualsIfExists": {"ec2:InstanceType": "t3.micro"}}`, ctx{"ec2:InstanceType": {"t3.micro"}}, true},
		{"IfExists present other", `{"StringEqualsIfExists": {"ec2:InstanceType": "t3.micro"}}`, ctx{"ec2:InstanceType": {"m5.large"}}, false},
		{"NumericLessThanIfExists missing", `{"NumericLessThanIfExists": {"s3:max-keys": 10}}`, nil, true},
		{"IpAddressIfExists missing", `{"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}`, nil, true},
		{"ArnLikeIfExists present", `{"ArnLikeIfExists": {"aws:SourceArn": "arn:aws:s3:::b"}}`, ctx{"aws:SourceArn": {"arn:aws:s3:::c"}}, false},
		{"DateLessThanIfExists missing", `{"DateLessThanIfExists": {"aws:CurrentTime": "2020-01-01"}}`, nil, true},
		{"BoolIfExists missing", `{"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}`, nil, true},

		// Set operators
		{"ForAllValues all in set", `{"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}}`, ctx{"aws:TagKeys": {"env", "team"}}, true},
		{"ForAllValues one outside", `{"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}}`, ctx{"aws:TagKeys": {"env", "owner"}}, false},
		{"ForAllValues missing", `{"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}`, nil, true},
		{"ForAllValues empty", `{"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}`, ctx{"aws:TagKeys": {}}, true},
		{"ForAllValues:StringNotEquals none in set", `{"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}`, ctx{"aws:TagKeys": {"env", "team"}}, true},
		{"ForAllValues:StringNotEquals one in set", `{"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}`, ctx{"aws:TagKeys": {"env", "secret"}}, false},
		// The IAM guide's table for ForAllValues:StringNotLike {"aws:TagKeys": "key1*"}.
		{"guide: key1:legal", `{"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}`, ctx{"aws:TagKeys": {"key1:legal"}}, false},
		{"guide: key1:hr, key1:personnel", `{"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}`, ctx{"aws:TagKeys": {"key1:hr", "key1:personnel"}}, false},
		{"guide: key2:audit", `{"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}`, ctx{"aws:TagKeys": {"key2:audit"}}, true},
		{"guide: no aws:TagKeys", `{"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}`, nil, true},
		{"ForAnyValue one in set", `{"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}`, ctx{"aws:TagKeys": {"team", "env"}}, true},
		{"ForAnyValue none in set", `{"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}`, ctx{"aws:TagKeys": {"team"}}, false},
		{"ForAnyValue missing", `{"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}`, nil, false},
		{"ForAnyValue empty", `{"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}}`, ctx{"aws:TagKeys": {}}, false},
		{"ForAnyValue IfExists missing is still false", `{"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": ["env"]}}`, nil, false},
		{"ForAnyValue:StringNotLike one outside", `{"ForAnyValue:StringNotLike": {"aws:TagKeys": ["Owner:*"]}}`, ctx{"aws:TagKeys": {"Owner:x", "owner:y"}}, true},
		{"ForAnyValue:StringNotLike all inside", `{"ForAnyValue:StringNotLike": {"aws:TagKeys": ["Owner:*"]}}`, ctx{"aws:TagKeys": {"Owner:x"}}, false},
		{"ForAllValues:StringLike", `{"ForAllValues:StringLike": {"aws:TagKeys": ["team-*"]}}`, ctx{"aws:TagKeys": {"team-a", "team-b"}}, true},
		{"ForAnyValue:NumericGreaterThan", `{"ForAnyValue:NumericGreaterThan": {"k": 5}}`, ctx{"k": {"1", "6"}}, true},
		{"ForAllValues:IpAddress", `{"ForAllValues:IpAddress": {"k": "10.0.0.0/8"}}`, ctx{"k": {"10.1.1.1", "11.0.0.1"}}, false},
		{"single-valued operator on a multi-valued key: any value", `{"StringEquals": {"k": "b"}}`, ctx{"k": {"a", "b"}}, true},
		{"negated operator on a multi-valued key: no value may match", `{"StringNotEquals": {"k": "b"}}`, ctx{"k": {"a", "b"}}, false},

		// Blocks: operators AND, keys AND.
		{"operators are AND'd", `{"StringEquals": {"a": "1"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}`, ctx{"a": {"1"}, "aws:SourceIp": {"11.0.0.1"}}, false},
		{"operators are AND'd: both hold", `{"StringEquals": {"a": "1"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}`, ctx{"a": {"1"}, "aws:SourceIp": {"10.0.0.1"}}, true},
		{"keys are AND'd", `{"StringEquals": {"a": "1", "b": "2"}}`, ctx{"a": {"1"}, "b": {"3"}}, false},
		{"keys are AND'd: both hold", `{"StringEquals": {"a": "1", "b": ["3", "2"]}}`, ctx{"a": {"1"}, "b": {"2"}}, true},
		{"empty block holds", `{}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := conditionPolicy(t, `"2012-10-17"`, tt.condition)
			d := p.Evaluate(Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: tt.ctx})
			assert.Equal(t, tt.want, d.Allowed(), d.Explain())
		})
	}
}

func TestPolicyVariables(t *testing.T) {
	t.Parallel()
	const alice = "arn:aws:iam::123456789012:user/division/alice"
	tests := []struct {
		name      string
		version   string
		resource  string
		condition string
		principal string
		ctx       ctx
		req       string // request resource
		want      bool
	}{
		{name: "username in Resource", resource: "arn:aws:s3:::home/${aws:username}/*",
			ctx: ctx{"aws:username": {"alice"}}, req: "arn:aws:s3:::home/alice/notes", want: true},
		{name: "username of another user", resource: "arn:aws:s3:::home/${aws:username}/*",
			ctx: ctx{"aws:username": {"bob"}}, req: "arn:aws:s3:::home/alice/notes", want: false},
		{name: "username derived from the caller's ARN", resource: "arn:aws:s3:::home/${aws:username}/*",
			principal: alice, req: "arn:aws:s3:::home/alice/notes", want: true},
		{name: "missing variable matches nothing", resource: "arn:aws:s3:::home/${aws:username}/*",
			req: "arn:aws:s3:::home//notes", want: false},
		{name: "missing variable takes its default", resource: "arn:aws:s3:::home/${aws:PrincipalTag/team, 'shared'}/*",
			req: "arn:aws:s3:::home/shared/notes", want: true},
		{name: "variable key is case-insensitive", resource: "arn:aws:s3:::home/${AWS:USERID}/*",
			ctx: ctx{"aws:userid": {"AIDAEXAMPLE"}}, req: "arn:aws:s3:::home/AIDAEXAMPLE/x", want: true},
		{name: "userid with a colon stays in the resource part", resource: "arn:aws:s3:::home/${aws:userid}/*",
			ctx: ctx{"aws:userid": {"AROAEXAMPLE:session"}}, req: "arn:aws:s3:::home/AROAEXAMPLE:session/x", want: true},
		{name: "a variable's * is literal", resource: "arn:aws:s3:::home/${aws:username}",
			ctx: ctx{"aws:username": {"*"}}, req: "arn:aws:s3:::home/alice", want: false},
		{name: "multi-valued key is not a variable", resource: "arn:aws:s3:::home/${aws:username}",
			ctx: ctx{"aws:username": {"alice", "bob"}}, req: "arn:aws:s3:::home/alice", want: false},
		{name: "${*} is a literal star", resource: "arn:aws:s3:::b/literal${*}star",
			req: "arn:aws:s3:::b/literal*star", want: true},
		{name: "${*} does not act as a wildcard", resource: "arn:aws:s3:::b/literal${*}star",
			req: "arn:aws:s3:::b/literalXstar", want: false},
		{name: "${?} and ${$}", resource: "arn:aws:s3:::b/${?}${$}", req: "arn:aws:s3:::b/?$", want: true},
		{name: "2008 version leaves variables literal", version: `"2008-10-17"`, resource: "arn:aws:s3:::home/${aws:username}",
			ctx: ctx{"aws:username": {"alice"}}, req: "arn:aws:s3:::home/${aws:username}", want: true},
		{name: "no version leaves variables literal", version: "none", resource: "arn:aws:s3:::home/${aws:username}",
			ctx: ctx{"aws:username": {"alice"}}, req: "arn:aws:s3:::home/alice", want: false},
		{name: "PrincipalTag in StringEquals", resource: "*",
			condition: `{"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}`,
			ctx:       ctx{"aws:PrincipalTag/team": {"search"}, "aws:ResourceTag/team": {"search"}}, req: "arn:aws:s3:::b", want: true},
		{name: "PrincipalTag differs", resource: "*",
			condition: `{"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}`,
			ctx:       ctx{"aws:PrincipalTag/team": {"search"}, "aws:ResourceTag/team": {"ingest"}}, req: "arn:aws:s3:::b", want: false},
		{name: "PrincipalTag missing: value cannot match", resource: "*",
			condition: `{"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}`,
			ctx:       ctx{"aws:ResourceTag/team": {""}}, req: "arn:aws:s3:::b", want: false},
		{name: "StringLike with variable and wildcard", resource: "*",
			condition: `{"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}`,
			ctx:       ctx{"aws:username": {"alice"}, "s3:prefix": {"home/alice/docs"}}, req: "arn:aws:s3:::b", want: true},
		{name: "ArnEquals with PrincipalAccount derived from the caller", resource: "*", principal: alice,
			condition: `{"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:${aws:PrincipalAccount}:*"}}`,
			ctx:       ctx{"aws:SourceArn": {"arn:aws:sns:us-east-1:123456789012:t"}}, req: "arn:aws:s3:::b", want: true},
		{name: "SourceIp variable", resource: "arn:aws:s3:::ips/${aws:SourceIp}",
			ctx: ctx{"aws:SourceIp": {"10.0.0.1"}}, req: "arn:aws:s3:::ips/10.0.0.1", want: true},
		{name: "no substitution in numeric values", resource: "*",
			condition: `{"StringEquals": {"k": "${aws:username}"}, "NumericEquals": {"n": 1}}`,
			ctx:       ctx{"aws:username": {"alice"}, "k": {"alice"}, "n": {"1"}}, req: "arn:aws:s3:::b", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			version := `"Version": "2012-10-17",`
			switch tt.version {
			case "none":
				version = ""
			case "":
			default:
				version = `"Version": ` + tt.version + `,`
			}
			st := map[string]any{"Effect": "Allow", "Action": "s3:*", "Resource": tt.resource}
			if tt.condition != "" {
				st["Condition"] = json.RawMessage(tt.condition)
			}
			body, err := json.Marshal(st)
			require.NoError(t, err)
			p := mustParse(t, `{`+version+`"Statement": [`+string(body)+`]}`)
			d := p.Evaluate(Request{Principal: tt.principal, Action: "s3:GetObject", Resource: tt.req, Context: tt.ctx})
			assert.Equal(t, tt.want, d.Allowed(), d.Explain())
		})
	}
}

// Variables are not substituted in Action: AWS does not allow them there.
func TestNoVariablesInAction(t *testing.T) {
	t.Parallel()
	p := mustParse(t, `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:${aws:username}", "Resource": "*"}}`)
	req := Request{Action: "s3:alice", Resource: "arn:aws:s3:::b", Context: ctx{"aws:username": {"alice"}}}
	assert.False(t, p.Evaluate(req).Allowed())
	req.Action = "s3:${aws:username}"
	assert.True(t, p.Evaluate(req).Allowed())
}
