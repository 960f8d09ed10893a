// Package secret holds the type configuration uses for passwords, tokens and keys, so that
// they never reach logs, errors or metrics by accident.
package secret

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[redacted]"

// Secret is a string that never prints itself: fmt (every verb, %x and %q included), slog,
// JSON and text encoders all see "[redacted]". Reveal is the one way to read it, and should
// appear only where the value is sent. Decoding stays a plain string, so configuration
// still reads the real value.
type Secret string

// Reveal returns the secret itself. Keep its result out of logs and errors.
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether no secret was configured, without revealing it.
func (s Secret) IsZero() bool { return s == "" }

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString covers %#v.
func (Secret) GoString() string { return redacted }

// Format covers every verb, including %x and %q, which would otherwise print the bytes of
// a string type.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText covers YAML and other text encoders.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue covers slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
