// Package secret holds values that must never be printed: access tokens, app secrets, verify
// tokens, API keys. A Value prints as [redacted] through fmt, slog and encoding/json; only
// Raw (for the bundle's secrets file) and Resolve (at the moment of use) reveal it.
//
// A Value may be a reference to an environment variable, written ${NAME}. References are
// kept as written in the bundle and resolved when used, so a missing variable is an error at
// use time that names the variable, never a silently empty token.
package secret

import (
	"fmt"
	"log/slog"
	"os"
	"regexp"
)

// Redacted is what a Value prints as.
const Redacted = "[redacted]"

var refRE = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// IsRef reports whether s is a whole ${NAME} reference, and returns NAME.
func IsRef(s string) (string, bool) {
	m := refRE.FindStringSubmatch(s)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// Value is a secret or a ${NAME} reference to one.
type Value struct {
	raw string
}

// New wraps raw, which is either the secret itself or a ${NAME} reference.
func New(raw string) Value { return Value{raw: raw} }

// IsZero reports whether no value was given.
func (v Value) IsZero() bool { return v.raw == "" }

// Ref returns the environment variable name when v is a ${NAME} reference.
func (v Value) Ref() (string, bool) { return IsRef(v.raw) }

// Raw returns the value as written (the secret or the reference). Only the bundle writer
// calls it.
func (v Value) Raw() string { return v.raw }

// Resolve returns the secret, reading the environment through lookup when v is a reference
// (os.LookupEnv when lookup is nil).
func (v Value) Resolve(lookup func(string) (string, bool)) (string, error) {
	name, ok := v.Ref()
	if !ok {
		return v.raw, nil
	}
	if lookup == nil {
		lookup = os.LookupEnv
	}
	val, ok := lookup(name)
	if !ok || val == "" {
		return "", &MissingEnvError{Name: name}
	}
	return val, nil
}

// Hint describes v without revealing it: the reference, or how long the value is.
func (v Value) Hint() string {
	if name, ok := v.Ref(); ok {
		return "${" + name + "}"
	}
	if v.raw == "" {
		return "not set"
	}
	return fmt.Sprintf("set (%d characters)", len([]rune(v.raw)))
}

func (v Value) String() string                { return Redacted }
func (v Value) GoString() string              { return Redacted }
func (v Value) LogValue() slog.Value          { return slog.StringValue(Redacted) }
func (v Value) MarshalJSON() ([]byte, error)  { return []byte(`"` + Redacted + `"`), nil }
func (v Value) MarshalText() ([]byte, error)  { return []byte(Redacted), nil }
func (v Value) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(Redacted)) }

// MissingEnvError says a ${NAME} reference could not be resolved.
type MissingEnvError struct{ Name string }

func (e *MissingEnvError) Error() string {
	return fmt.Sprintf("environment variable %s is not set: export it or put the value in the bundle's secrets.env", e.Name)
}
