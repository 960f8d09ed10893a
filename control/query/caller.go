package query

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// How a caller proved who it is.
const (
	ViaOIDC   = "oidc"
	ViaAPIKey = "api_key"
)

// Caller is an authenticated caller.
type Caller struct {
	Subject string // the OIDC subject claim, or "api_key:NAME"
	Via     string // ViaOIDC or ViaAPIKey
	Role    string // empty when no mapping matched and there is no fallback role
	// Key is the role-mapping key built from the token's claim (OIDC only).
	Key     string
	Matched bool // the table matched Key (false: the fallback role applied)
}

// authError is a 401: Reason is the metric label, Message says what to fix.
type authError struct {
	Reason  string
	Message string
}

func (e *authError) Error() string { return e.Reason + ": " + e.Message }

const (
	reasonNoCredentials   = "no_credentials"
	reasonInvalidToken    = "invalid_token"
	reasonInvalidAPIKey   = "invalid_api_key"
	reasonOIDCUnavailable = "oidc_unavailable"
)

const keyHashPrefix = "sha256:"

// HashAPIKey returns what api_keys[].hash holds for key: "sha256:" and the hex SHA-256.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return keyHashPrefix + hex.EncodeToString(sum[:])
}

func parseKeyHash(h string) ([sha256.Size]byte, error) {
	var out [sha256.Size]byte
	hexPart, ok := strings.CutPrefix(h, keyHashPrefix)
	if !ok {
		return out, fmt.Errorf("want %q and 64 hex digits (printf %%s \"$KEY\" | sha256sum), got %d characters without that prefix", keyHashPrefix, len(h))
	}
	b, err := hex.DecodeString(strings.ToLower(hexPart))
	if err != nil || len(b) != sha256.Size {
		return out, fmt.Errorf("want %q and 64 hex digits", keyHashPrefix)
	}
	copy(out[:], b)
	return out, nil
}

type apiKey struct {
	name string
	role string
	sum  [sha256.Size]byte
}

// authenticator checks API keys and OIDC bearer tokens.
type authenticator struct {
	keys    []apiKey
	oidc    *oidcVerifier // nil when no issuer is configured
	mapping RoleMapping
}

func newAuthenticator(cfg Config, client *http.Client, now func() time.Time) (*authenticator, error) {
	a := &authenticator{mapping: cfg.RoleMapping}
	for i, k := range cfg.APIKeys {
		sum, err := parseKeyHash(k.Hash)
		if err != nil {
			return nil, fmt.Errorf("api_keys[%d].hash: %w", i, err)
		}
		a.keys = append(a.keys, apiKey{name: k.Name, role: k.Role, sum: sum})
	}
	if cfg.OIDC.Issuer != "" {
		a.oidc = &oidcVerifier{cfg: cfg.OIDC, client: client, now: now}
	}
	return a, nil
}

// authenticate reads the caller's credentials: "Authorization: Bearer JWT" is an OIDC
// token; "Authorization: ApiKey KEY", "X-API-Key: KEY" or a bearer value that is not a JWT
// is an API key.
func (a *authenticator) authenticate(r *http.Request) (Caller, *authError) {
	var bearer, key string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, val, _ := strings.Cut(strings.TrimSpace(h), " ")
		val = strings.TrimSpace(val)
		switch strings.ToLower(scheme) {
		case "bearer":
			if strings.Count(val, ".") == 2 {
				bearer = val
			} else {
				key = val
			}
		case "apikey":
			key = val
		default:
			return Caller{}, &authError{reasonNoCredentials, "Authorization scheme " + scheme + " is not accepted: send Bearer TOKEN or ApiKey KEY"}
		}
	} else if k := r.Header.Get("X-API-Key"); k != "" {
		key = strings.TrimSpace(k)
	}
	switch {
	case key != "":
		return a.apiKey(key)
	case bearer != "":
		return a.bearer(r.Context(), bearer)
	}
	return Caller{}, &authError{reasonNoCredentials, "send an OIDC token (Authorization: Bearer TOKEN) or an API key (Authorization: ApiKey KEY)"}
}

