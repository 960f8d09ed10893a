// Package querytest provides an OpenID Connect issuer on loopback for tests of the query
// endpoint: discovery document, JWKS, tokens signed with go-jose, and key rotation.
package querytest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Issuer is an OIDC issuer serving /.well-known/openid-configuration and /jwks.
type Issuer struct {
	URL string

	// JWKSFetches counts requests for the key set.
	JWKSFetches atomic.Int64

	mu     sync.Mutex // guards key, kid, keys, n
	key    *rsa.PrivateKey
	kid    string
	keys   []jose.JSONWebKey // published
	n      int
	server *httptest.Server
}

// NewIssuer starts an issuer with one signing key; it stops with the test.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	i := &Issuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                i.URL,
			"jwks_uri":                              i.URL + "/jwks",
			"authorization_endpoint":                i.URL + "/authorize",
			"token_endpoint":                        i.URL + "/token",
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		i.JWKSFetches.Add(1)
		i.mu.Lock()
		set := jose.JSONWebKeySet{Keys: append([]jose.JSONWebKey(nil), i.keys...)}
		i.mu.Unlock()
		writeJSON(w, set)
	})
	i.server = httptest.NewServer(mux)
	t.Cleanup(i.server.Close)
	i.URL = i.server.URL
	i.Rotate(t, false)
	return i
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func newKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Rotate makes a new signing key with a new kid and publishes it; with keepOld the
// previous key stays published (a grace period), else it is withdrawn.
func (i *Issuer) Rotate(t testing.TB, keepOld bool) {
	t.Helper()
	k := newKey(t)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.n++
	i.key, i.kid = k, "key-"+strconv.Itoa(i.n)
	pub := jose.JSONWebKey{Key: &k.PublicKey, KeyID: i.kid, Algorithm: string(jose.RS256), Use: "sig"}
	if keepOld {
		i.keys = append(i.keys, pub)
	} else {
		i.keys = []jose.JSONWebKey{pub}
	}
}

// Token signs claims with the current key. iss, iat and exp (an hour on) are filled in
// when absent; exp may be a time.Time.
func (i *Issuer) Token(t testing.TB, claims map[string]any) string {
	t.Helper()
	i.mu.Lock()
	key, kid := i.key, i.kid
	i.mu.Unlock()
	return sign(t, key, kid, i.withDefaults(claims))
}

// Forge signs claims with a key the issuer never published, under the current kid: a
// token whose signature does not verify.
func (i *Issuer) Forge(t testing.TB, claims map[string]any) string {
	t.Helper()
	i.mu.Lock()
	kid := i.kid
	i.mu.Unlock()
	return sign(t, newKey(t), kid, i.withDefaults(claims))
}

func (i *Issuer) withDefaults(claims map[string]any) map[string]any {
	c := map[string]any{"iss": i.URL, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		if tm, ok := v.(time.Time); ok {
			v = tm.Unix()
		}
		c[k] = v
	}
	return c
}

func sign(t testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
