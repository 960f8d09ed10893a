package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// isolateChain clears everything the SDK default chain reads before the
// container endpoint and IMDS, so the test's stand-in is what answers.
// t.Setenv makes these tests sequential (no t.Parallel).
func isolateChain(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
		"AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
	} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_REGION", "us-east-1")
}

type imdsCreds struct {
	Code            string
	LastUpdated     string
	Type            string
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	Token           string
	Expiration      string
}

func newIMDSCreds(akid string, lifetime time.Duration) imdsCreds {
	return imdsCreds{
		Code: "Success", Type: "AWS-HMAC", LastUpdated: time.Now().UTC().Format(time.RFC3339),
		AccessKeyID: akid, SecretAccessKey: "secret-" + akid, Token: "token-" + akid,
		Expiration: time.Now().Add(lifetime).UTC().Format(time.RFC3339),
	}
}

func TestDefaultChainECSContainerEndpoint(t *testing.T) {
	isolateChain(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/credentials/weir" || r.Header.Get("Authorization") != "container-auth" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		calls.Add(1)
		_ = json.NewEncoder(w).Encode(newIMDSCreds("AKIDECS", time.Hour))
	}))
	defer srv.Close()
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv.URL+"/v2/credentials/weir")
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth")

	creds, err := NewCredentials(context.Background(), DefaultCredentialsConfig(), WithLogger(discardLogger()))
	require.NoError(t, err)
	for range 5 {
		got, err := creds.Retrieve(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "AKIDECS", got.AccessKeyID)
		assert.True(t, got.CanExpire)
	}
	assert.EqualValues(t, 1, calls.Load())

	// Invalidate reaches through the SDK chain's own cache.
	creds.Invalidate()
	_, err = creds.Retrieve(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 2, calls.Load())
}

func TestDefaultChainIMDSv2(t *testing.T) {
	isolateChain(t)
	const role = "weir-instance-role"
	var tokenPuts, credGets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			if r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") == "" {
				http.Error(w, "ttl required", http.StatusBadRequest)
				return
			}
			tokenPuts.Add(1)
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			_, _ = w.Write([]byte("imds-session-token"))
		case r.Header.Get("X-Aws-Ec2-Metadata-Token") != "imds-session-token":
			// IMDSv2 only: v1 (tokenless) requests are refused.
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
			_, _ = w.Write([]byte(role))
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/"+role:
			credGets.Add(1)
			_ = json.NewEncoder(w).Encode(newIMDSCreds("AKIDIMDS", time.Hour))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", srv.URL)

	creds, err := NewCredentials(context.Background(), DefaultCredentialsConfig(), WithLogger(discardLogger()))
	require.NoError(t, err)
	for range 5 {
		got, err := creds.Retrieve(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "AKIDIMDS", got.AccessKeyID)
		assert.Equal(t, "token-AKIDIMDS", got.SessionToken)
	}
	assert.EqualValues(t, 1, credGets.Load())
	assert.GreaterOrEqual(t, tokenPuts.Load(), int32(1))
}
