package explain

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorded is one testdata/*.json file.
type recorded struct {
	Source string `json:"source"`
	// Recorded says where the body was pasted verbatim in public (identifiers and
	// credentials replaced); empty for a body reconstructed from documentation.
	Recorded string      `json:"recorded"`
	Status   int         `json:"status"`
	Headers  http.Header `json:"headers"`
	Body     string      `json:"body"`
	Context  struct {
		Service       string `json:"service"`
		Region        string `json:"region"`
		CanonicalPath string `json:"canonical_path"`
		PrincipalARN  string `json:"principal_arn"`
	} `json:"context"`
	WantReason   string   `json:"want_reason"`
	WantContains []string `json:"want_contains"`
	// WantAbsent: credentials the body echoes, which the message must not repeat.
	WantAbsent []string `json:"want_absent"`
}

func (r recorded) ctx() Context {
	return Context{CanonicalPath: r.Context.CanonicalPath, Service: r.Context.Service, Region: r.Context.Region, PrincipalARN: r.Context.PrincipalARN}
}

func loadRecorded(t testing.TB) map[string]recorded {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]recorded{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var r recorded
		require.NoError(t, json.Unmarshal(raw, &r), f)
		require.NotEmpty(t, r.Source, "%s: say where the shape comes from", f)
		if r.Recorded == "" {
			require.True(t, strings.HasPrefix(r.Source, "Reconstructed"), "%s: a body nobody recorded says so first", f)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = r
	}
	return out
}

func TestClassifyRecorded(t *testing.T) {
	t.Parallel()
	recs := loadRecorded(t)
	seen := map[string]bool{}
	for name, rec := range recs {
		seen[rec.WantReason] = true
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The header keys in testdata are written as Go canonicalises them.
			x := Classify(rec.Status, rec.Headers, []byte(rec.Body), rec.ctx())
			t.Logf("%s: %s", x.Reason, x.Message)
			assert.Equal(t, rec.WantReason, x.Reason, x.Message)
			for _, want := range rec.WantContains {
				assert.Contains(t, x.Message, want)
			}
			for _, secret := range rec.WantAbsent {
				assert.NotContains(t, x.Message, secret)
			}
			assert.NotEmpty(t, x.Message)
			assert.LessOrEqual(t, strings.Count(x.Message, ". "), 3, "one or two sentences: %s", x.Message)
		})
	}
	for _, r := range Reasons() {
		assert.True(t, seen[r], "no recorded example for reason %s", r)
	}
}

func TestClassifyCaseInsensitive(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, want string }{
		{`{"message":"THE SECURITY TOKEN INCLUDED IN THE REQUEST IS EXPIRED"}`, ReasonExpiredToken},
		{`{"__type":"com.amazon.coral.service#ExpiredTokenException","message":"x"}`, ReasonExpiredToken},
		{`{"message":"the security token included in the request is invalid"}`, ReasonInvalidToken},
		{`{"message":"invalidsignatureexception"}`, ReasonSignatureMismatch},
		{`signaturedoesnotmatch`, ReasonSignatureMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.body, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, Classify(http.StatusForbidden, nil, []byte(tc.body), Context{Service: "es"}).Reason)
		})
	}
}

func TestExplainerCounts(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e, err := NewExplainer(reg)
	require.NoError(t, err)
	recs := loadRecorded(t)
	rec := recs["es_expired_token"]
	for range 3 {
		e.Explain(rec.Status, rec.Headers, []byte(rec.Body), rec.ctx())
	}
	assert.EqualValues(t, 3, testutil.ToFloat64(e.denied.WithLabelValues(ReasonExpiredToken)))
	assert.EqualValues(t, 0, testutil.ToFloat64(e.denied.WithLabelValues(ReasonNoAllow)))
	n, err := testutil.GatherAndCount(reg, "weir_auth_denied_total")
	require.NoError(t, err)
	assert.Equal(t, len(Reasons()), n, "every reason pre-initialised")

	_, err = NewExplainer(reg)
	assert.Error(t, err, "registering twice is reported")
}

func FuzzClassify(f *testing.F) {
	for _, rec := range loadRecorded(f) {
		f.Add(rec.Status, rec.Headers.Get("X-Amzn-Errortype"), []byte(rec.Body), rec.Context.Service, rec.Context.CanonicalPath)
	}
	f.Add(403, "", []byte(`{"error":[[[[[[[[[[[[{"reason":"no permissions for ["}]]]]]]]]]]]]}`), "es", "")
	f.Add(403, "", []byte("User: x is not authorized to perform: es:ESHttpPost on resource:"), "aoss", "/")
	f.Add(403, "InvalidSignatureException", []byte("The Canonical String for this request should have been\n'"), "es", "/a")
	f.Fuzz(func(t *testing.T, status int, errType string, body []byte, service, path string) {
		h := http.Header{}
		h.Set("X-Amzn-Errortype", errType)
		x := Classify(status, h, body, Context{Service: service, CanonicalPath: path, Region: "us-east-1"})
		if x.Message == "" {
			t.Fatalf("empty message for reason %q", x.Reason)
		}
		for _, r := range Reasons() {
			if r == x.Reason {
				return
			}
		}
		t.Fatalf("reason %q is not in Reasons()", x.Reason)
	})
}

// Refusals that echo the request's Authorization header, or quote a canonical
// request holding a session token, must not carry them into logs.
func TestQuoteRedactsEchoedCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, text, secret, keep string }{
		{"authorization=", "Authorization header requires 'Credential' parameter. Authorization=Basic d2Vpcjpub3QtYS1yZWFs", "d2Vpcjpub3QtYS1yZWFs", "requires 'Credential'"},
		{"header quoted", "not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer eyJraWQiOiJhYmMifQ.e30.sig'.", "eyJraWQiOiJhYmMifQ", "missing equal-sign"},
		{"leading quoted value", "'c2VjcmV0OnNlY3JldA==' not a valid key=value pair (missing equal-sign) in Authorization header: 'Basic c2VjcmV0OnNlY3JldA=='.", "c2VjcmV0OnNlY3JldA", "not a valid key=value pair"},
		{"quoted value mid-text", `HTTP 403: 'c2VjcmV0OnNlY3JldA==' not a valid key=value pair`, "c2VjcmV0OnNlY3JldA", "HTTP 403"},
		{"session token", "'POST\n/_bulk\n\nhost:h\nx-amz-security-token:IQoJb3JpZ2luX2VjEXAMPLE\n'", "IQoJb3JpZ2luX2VjEXAMPLE", "host:h"},
		{"nothing to hide", "Blocked by policy.", "", "Blocked by policy."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := quote(tc.text)
			if tc.secret != "" {
				assert.NotContains(t, q, tc.secret)
				assert.Contains(t, q, "[redacted]")
			}
			assert.Contains(t, q, tc.keep)
		})
	}
	// An unrecognised refusal quotes the service's words, redacted.
	x := Classify(http.StatusBadRequest, nil, []byte(`{"message":"Unsupported header. Authorization=Bearer tok3n-value"}`), Context{Service: "es"})
	assert.Equal(t, ReasonUnknown, x.Reason)
	assert.NotContains(t, x.Message, "tok3n-value")
}
