// Package sigv4check verifies AWS SigV4 signatures the way the receiving
// service does, from the request as it arrived. It is a second,
// independent implementation written from AWS's specification (it does not
// use the SDK signer), so tests that sign with weir and verify here check
// weir against the spec rather than the SDK against itself.
package sigv4check

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

const (
	algorithm  = "AWS4-HMAC-SHA256"
	timeFormat = "20060102T150405Z"
	dateFormat = "20060102"
)

// Verifier checks SigV4 Authorization headers.
type Verifier struct {
	// Region and Service the signature must be scoped to.
	Region, Service string
	// SecretFor returns the secret key and session token issued with an
	// access key ID.
	SecretFor func(accessKeyID string) (secret, sessionToken string, ok bool)
	// Now and MaxSkew bound X-Amz-Date; a nil Now skips the check.
	Now     func() time.Time
	MaxSkew time.Duration
	// RequireContentSHA256 demands a signed X-Amz-Content-Sha256 that matches
	// the body, as OpenSearch Serverless does.
	RequireContentSHA256 bool
	// AllowUnsignedToken accepts an X-Amz-Security-Token left out of
	// SignedHeaders, as the suite's post-sts-header-after does; weir always
	// signs it.
	AllowUnsignedToken bool
	// Normalize removes dot segments and repeated slashes from the path before
	// signing, as every AWS service but S3 does.
	Normalize bool
}

// Result is what the verifier computed, for test failure messages.
type Result struct {
	AccessKeyID      string
	SignedHeaders    []string
	CanonicalRequest string
	StringToSign     string
}

type authorization struct {
	accessKeyID, date, region, service string
	signedHeaders                      []string
	signature                          string
}

// Verify checks r, whose body (as received, still compressed) is body.
func (v Verifier) Verify(r *http.Request, body []byte) (Result, error) {
	var res Result
	az, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return res, err
	}
	res.AccessKeyID, res.SignedHeaders = az.accessKeyID, az.signedHeaders
	if az.region != v.Region || az.service != v.Service || az.date == "" {
		return res, fmt.Errorf("credential scope %s/%s/%s, want region %s service %s", az.date, az.region, az.service, v.Region, v.Service)
	}

	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse(timeFormat, amzDate)
	if err != nil {
		return res, fmt.Errorf("X-Amz-Date %q: %w", amzDate, err)
	}
	if signedAt.Format(dateFormat) != az.date {
		return res, fmt.Errorf("X-Amz-Date %s is not on the scope's date %s", amzDate, az.date)
	}
	if v.Now != nil {
		if skew := v.Now().Sub(signedAt); skew > v.MaxSkew || skew < -v.MaxSkew {
			return res, fmt.Errorf("signature expired: signed at %s, now %s", amzDate, v.Now().UTC().Format(timeFormat))
		}
	}

	signed := map[string]bool{}
	for _, h := range az.signedHeaders {
		signed[h] = true
	}
	for _, must := range []string{"host", "x-amz-date"} {
		if !signed[must] {
			return res, fmt.Errorf("%s is not signed", must)
		}
	}
	if r.Header.Get("X-Amz-Security-Token") != "" && !signed["x-amz-security-token"] && !v.AllowUnsignedToken {
		return res, errors.New("x-amz-security-token is present but not signed")
	}

	sum := sha256.Sum256(body)
	bodyHash := hex.EncodeToString(sum[:])
	payloadHash := bodyHash
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" {
		if claimed != bodyHash {
			return res, fmt.Errorf("x-amz-content-sha256 %s does not match the body's %s", claimed, bodyHash)
		}
		if !signed["x-amz-content-sha256"] {
			return res, errors.New("x-amz-content-sha256 is present but not signed")
		}
	} else if v.RequireContentSHA256 {
		return res, errors.New("x-amz-content-sha256 is missing")
	}

	secret, token, ok := v.SecretFor(az.accessKeyID)
	if !ok {
		return res, fmt.Errorf("unknown access key %s", az.accessKeyID)
	}
	if got := r.Header.Get("X-Amz-Security-Token"); got != token {
		return res, errors.New("session token does not belong to the access key")
	}

	path, query := splitTarget(r)
	canonicalHeaders, err := canonicalHeaders(r, az.signedHeaders)
	if err != nil {
		return res, err
	}
	res.CanonicalRequest = strings.Join([]string{
		r.Method,
		CanonicalURI(path, v.Normalize),
		CanonicalQuery(query),
		canonicalHeaders,
		strings.Join(az.signedHeaders, ";"),
		payloadHash,
	}, "\n")
	crHash := sha256.Sum256([]byte(res.CanonicalRequest))
	scope := strings.Join([]string{az.date, az.region, az.service, "aws4_request"}, "/")
	res.StringToSign = strings.Join([]string{algorithm, amzDate, scope, hex.EncodeToString(crHash[:])}, "\n")

	key := hmacSHA256([]byte("AWS4"+secret), az.date)
	key = hmacSHA256(key, az.region)
	key = hmacSHA256(key, az.service)
	key = hmacSHA256(key, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(key, res.StringToSign))
	if !hmac.Equal([]byte(want), []byte(az.signature)) {
		return res, fmt.Errorf("signature mismatch: the canonical request is\n%s", res.CanonicalRequest)
	}
	return res, nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func parseAuthorization(h string) (authorization, error) {
	var az authorization
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return az, fmt.Errorf("authorization %q does not start with %s", truncate(h), algorithm)
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return az, fmt.Errorf("authorization part %q", part)
		}
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return az, fmt.Errorf("credential %q", v)
			}
			az.accessKeyID, az.date, az.region, az.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			az.signedHeaders = strings.Split(v, ";")
			if !sort.StringsAreSorted(az.signedHeaders) {
				return az, errors.New("signed headers are not sorted")
			}
		case "Signature":
			az.signature = v
		}
	}
	if az.accessKeyID == "" || len(az.signedHeaders) == 0 || az.signature == "" {
		return az, errors.New("authorization lacks Credential, SignedHeaders or Signature")
	}
	return az, nil
}

