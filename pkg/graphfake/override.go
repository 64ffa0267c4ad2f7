package graphfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// EndpointPhoneSettings is POST /{phone}: the phone number's settings, of which the fake
// knows webhook_configuration (the number's override callback URL).
const EndpointPhoneSettings = "phone_settings"

// WebhookOverride returns the phone number's override callback URL ("" when unset).
func (s *Server) WebhookOverride() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.override
}

// SetWebhookOverride sets the number's override callback URL directly, without the checks
// and the handshake (a test's "it points elsewhere").
func (s *Server) SetWebhookOverride(callback string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.override = callback
}

type phoneSettings struct {
	WebhookConfiguration *struct {
		OverrideCallbackURI *string `json:"override_callback_uri"`
		VerifyToken         string  `json:"verify_token"`
	} `json:"webhook_configuration"`
}

// servePhoneSettings is POST /{phone} with webhook_configuration, as Meta's "Webhook
// overrides" page documents it: override_callback_uri is required (an empty string removes
// the override), https, at most 200 characters, with a verify_token; with
// Options.CallbackClient set the fake verifies the URL with Meta's GET handshake first.
func (s *Server) servePhoneSettings(rec *recorder, r *http.Request, call *Call) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.fault(rec, call, Fault{Code: 100, Message: "Invalid parameter", Details: "cannot read the body"})
		return
	}
	var ps phoneSettings
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ps); err != nil {
		s.fault(rec, call, jsonFault(err))
		return
	}
	call.Body = redactVerifyToken(ps, body)
	if f, ok := s.takeFault(EndpointPhoneSettings, ""); ok {
		s.fault(rec, call, f)
		return
	}
	wc := ps.WebhookConfiguration
	switch {
	case wc == nil:
		s.fault(rec, call, badParam(100, "webhook_configuration", "is required (the only phone number setting this double knows)"))
		return
	case wc.OverrideCallbackURI == nil:
		s.fault(rec, call, badParam(100, "webhook_configuration.override_callback_uri", "is required"))
		return
	}
	uri := *wc.OverrideCallbackURI
	if uri != "" {
		if err := whatsapp.CheckCallbackURL(uri); err != nil {
			s.fault(rec, call, badParam(100, "webhook_configuration.override_callback_uri", err.Error()))
			return
		}
		if wc.VerifyToken == "" {
			s.fault(rec, call, badParam(100, "webhook_configuration.verify_token", "is required with an override_callback_uri"))
			return
		}
		if hc := s.opts.CallbackClient; hc != nil {
			if msg := verifyCallback(r.Context(), hc, uri, wc.VerifyToken); msg != "" {
				s.fault(rec, call, Fault{Code: 2200, HTTPStatus: http.StatusBadRequest,
					Message: "Callback verification failed with the following errors: " + msg})
				return
			}
		}
	}
	s.mu.Lock()
	s.override = uri
	s.mu.Unlock()
	s.ok(rec, map[string]bool{"success": true})
}

// verifyCallback does Meta's verification request; "" when the server echoed the challenge.
func verifyCallback(ctx context.Context, hc *http.Client, uri, token string) string {
	challenge := strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 10)
	q := url.Values{"hub.mode": {"subscribe"}, "hub.challenge": {challenge}, "hub.verify_token": {token}}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sep := "?"
	if u, err := url.Parse(uri); err == nil && u.RawQuery != "" {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri+sep+q.Encode(), nil)
	if err != nil {
		return "the URL could not be requested"
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "the URL couldn't be validated: the server could not be reached"
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK || string(got) != challenge {
		return fmt.Sprintf("the URL couldn't be validated. Response does not match challenge, expected value=\"%s\", received=\"%.40s\" (HTTP %d)", challenge, got, resp.StatusCode)
	}
	return ""
}

// redactVerifyToken is the recorded body: the verify token is a secret.
func redactVerifyToken(ps phoneSettings, body []byte) []byte {
	if ps.WebhookConfiguration == nil || ps.WebhookConfiguration.VerifyToken == "" {
		return body
	}
	wc := *ps.WebhookConfiguration // a copy: the caller still needs the token
	wc.VerifyToken = "[redacted]"
	ps.WebhookConfiguration = &wc
	b, err := json.Marshal(ps)
	if err != nil {
		return nil
	}
	return b
}

// webhookConfiguration is the webhook_configuration field of GET /{phone}.
func (s *Server) webhookConfiguration() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	if s.override != "" {
		out["phone_number"] = s.override
	}
	if s.opts.AppCallbackURL != "" {
		out["application"] = s.opts.AppCallbackURL
	}
	return out
}
