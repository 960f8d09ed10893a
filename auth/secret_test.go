package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	const value = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	s := Secret(value)
	cfg := CredentialsConfig{Provider: ProviderStatic, AccessKeyID: "AKID", SecretAccessKey: s, SessionToken: s}

	var logged bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logged, nil))
	logger.Info("config", "secret", s, "cfg", cfg)
	text := slog.New(slog.NewTextHandler(&logged, nil))
	text.Info("config", "secret", s)
	js, err := json.Marshal(cfg)
	require.NoError(t, err)
	yamlish, err := s.MarshalText()
	require.NoError(t, err)

	outputs := map[string]string{
		"%v":     fmt.Sprintf("%v", s),
		"%s":     fmt.Sprintf("%s", s),
		"%q":     fmt.Sprintf("%q", s),
		"%x":     fmt.Sprintf("%x", s),
		"%#v":    fmt.Sprintf("%#v", s),
		"%+v":    fmt.Sprintf("%+v", cfg),
		"%#vc":   fmt.Sprintf("%#v", cfg),
		"Sprint": fmt.Sprint(s),
		"String": s.String(),
		"json":   string(js),
		"text":   string(yamlish),
		"slog":   logged.String(),
	}
	for name, out := range outputs {
		assert.NotContains(t, out, value, name)
		assert.NotContains(t, out, fmt.Sprintf("%x", value), name)
		assert.Contains(t, out, "[redacted]", name)
	}
	assert.Equal(t, value, s.Reveal())
	assert.False(t, s.IsZero())
	assert.True(t, Secret("").IsZero())
}
