package auth

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/internal/testenv"
)

// These tests run the role providers against moto's STS. moto does not
// check signatures, tokens or assertions beyond parsing them, so they prove
// the wiring (endpoint override, parameters, response handling, re-reading
// the token or assertion on each refresh), not AWS's trust policies.

const motoAccount = "123456789012"

// motoSource is a static identity for the AssumeRole call; moto accepts any.
func motoSource() *CredentialsConfig {
	return &CredentialsConfig{Provider: ProviderStatic, AccessKeyID: "AKIDMOTOSOURCE", SecretAccessKey: "moto-secret"}
}

func TestAssumeRoleAgainstMoto(t *testing.T) {
	t.Parallel()
	endpoint := testenv.AWS(t)
	ctx := context.Background()
	cfg := CredentialsConfig{
		Provider:    ProviderAssumeRole,
		Region:      "us-east-1",
		STSEndpoint: endpoint,
		RoleARN:     "arn:aws:iam::" + motoAccount + ":role/weir-ingest",
		ExternalID:  "weir-external-id",
		SessionName: "weir-test",
		Duration:    15 * time.Minute,
		Source:      motoSource(),
	}
	require.NoError(t, cfg.Validate())
	creds, err := NewCredentials(ctx, cfg, WithLogger(discardLogger()))
	require.NoError(t, err)

	got, err := creds.Retrieve(ctx)
	require.NoError(t, err)
	assert.NotEmpty(t, got.AccessKeyID)
	assert.NotEqual(t, "AKIDMOTOSOURCE", got.AccessKeyID)
	assert.True(t, got.CanExpire)
	assert.WithinDuration(t, time.Now().Add(15*time.Minute-DefaultExpiryWindow), got.Expires, DefaultExpiryWindow+time.Minute)

	arn, account, err := creds.CallerIdentity(ctx)
	require.NoError(t, err)
	assert.Equal(t, "arn:aws:sts::"+motoAccount+":assumed-role/weir-ingest/weir-test", arn)
	assert.Equal(t, motoAccount, account)
}

func TestWebIdentityAgainstMoto(t *testing.T) {
	t.Parallel()
	endpoint := testenv.AWS(t)
	ctx := context.Background()
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("any-oidc-token"), 0o600))
	cfg := CredentialsConfig{
		Provider:    ProviderWebIdentity,
		Region:      "us-east-1",
		STSEndpoint: endpoint,
		RoleARN:     "arn:aws:iam::" + motoAccount + ":role/weir-web",
		TokenFile:   tokenFile,
	}
	creds, err := NewCredentials(ctx, cfg, WithLogger(discardLogger()))
	require.NoError(t, err)
	first, err := creds.Retrieve(ctx)
	require.NoError(t, err)
	assert.True(t, first.CanExpire)

	arn, _, err := creds.CallerIdentity(ctx)
	require.NoError(t, err)
	assert.Equal(t, "arn:aws:sts::"+motoAccount+":assumed-role/weir-web/"+defaultSessionName, arn)

	// The token is read again on each refresh: without the file, the
	// refresh fails (and Invalidate leaves no fallback).
	require.NoError(t, os.Remove(tokenFile))
	creds.Invalidate()
	_, err = creds.Retrieve(ctx)
	require.ErrorContains(t, err, "token")

	require.NoError(t, os.WriteFile(tokenFile, []byte("rotated-token"), 0o600))
	second, err := creds.Retrieve(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, first.AccessKeyID, second.AccessKeyID)
}

