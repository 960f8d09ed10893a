package sigv4check_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/internal/sigv4check"
	"github.com/weir-ingest/weir/internal/sigv4suite"
)

// TestVerifierAWSSuite proves the verifier against AWS's own vectors,
// including the normalized cases the signer's test skips: every signed
// request must verify, and the canonical request must match the suite's.
func TestVerifierAWSSuite(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "..", "shared", "sigv4-suite", "v4")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("AWS SigV4 test suite not found at %s: %v", dir, err)
	}
	cases, err := sigv4suite.Load(dir)
	require.NoError(t, err)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			req, body, err := sigv4suite.ParseRequest(tc.SignedRequest)
			require.NoError(t, err)
			v := sigv4check.Verifier{
				Region:    tc.Context.Region,
				Service:   tc.Context.Service,
				Normalize: tc.Context.Normalize,
				// The one case that adds the token after signing.
				AllowUnsignedToken: tc.Context.OmitSessionToken,
				SecretFor: func(id string) (string, string, bool) {
					creds := tc.Context.Credentials
					return creds.SecretAccessKey, req.Header.Get("X-Amz-Security-Token"), id == creds.AccessKeyID
				},
			}
			res, err := v.Verify(req, body)
			require.NoError(t, err)
			assert.Equal(t, tc.CanonicalRequest, res.CanonicalRequest)
			assert.Equal(t, tc.StringToSign, res.StringToSign)
		})
	}
}

func TestVerifierRejects(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "..", "shared", "sigv4-suite", "v4", "post-x-www-form-urlencoded")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("AWS SigV4 test suite not found: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "header-signed-request.txt"))
	require.NoError(t, err)
	good := sigv4check.Verifier{
		Region: "us-east-1", Service: "service", Normalize: true, RequireContentSHA256: true,
		SecretFor: func(string) (string, string, bool) { return "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", true },
	}
	tests := []struct {
		name   string
		mutate func(v *sigv4check.Verifier, body *[]byte)
	}{
		{"tampered body", func(_ *sigv4check.Verifier, body *[]byte) { *body = []byte("Param1=value2") }},
		{"wrong secret", func(v *sigv4check.Verifier, _ *[]byte) {
			v.SecretFor = func(string) (string, string, bool) { return "other", "", true }
		}},
		{"wrong region", func(v *sigv4check.Verifier, _ *[]byte) { v.Region = "eu-west-1" }},
		{"wrong service", func(v *sigv4check.Verifier, _ *[]byte) { v.Service = "es" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := good
			req, body, err := sigv4suite.ParseRequest(raw)
			require.NoError(t, err)
			_, err = v.Verify(req, body)
			require.NoError(t, err, "the unmodified request must verify")
			tc.mutate(&v, &body)
			_, err = v.Verify(req, body)
			assert.Error(t, err)
		})
	}
}
