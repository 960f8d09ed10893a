package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestResourceMatching(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, resource string
		want              bool
	}{
		{"*", "arn:aws:es:us-east-1:123456789012:domain/d", true},
		{"*", "*", true},
		{"arn:aws:es:us-east-1:123456789012:domain/d/*", "arn:aws:es:us-east-1:123456789012:domain/d/", true},
		{"arn:aws:es:us-east-1:123456789012:domain/d/*", "arn:aws:es:us-east-1:123456789012:domain/d", false},
		{"arn:aws:es:us-east-1:123456789012:domain/d/*", "arn:aws:es:us-east-1:123456789012:domain/d/a/b/c", true},
		{"arn:aws:es:us-east-1:123456789012:domain/d*", "arn:aws:es:us-east-1:123456789012:domain/d2/x", true},
		{"arn:aws:es:*:123456789012:domain/d", "arn:aws:es:eu-west-1:123456789012:domain/d", true},
		// A wildcard in one part does not reach into the next; a plain glob would match these.
		{"arn:aws:*:us-east-1:123456789012:domain/d", "arn:aws:es:extra:us-east-1:123456789012:domain/d", false},
		{"arn:aws:es:*:*:domain/d", "arn:aws:es:us-east-1:123456789012:x:domain/d", false},
		{"arn:aws:es:us-*:123456789012:domain/d", "arn:aws:es:us-east-1:123456789012:domain/d", true},
		{"arn:aws:es:*:*:*", "arn:aws:es:us-east-1:123456789012:domain/d/x", true},
		{"arn:aws:es:us-?ast-1:*:domain/d", "arn:aws:es:us-east-1:123456789012:domain/d", true},
		{"arn:aws:es:us-?ast-1:*:domain/d", "arn:aws:es:us-eeast-1:123456789012:domain/d", false},
		{"arn:aws:logs:*:*:log-group:/weir/*", "arn:aws:logs:us-east-1:123456789012:log-group:/weir/x:log-stream:y", true},
		{"arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b", true},
		{"arn:aws:s3:::bucket/*", "arn:aws:s3:::Bucket/a", false},
		{"arn:aws:s3:::bucket/*", "bucket/a", false},
		{"arn:aws:es:us-east-1:123456789012:domain/d", "arn:aws:es:us-east-1:123456789012:domain/d", true},
		{"arn:aws:es:us-east-1:123456789012:domain/d", "arn:aws:es:us-east-1:123456789012:domain/D", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.resource, func(t *testing.T) {
			t.Parallel()
			p := mustParse(t, `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "`+tt.pattern+`"}}`)
			assert.Equal(t, tt.want, p.Evaluate(Request{Action: "es:ESHttpGet", Resource: tt.resource}).Allowed())
		})
	}
}

func TestActionMatching(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, action string
		want            bool
	}{
		{"*", "es:ESHttpGet", true},
		{"es:*", "es:ESHttpGet", true},
		{"ES:eshttpget", "es:ESHttpGet", true},
		{"es:ESHttp*", "ES:ESHTTPDELETE", true},
		{"es:ESHttp?et", "es:ESHttpGet", true},
		{"es:ESHttp?et", "es:ESHttpGett", false},
		{"es:ESHttpGet", "es:ESHttpGetX", false},
		{"es:*Get", "es:ESHttpGet", true},
		{"es:*", "aoss:APIAccessAll", false},
		{"s3:Get*", "s3:getobject", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.action, func(t *testing.T) {
			t.Parallel()
			p := mustParse(t, `{"Statement": {"Effect": "Allow", "Action": "`+tt.pattern+`", "Resource": "*"}}`)
			assert.Equal(t, tt.want, p.Evaluate(Request{Action: tt.action, Resource: "*"}).Allowed())
		})
	}
}

// Hostile patterns must not make matching exponential.
func TestGlobIsNotExponential(t *testing.T) {
	t.Parallel()
	pattern := "arn:aws:s3:::" + strings.Repeat("*a", 200) + "b"
	p := mustParse(t, `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "`+pattern+`"}}`)
	start := time.Now()
	assert.False(t, p.Evaluate(Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::" + strings.Repeat("a", 5000)}).Allowed())
	assert.Less(t, time.Since(start), 5*time.Second)
}
