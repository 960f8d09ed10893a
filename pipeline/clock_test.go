package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSleep(t *testing.T) {
	t.Parallel()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"no wait", context.Background(), 0, nil},
		{"no wait, context ended", ended, -time.Second, context.Canceled},
		{"a short wait", context.Background(), time.Millisecond, nil},
		{"a long wait cut by the context", ended, time.Hour, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.ErrorIs(t, Sleep(tt.ctx, tt.d), tt.want)
			if tt.want == nil {
				assert.NoError(t, RealClock{}.Sleep(tt.ctx, tt.d))
			}
		})
	}
}
