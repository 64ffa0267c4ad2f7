package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestSign(t *testing.T) {
	// HMAC-SHA256 of "The quick brown fox jumps over the lazy dog" with key "key", the well-known example value.
	got := Sign([]byte("The quick brown fox jumps over the lazy dog"), "key")
	want := "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	const secret = "s3cr3t-events"
	body := []byte(`{"id":"evt_1"}`)
	good := Sign(body, secret)
	tests := []struct {
		name   string
		body   []byte
		header string
		secret string
		want   error
	}{
		{"good", body, good, secret, nil},
		{"good, upper-case hex and prefix", body, "SHA256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")), secret, nil},
		{"good, spaces around", body, "  " + good + " ", secret, nil},
		{"missing", body, "", secret, ErrSignatureMissing},
		{"only spaces", body, "   ", secret, ErrSignatureMissing},
		{"no prefix", body, strings.TrimPrefix(good, "sha256="), secret, ErrSignatureMalformed},
		{"sha1", body, "sha1=" + strings.TrimPrefix(good, "sha256=")[:40], secret, ErrSignatureMalformed},
		{"short", body, good[:len(good)-2], secret, ErrSignatureMalformed},
		{"long", body, good + "00", secret, ErrSignatureMalformed},
		{"not hex", body, "sha256=" + strings.Repeat("zz", 32), secret, ErrSignatureMalformed},
		{"other secret", body, Sign(body, "other"), secret, ErrSignatureMismatch},
		{"other body", []byte(`{"id":"evt_2"}`), good, secret, ErrSignatureMismatch},
		{"body with a trailing newline", append(append([]byte(nil), body...), '\n'), good, secret, ErrSignatureMismatch},
		{"no secret", body, good, "", ErrNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.body, tt.header, tt.secret)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), strings.TrimPrefix(good, "sha256="))) {
				t.Errorf("error %q reveals the secret or the expected MAC", err)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	const secret = "fuzz-secret"
	body := []byte(`{"id":"evt_1","type":"message.status"}`)
	f.Add(body, Sign(body, secret))
	f.Add(body, "")
	f.Add(body, "sha256=")
	f.Add(body, "sha256="+strings.Repeat("0", 64))
	f.Add(body, "SHA256=ZZ")
	f.Add([]byte{}, "sha256=\x00\xff")
	f.Add(body, "sha256=é"+strings.Repeat("a", 62))
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		err := Verify(body, header, secret)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		valid := "sha256=" + hex.EncodeToString(m.Sum(nil))
		if err == nil && !strings.EqualFold(strings.TrimSpace(header), valid) {
			t.Fatalf("Verify accepted %q for a body whose MAC is %s", header, valid)
		}
		if err != nil && !errors.Is(err, ErrSignatureMissing) && !errors.Is(err, ErrSignatureMalformed) && !errors.Is(err, ErrSignatureMismatch) {
			t.Fatalf("Verify = %v: not one of the signature errors", err)
		}
		if strings.EqualFold(strings.TrimSpace(header), valid) && err != nil {
			t.Fatalf("Verify refused a good signature: %v", err)
		}
	})
}
