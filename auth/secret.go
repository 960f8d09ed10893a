package auth

import "github.com/weir-ingest/weir/config/secret"

// Secret is the configuration secret type (see package config/secret): it prints as
// [redacted] everywhere and is read only through Reveal.
type Secret = secret.Secret