// apiKey compares the key's hash with every configured hash in constant time, all of them
// whatever matched, so neither timing nor position tells anything.
func (a *authenticator) apiKey(key string) (Caller, *authError) {
	sum := sha256.Sum256([]byte(key))
	found := -1
	for i := range a.keys {
		if subtle.ConstantTimeCompare(sum[:], a.keys[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Caller{}, &authError{reasonInvalidAPIKey, "the API key is not one of query.api_keys"}
	}
	k := a.keys[found]
	return Caller{Subject: "api_key:" + k.name, Via: ViaAPIKey, Role: k.role, Matched: true}, nil
}

func (a *authenticator) bearer(ctx context.Context, raw string) (Caller, *authError) {
	if a.oidc == nil {
		return Caller{}, &authError{reasonInvalidToken, "bearer tokens are not accepted: query.oidc.issuer is not set"}
	}
	claims, aerr := a.oidc.verify(ctx, raw)
	if aerr != nil {
		return Caller{}, aerr
	}
	c := Caller{Via: ViaOIDC}
	if vals := ClaimValues(claims, a.oidc.cfg.SubjectClaim); len(vals) > 0 {
		c.Subject = vals[0]
	}
	c.Role, c.Key, c.Matched = a.mapping.Role(ClaimValues(claims, a.mapping.Claim))
	return c, nil
}

// discoveryRetry spaces out discovery attempts while the issuer cannot be reached, so a
// burst of callers does not become a burst against it.
const discoveryRetry = 10 * time.Second

// oidcVerifier discovers the issuer on first use and verifies tokens. Keys come from the
// issuer's JWKS through go-oidc's RemoteKeySet, which refetches the set when a token names a
// key it does not hold, so the issuer can rotate keys while weir runs.
type oidcVerifier struct {
	cfg    OIDCConfig
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex // guards v, lastErr, lastTry; held during discovery
	v       *oidc.IDTokenVerifier
	lastErr error
	lastTry time.Time
}

func (o *oidcVerifier) verifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.v != nil {
		return o.v, nil
	}
	if o.lastErr != nil && o.now().Sub(o.lastTry) < discoveryRetry {
		return nil, o.lastErr
	}
	o.lastTry = o.now()
	// The provider keeps this context's client for its JWKS fetches; the request's
	// cancellation must not end them.
	pctx := oidc.ClientContext(context.WithoutCancel(ctx), o.client)
	p, err := oidc.NewProvider(pctx, o.cfg.Issuer)
	if err != nil {
		o.lastErr = fmt.Errorf("oidc discovery at %s: %w", o.cfg.Issuer, err)
		return nil, o.lastErr
	}
	// Audience and expiry are checked below: several client ids, and clock skew.
	o.v = p.Verifier(&oidc.Config{SkipClientIDCheck: true, SkipExpiryCheck: true})
	o.lastErr = nil
	return o.v, nil
}

// Discover runs discovery now, so that a wrong issuer shows at start-up.
func (o *oidcVerifier) Discover(ctx context.Context) error {
	_, err := o.verifier(ctx)
	return err
}

func (o *oidcVerifier) verify(ctx context.Context, raw string) (map[string]any, *authError) {
	v, err := o.verifier(ctx)
	if err != nil {
		return nil, &authError{reasonOIDCUnavailable, err.Error()}
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, &authError{reasonInvalidToken, strings.TrimPrefix(err.Error(), "oidc: ")}
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, &authError{reasonInvalidToken, "claims: " + err.Error()}
	}
	now, skew := o.now(), o.cfg.ClockSkew
	if tok.Expiry.IsZero() {
		return nil, &authError{reasonInvalidToken, "the token has no exp claim"}
	}
	if now.After(tok.Expiry.Add(skew)) {
		return nil, &authError{reasonInvalidToken, fmt.Sprintf("the token expired at %s (clock skew allowed: %s)", tok.Expiry.UTC().Format(time.RFC3339), skew)}
	}
	if nbf, ok := numericDate(claims["nbf"]); ok && now.Add(skew).Before(nbf) {
		return nil, &authError{reasonInvalidToken, fmt.Sprintf("the token is not valid before %s", nbf.UTC().Format(time.RFC3339))}
	}
	if !tok.IssuedAt.IsZero() && now.Add(skew).Before(tok.IssuedAt) {
		return nil, &authError{reasonInvalidToken, fmt.Sprintf("the token is issued in the future (%s)", tok.IssuedAt.UTC().Format(time.RFC3339))}
	}
	audOK := false
	for _, a := range tok.Audience {
		audOK = audOK || slices.Contains(o.cfg.ClientIDs, a)
	}
	// Cognito access tokens carry the app client in client_id and have no aud.
	if cid, ok := claims["client_id"].(string); ok && slices.Contains(o.cfg.ClientIDs, cid) {
		audOK = true
	}
	if !audOK {
		return nil, &authError{reasonInvalidToken, fmt.Sprintf("the token is for audience %q, not one of query.oidc.client_ids", tok.Audience)}
	}
	return claims, nil
}

func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}
