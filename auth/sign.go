package auth

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	headerContentSHA256 = "X-Amz-Content-Sha256"
	headerSecurityToken = "X-Amz-Security-Token"
	headerAmzDate       = "X-Amz-Date"
	headerAuthorization = "Authorization"
)

// signer is safe for concurrent use; its derived-key cache is shared by all
// transports so a key is derived once per day, region and service.
var signer = v4.NewSigner()

type signParams struct {
	service string
	region  string
	// signContentHash sets and signs X-Amz-Content-Sha256. Weir always does
	// (OpenSearch Serverless refuses requests without it); only AWS's test
	// suite has cases that sign without it.
	signContentHash bool
}

// sign is the only place weir computes a SigV4 signature. The transport and
// the AWS test-suite test both call it, so the suite checks what ships.
// It modifies req in place; callers pass their own clone.
func sign(ctx context.Context, req *http.Request, payloadHash string, creds aws.Credentials, at time.Time, p signParams) error {
	// Whatever an earlier attempt or the caller left would otherwise be
	// signed and sent alongside the new values.
	req.Header.Del(headerAuthorization)
	req.Header.Del(headerAmzDate)
	req.Header.Del(headerSecurityToken)
	req.Header.Del(headerContentSHA256)
	if p.signContentHash {
		req.Header.Set(headerContentSHA256, payloadHash)
	}
	if err := signer.SignHTTP(ctx, creds, req, payloadHash, p.service, p.region, at); err != nil {
		return fmt.Errorf("auth: sign request: %w", err)
	}
	return nil
}
