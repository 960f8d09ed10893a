package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// maxAssertionBytes caps what weir reads from an assertion file or command;
// real SAML responses are tens of kilobytes.
const maxAssertionBytes = 1 << 20

// assertionCommandWait is how long a finished assertion command's leftover
// children may hold its stdout open before weir stops waiting for them.
const assertionCommandWait = 5 * time.Second

// samlAPI is the part of the STS client the SAML provider uses.
type samlAPI interface {
	AssumeRoleWithSAML(ctx context.Context, in *sts.AssumeRoleWithSAMLInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleWithSAMLOutput, error)
}

// samlProvider exchanges a SAML assertion for role credentials. The SDK has
// no such provider because assertions are short-lived (typically five
// minutes): it fetches a new one from the file or command on every refresh.
type samlProvider struct {
	client       samlAPI
	roleARN      string
	principalARN string
	duration     time.Duration
	file         string
	command      []string
}

func newSAMLProvider(client samlAPI, cfg CredentialsConfig) *samlProvider {
	return &samlProvider{
		client:       client,
		roleARN:      cfg.RoleARN,
		principalARN: cfg.PrincipalARN,
		duration:     cfg.Duration,
		file:         cfg.AssertionFile,
		command:      cfg.AssertionCommand,
	}
}

func (p *samlProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	assertion, err := p.assertion(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	out, err := p.client.AssumeRoleWithSAML(ctx, &sts.AssumeRoleWithSAMLInput{
		RoleArn:         aws.String(p.roleARN),
		PrincipalArn:    aws.String(p.principalARN),
		SAMLAssertion:   aws.String(assertion),
		DurationSeconds: durationSeconds(p.duration),
	})
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("saml: AssumeRoleWithSAML %s: %w", p.roleARN, err)
	}
	c := out.Credentials
	if c == nil || c.Expiration == nil {
		return aws.Credentials{}, fmt.Errorf("saml: AssumeRoleWithSAML %s: response has no credentials", p.roleARN)
	}
	var account string
	if out.AssumedRoleUser != nil {
		account = accountFromARN(aws.ToString(out.AssumedRoleUser.Arn))
	}
	return aws.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Source:          "SAMLProvider",
		CanExpire:       true,
		Expires:         *c.Expiration,
		AccountID:       account,
	}, nil
}

// assertion returns the base64 SAML response STS wants. It accepts the raw
// XML too, since that is what some identity-provider tools write.
func (p *samlProvider) assertion(ctx context.Context) (string, error) {
	var raw []byte
	var err error
	if p.file != "" {
		raw, err = readAssertionFile(p.file)
	} else {
		raw, err = runAssertionCommand(ctx, p.command)
	}
	if err != nil {
		return "", err
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", errors.New("saml: assertion is empty")
	}
	if raw[0] == '<' {
		return base64.StdEncoding.EncodeToString(raw), nil
	}
	// Tools wrap base64 at 64 or 76 columns; STS wants one line.
	return strings.Join(strings.Fields(string(raw)), ""), nil
}

func readAssertionFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("saml: open assertion file: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxAssertionBytes+1))
	if err != nil {
		return nil, fmt.Errorf("saml: read assertion file %s: %w", path, err)
	}
	if len(raw) > maxAssertionBytes {
		return nil, fmt.Errorf("saml: assertion file %s is larger than %d bytes", path, maxAssertionBytes)
	}
	return raw, nil
}

// runAssertionCommand runs argv and returns its stdout. Its stderr is
// discarded, not quoted in the error: identity-provider helpers print
// tokens and cookies there.
func runAssertionCommand(ctx context.Context, argv []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout limitedBuffer
	stdout.limit = maxAssertionBytes
	cmd.Stdout = &stdout
	cmd.WaitDelay = assertionCommandWait
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("saml: assertion command %s: %w", argv[0], err)
	}
	if stdout.over {
		return nil, fmt.Errorf("saml: assertion command %s wrote more than %d bytes", argv[0], maxAssertionBytes)
	}
	return stdout.Bytes(), nil
}

// limitedBuffer keeps the first limit bytes and notes that more came,
// instead of failing the write and leaving the command blocked on a pipe.
type limitedBuffer struct {
	bytes.Buffer
	limit int
	over  bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.Len(); len(p) > room {
		b.over = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// accountFromARN returns the account field of an ARN, or "".
func accountFromARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}