// samlResponse builds the smallest SAML response moto's STS reads: a
// samlp:Response holding a saml:Assertion with the Role and
// RoleSessionName attributes (moto iterates the attributes, so it needs
// at least two).
func samlResponse(roleARN, principalARN, session string) string {
	return fmt.Sprintf(`<?xml version="1.0"?>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="%[4]s">
  <saml:Issuer>https://idp.example.com/</saml:Issuer>
  <saml:Assertion ID="_a1" Version="2.0" IssueInstant="%[4]s">
    <saml:Issuer>https://idp.example.com/</saml:Issuer>
    <saml:Subject><saml:NameID>weir@example.com</saml:NameID></saml:Subject>
    <saml:Conditions NotBefore="%[4]s" NotOnOrAfter="%[5]s">
      <saml:AudienceRestriction><saml:Audience>https://signin.aws.amazon.com/saml</saml:Audience></saml:AudienceRestriction>
    </saml:Conditions>
    <saml:AttributeStatement>
      <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role">
        <saml:AttributeValue>%[1]s,%[2]s</saml:AttributeValue>
      </saml:Attribute>
      <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName">
        <saml:AttributeValue>%[3]s</saml:AttributeValue>
      </saml:Attribute>
      <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/SessionDuration">
        <saml:AttributeValue>1800</saml:AttributeValue>
      </saml:Attribute>
    </saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response>`, roleARN, principalARN, session,
		time.Now().UTC().Format(time.RFC3339), time.Now().Add(5*time.Minute).UTC().Format(time.RFC3339))
}

func TestSAMLAgainstMoto(t *testing.T) {
	t.Parallel()
	endpoint := testenv.AWS(t)
	const role = "arn:aws:iam::" + motoAccount + ":role/weir-saml"
	const principal = "arn:aws:iam::" + motoAccount + ":saml-provider/corp-idp"
	dir := t.TempDir()
	xml := samlResponse(role, principal, "weir-saml-session")
	b64File := filepath.Join(dir, "assertion.b64")
	// Wrapped at 76 columns as IdP tools write it.
	encoded := base64.StdEncoding.EncodeToString([]byte(xml))
	var wrapped strings.Builder
	for i := 0; i < len(encoded); i += 76 {
		wrapped.WriteString(encoded[i:min(i+76, len(encoded))] + "\n")
	}
	require.NoError(t, os.WriteFile(b64File, []byte(wrapped.String()), 0o600))
	xmlFile := filepath.Join(dir, "assertion.xml")
	require.NoError(t, os.WriteFile(xmlFile, []byte(xml), 0o600))
	countFile := filepath.Join(dir, "runs")

	tests := []struct {
		name    string
		file    string
		command []string
	}{
		{"base64 file", b64File, nil},
		{"xml file", xmlFile, nil},
		{"command", "", []string{"sh", "-c", `echo run >> "$1"; cat "$2"`, "sh", countFile, b64File}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg := CredentialsConfig{
				Provider: ProviderSAML, Region: "us-east-1", STSEndpoint: endpoint,
				RoleARN: role, PrincipalARN: principal,
				AssertionFile: tc.file, AssertionCommand: tc.command,
			}
			require.NoError(t, cfg.Validate())
			creds, err := NewCredentials(ctx, cfg, WithLogger(discardLogger()))
			require.NoError(t, err)
			got, err := creds.Retrieve(ctx)
			require.NoError(t, err)
			assert.True(t, got.CanExpire)
			assert.Equal(t, motoAccount, got.AccountID)

			arn, account, err := creds.CallerIdentity(ctx)
			require.NoError(t, err)
			assert.Equal(t, "arn:aws:sts::"+motoAccount+":assumed-role/weir-saml/weir-saml-session", arn)
			assert.Equal(t, motoAccount, account)

			if tc.command != nil {
				creds.Invalidate()
				_, err = creds.Retrieve(ctx)
				require.NoError(t, err)
				runs, err := os.ReadFile(countFile)
				require.NoError(t, err)
				assert.Equal(t, 2, strings.Count(string(runs), "run"), "the assertion command runs on every refresh")
			}
		})
	}
}

func TestSAMLAssertionErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("  \n"), 0o600))
	tests := []struct {
		name string
		p    samlProvider
		want string
	}{
		{"missing file", samlProvider{file: filepath.Join(dir, "nope")}, "open assertion file"},
		{"empty file", samlProvider{file: empty}, "assertion is empty"},
		{"failing command", samlProvider{command: []string{"sh", "-c", "echo secret-cookie >&2; exit 3"}}, "exit status 3"},
		{"missing command", samlProvider{command: []string{filepath.Join(dir, "no-such-helper")}}, "no-such-helper"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.p.Retrieve(context.Background())
			require.ErrorContains(t, err, tc.want)
			assert.NotContains(t, err.Error(), "secret-cookie", "stderr stays out of errors")
		})
	}
}
