package query

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/control/query/querytest"
)

func TestHashAPIKey(t *testing.T) {
	t.Parallel()
	// printf %s 'weir_test_key' | sha256sum
	h := HashAPIKey("weir_test_key")
	assert.Equal(t, "sha256:51be6a8f46dfbc2611f404bbb900788cea7c27ccbd7cca2300de565a5f7b2300", h)
	sum, err := parseKeyHash(h)
	require.NoError(t, err)
	upper, err := parseKeyHash("sha256:" + strings.ToUpper(h[7:]))
	require.NoError(t, err)
	assert.Equal(t, sum, upper)
	for _, bad := range []string{"", "f1b8", "sha256:xyz", "sha256:abcd", "md5:" + h[7:]} {
		_, err := parseKeyHash(bad)
		assert.Error(t, err, bad)
	}
}

func TestAuthenticateAPIKeys(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.APIKeys = []APIKey{
		{Name: "ci", Hash: HashAPIKey("key-ci"), Role: "analyst"},
		{Name: "ops", Hash: HashAPIKey("key-ops"), Role: "admin"},
	}
	a, err := newAuthenticator(cfg, nil, time.Now)
	require.NoError(t, err)
	tests := []struct {
		header, value string
		subject, role string
		reason        string
	}{
		{"Authorization", "ApiKey key-ci", "api_key:ci", "analyst", ""},
		{"Authorization", "Bearer key-ops", "api_key:ops", "admin", ""},
		{"X-API-Key", "key-ops", "api_key:ops", "admin", ""},
		{"Authorization", "ApiKey key-nope", "", "", reasonInvalidAPIKey},
		{"Authorization", "Basic dTpw", "", "", reasonNoCredentials},
		{"", "", "", "", reasonNoCredentials},
		{"Authorization", "Bearer a.b.c", "", "", reasonInvalidToken}, // a JWT, and no issuer
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/v1/query/x/_search", nil)
		if tc.header != "" {
			r.Header.Set(tc.header, tc.value)
		}
		c, aerr := a.authenticate(r)
		if tc.reason != "" {
			require.NotNil(t, aerr, tc.value)
			assert.Equal(t, tc.reason, aerr.Reason, tc.value)
			continue
		}
		require.Nil(t, aerr, tc.value)
		assert.Equal(t, tc.subject, c.Subject)
		assert.Equal(t, tc.role, c.Role)
		assert.Equal(t, ViaAPIKey, c.Via)
	}
}

func TestOIDCVerification(t *testing.T) {
	t.Parallel()
	iss := querytest.NewIssuer(t)
	now := time.Now()
	cfg := DefaultConfig()
	cfg.OIDC = OIDCConfig{Issuer: iss.URL, ClientIDs: []string{"app-1", "app-2"}, ClockSkew: time.Minute, SubjectClaim: "email"}
	cfg.RoleMapping = RoleMapping{Claim: "custom:groups", MultiValue: MultiValueSortedJoin,
		Table: map[string]string{"analysts,readers": "analyst"}}
	a, err := newAuthenticator(cfg, &http.Client{Timeout: 5 * time.Second}, func() time.Time { return now })
	require.NoError(t, err)
	auth := func(tok string) (Caller, *authError) {
		r := httptest.NewRequest("GET", "/v1/query/x/_search", nil).WithContext(context.Background())
		r.Header.Set("Authorization", "Bearer "+tok)
		return a.authenticate(r)
	}

	c, aerr := auth(iss.Token(t, map[string]any{"aud": "app-2", "sub": "u1", "email": "ana@example.com", "custom:groups": "readers,analysts"}))
	require.Nil(t, aerr)
	assert.Equal(t, Caller{Subject: "ana@example.com", Via: ViaOIDC, Role: "analyst", Key: "analysts,readers", Matched: true}, c)

	// A Cognito access token: no aud, the app client in client_id.
	c, aerr = auth(iss.Token(t, map[string]any{"client_id": "app-1", "sub": "u2", "custom:groups": []any{"x"}}))
	require.Nil(t, aerr)
	assert.Equal(t, "", c.Role)
	assert.Equal(t, "x", c.Key)

	tests := []struct {
		name   string
		token  string
		reason string
		msg    string
	}{
		{"expired", iss.Token(t, map[string]any{"aud": "app-1", "exp": now.Add(-2 * time.Minute)}), reasonInvalidToken, "expired"},
		{"expired within skew", iss.Token(t, map[string]any{"aud": "app-1", "exp": now.Add(-30 * time.Second)}), "", ""},
		{"not yet valid", iss.Token(t, map[string]any{"aud": "app-1", "nbf": now.Add(5 * time.Minute)}), reasonInvalidToken, "not valid before"},
		{"issued in the future", iss.Token(t, map[string]any{"aud": "app-1", "iat": now.Add(5 * time.Minute)}), reasonInvalidToken, "future"},
		{"no exp", iss.Token(t, map[string]any{"aud": "app-1", "exp": nil}), reasonInvalidToken, ""},
		{"wrong audience", iss.Token(t, map[string]any{"aud": "other"}), reasonInvalidToken, "audience"},
		{"wrong issuer", iss.Token(t, map[string]any{"aud": "app-1", "iss": "https://evil.example"}), reasonInvalidToken, "issued by a different provider"},
		{"forged", iss.Forge(t, map[string]any{"aud": "app-1"}), reasonInvalidToken, "signature"},
		{"garbage", "a.b.c", reasonInvalidToken, ""},
	}
	for _, tc := range tests {
		_, aerr := auth(tc.token)
		if tc.reason == "" {
			assert.Nil(t, aerr, tc.name)
			continue
		}
		require.NotNil(t, aerr, tc.name)
		assert.Equal(t, tc.reason, aerr.Reason, tc.name)
		assert.Contains(t, aerr.Message, tc.msg, tc.name)
	}

	// Rotation: the new key is fetched when a token names it. The withdrawn key is refused
	// once that fetch has replaced the cached set (go-oidc swaps it in just after).
	old := iss.Token(t, map[string]any{"aud": "app-1"})
	iss.Rotate(t, false)
	_, aerr = auth(iss.Token(t, map[string]any{"aud": "app-1"}))
	assert.Nil(t, aerr)
	require.Eventually(t, func() bool {
		_, aerr := auth(old)
		return aerr != nil && aerr.Reason == reasonInvalidToken
	}, 5*time.Second, 10*time.Millisecond)
}

func TestOIDCIssuerDownIsRetriedLater(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	now := time.Now()
	clock := func() time.Time { return now }
	o := &oidcVerifier{cfg: OIDCConfig{Issuer: srv.URL, ClientIDs: []string{"a"}}, client: &http.Client{Timeout: time.Second}, now: clock}
	_, err := o.verifier(context.Background())
	require.Error(t, err)
	first := o.lastTry
	_, err = o.verifier(context.Background())
	require.Error(t, err)
	assert.Equal(t, first, o.lastTry, "no new attempt within the retry interval")
	now = now.Add(discoveryRetry)
	_, _ = o.verifier(context.Background())
	assert.NotEqual(t, first, o.lastTry)
}
