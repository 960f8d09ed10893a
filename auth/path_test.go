package auth

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/logging"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-ingest/weir/internal/sigv4check"
)

type captureLogger struct {
	mu  sync.Mutex
	out strings.Builder
}

func (c *captureLogger) Logf(_ logging.Classification, format string, v ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(&c.out, format, v...)
}

// TestCanonicalPathMatchesSigner checks that CanonicalPath, which the 403
// explainer shows, is the path the SDK signer really signs, and that the
// independent verifier derives the same from the wire path.
func TestCanonicalPathMatchesSigner(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"plain", "a b", "a/b", "a+b", "100%", "#x", "q?", "ünï", "日本", ".", ".."} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodPut, "https://h/"+EscapePathSegment("idx "+id)+"/_doc/"+EscapePathSegment(id), nil)
			require.NoError(t, err)
			logger := &captureLogger{}
			err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "A", SecretAccessKey: "S"}, req,
				"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "es", "us-east-1", time.Now(),
				func(o *v4.SignerOptions) { o.LogSigning, o.Logger = true, logger })
			require.NoError(t, err)
			// The logged canonical string's second line is the canonical URI.
			_, canonical, _ := strings.Cut(logger.out.String(), "---[ CANONICAL STRING  ]-----------------------------\n")
			lines := strings.Split(canonical, "\n")
			require.Greater(t, len(lines), 2)
			assert.Equal(t, lines[1], CanonicalPath(req.URL))
			assert.Equal(t, lines[1], sigv4check.CanonicalURI(req.URL.EscapedPath(), true), "the verifier, normalizing as AWS does, agrees")
		})
	}
}
