package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// The headers of an event POST.
const (
	// SignatureHeader is "sha256=" and the lowercase hex HMAC-SHA256 of the raw body with
	// events_secret; absent when no events_secret is set.
	SignatureHeader = "X-Gtc-Signature-256"
	// EventHeader is the event's type.
	EventHeader = "X-Gtc-Event"
	// DeliveryHeader is the event's id: the same on every retry, so receivers dedupe on it.
	DeliveryHeader = "X-Gtc-Delivery"
)

// Signature errors. None of them contains the expected MAC or the secret.
var (
	ErrNoSecret           = errors.New("no events secret to check " + SignatureHeader + " with")
	ErrSignatureMissing   = errors.New("missing " + SignatureHeader + " header")
	ErrSignatureMalformed = errors.New(SignatureHeader + " is not sha256=<64 hex digits>")
	ErrSignatureMismatch  = errors.New(SignatureHeader + " does not match the body: check events_secret")
)

// Sign returns the X-Gtc-Signature-256 value for body: "sha256=" + hex(HMAC-SHA256).
func Sign(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks header (the X-Gtc-Signature-256 value) against the HMAC-SHA256 of the raw
// body bytes with secret, in constant time. Receivers call it before parsing the body.
// "sha256=" and the hex digits may be in either case; surrounding spaces are ignored.
func Verify(body []byte, header, secret string) error {
	if secret == "" {
		return ErrNoSecret
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrSignatureMissing
	}
	const prefix = "sha256="
	if len(header) != len(prefix)+sha256.Size*2 || !strings.EqualFold(header[:len(prefix)], prefix) {
		return ErrSignatureMalformed
	}
	got, err := hex.DecodeString(header[len(prefix):])
	if err != nil {
		return ErrSignatureMalformed
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return ErrSignatureMismatch
	}
	return nil
}