// splitTarget returns the path and query exactly as they came on the request
// line, which is what AWS signs; RequestURI is empty only for requests built
// in memory.
func splitTarget(r *http.Request) (path, query string) {
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	if u, err := url.Parse(target); err == nil && u.IsAbs() {
		// absolute-form (RFC 9112 §3.2.2): keep only path and query.
		target = strings.TrimPrefix(target, u.Scheme+"://"+u.Host)
	}
	path, query, _ = strings.Cut(target, "?")
	return path, query
}

// CanonicalURI encodes the path as sent once more (the spec's "encode twice"
// for non-S3 services, counting the client's own encoding as the first).
func CanonicalURI(path string, normalize bool) string {
	if path == "" {
		path = "/"
	}
	if normalize {
		path = normalizePath(path)
	}
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c == '/' || unreserved(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// normalizePath collapses repeated slashes and removes dot segments
// (RFC 3986 §5.2.4), keeping a trailing slash.
func normalizePath(p string) string {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	out := make([]string, 0, len(segs))
	for _, s := range segs {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	res := "/" + strings.Join(out, "/")
	if last := segs[len(segs)-1]; len(out) > 0 && (last == "" || last == "." || last == "..") {
		res += "/"
	}
	return res
}

// CanonicalQuery decodes each parameter as a form value and re-encodes it
// strictly, sorted by encoded name, then value.
func CanonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var params []kv
	for _, p := range strings.Split(raw, "&") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		params = append(params, kv{encode(unescape(k)), encode(unescape(v))})
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].k != params[j].k {
			return params[i].k < params[j].k
		}
		return params[i].v < params[j].v
	})
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

func unescape(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

func encode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; unreserved(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func canonicalHeaders(r *http.Request, names []string) (string, error) {
	var b strings.Builder
	for _, name := range names {
		var values []string
		switch name {
		case "host":
			values = []string{r.Host}
		case "content-length":
			values = r.Header.Values("Content-Length")
			if len(values) == 0 {
				values = []string{fmt.Sprint(r.ContentLength)}
			}
		default:
			// A copy: the loop below must not rewrite the request's header.
			values = append([]string(nil), r.Header.Values(name)...)
		}
		if len(values) == 0 {
			return "", fmt.Errorf("signed header %s is not in the request", name)
		}
		for i, v := range values {
			values[i] = strings.Join(strings.Fields(v), " ")
		}
		b.WriteString(name + ":" + strings.Join(values, ",") + "\n")
	}
	return b.String(), nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
