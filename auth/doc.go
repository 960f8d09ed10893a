// Package auth holds weir's AWS identity and request signing: credentials
// from aws-sdk-go-v2 providers behind one CredentialsCache per identity, and
// an http.RoundTripper that signs OpenSearch requests with SigV4.
//
// The 403 explainer lives in auth/explain; the independent SigV4 verifier the
// tests use lives in internal/sigv4check.
package auth
