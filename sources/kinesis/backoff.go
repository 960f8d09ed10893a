package kinesis

import (
	"errors"
	"math/rand/v2"
	"time"

	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

// backoff is exponential with jitter: the n-th wait in a row is drawn from [d/2, d] with
// d = initial·2ⁿ capped at max. The fixed half keeps a throttled shard from coming back at
// once; the random half keeps the shards of a stream (and the processes sharing it) from
// retrying in step.
type backoff struct {
	initial, max time.Duration
	n            int
	rnd          func() float64
}

func newBackoff(initial, max time.Duration) *backoff {
	return &backoff{initial: initial, max: max, rnd: rand.Float64}
}

func (b *backoff) next() time.Duration {
	d := b.max
	if b.n < 30 {
		if e := b.initial << b.n; e > 0 && e < b.max {
			d = e
		}
	}
	b.n++
	return d/2 + time.Duration(b.rnd()*float64(d/2))
}

func (b *backoff) reset() { b.n = 0 }

// Backoff bounds for throttled and failed reads.
const (
	throttleInitial = 250 * time.Millisecond
	throttleMax     = 10 * time.Second
	errorInitial    = 500 * time.Millisecond
	errorMax        = 30 * time.Second
)

// isThrottle reports a refusal for rate: the shard's read limits (2 MB/s, 5 calls/s), the
// account's control-plane limits, or KMS throttling of an encrypted stream.
func isThrottle(err error) bool {
	var pte *ktypes.ProvisionedThroughputExceededException
	var lee *ktypes.LimitExceededException
	var kte *ktypes.KMSThrottlingException
	if errors.As(err, &pte) || errors.As(err, &lee) || errors.As(err, &kte) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ProvisionedThroughputExceededException", "LimitExceededException", "ThrottlingException",
			"Throttling", "RequestLimitExceeded", "TooManyRequestsException", "KMSThrottlingException":
			return true
		}
	}
	return false
}
