package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// MaxCallbackURL is the longest override callback URL Meta accepts.
const MaxCallbackURL = 200

// WebhookConfiguration is where Meta sends a phone number's webhooks, as
// GET /{phone_number_id}?fields=webhook_configuration reports it (Meta's "Webhook
// overrides" page): the number's own override, its business account's, and the app's
// callback URL. Meta uses the first one set, in that order, for messages and statuses;
// template and account webhooks always go to the app's URL.
type WebhookConfiguration struct {
	PhoneNumber             string `json:"phone_number,omitempty"`
	WhatsAppBusinessAccount string `json:"whatsapp_business_account,omitempty"`
	Application             string `json:"application,omitempty"`
}

// Effective is the URL Meta delivers the number's messages webhooks to.
func (w *WebhookConfiguration) Effective() string {
	switch {
	case w.PhoneNumber != "":
		return w.PhoneNumber
	case w.WhatsAppBusinessAccount != "":
		return w.WhatsAppBusinessAccount
	}
	return w.Application
}

// WebhookConfiguration reads where Meta sends the phone number's webhooks.
func (c *Client) WebhookConfiguration(ctx context.Context) (*WebhookConfiguration, error) {
	req, err := c.newRequest(ctx, http.MethodGet, c.url(c.cfg.PhoneNumberID)+"?fields=webhook_configuration", "", nil)
	if err != nil {
		return nil, err
	}
	var ans struct {
		WebhookConfiguration WebhookConfiguration `json:"webhook_configuration"`
	}
	if err := c.do(req, &ans); err != nil {
		return nil, fmt.Errorf("webhook configuration of phone number %s: %w", c.cfg.PhoneNumberID, err)
	}
	return &ans.WebhookConfiguration, nil
}

// CheckCallbackURL checks an override callback URL the way Meta does: https, absolute,
// at most MaxCallbackURL characters.
func CheckCallbackURL(callback string) error {
	u, err := url.Parse(callback)
	switch {
	case err != nil || u.Host == "":
		return fmt.Errorf("callback URL %q is not an absolute URL", callback)
	case u.Scheme != "https":
		return fmt.Errorf("callback URL %s is not https: Meta only calls https webhooks", callback)
	case len(callback) > MaxCallbackURL:
		return fmt.Errorf("callback URL is %d characters long: Meta accepts at most %d", len(callback), MaxCallbackURL)
	}
	return nil
}

// SetWebhookOverride sets the phone number's override callback URL (POST /{phone_number_id}
// with webhook_configuration). Meta verifies the URL at once with a GET handshake carrying
// verifyToken, so the server behind it must be up and know the token. An empty callback
// removes the override (then Meta falls back to the business account's or the app's URL).
// Errors never carry the verify token.
func (c *Client) SetWebhookOverride(ctx context.Context, callback, verifyToken string) error {
	cfg := map[string]string{"override_callback_uri": callback}
	if callback != "" {
		if err := CheckCallbackURL(callback); err != nil {
			return err
		}
		if verifyToken == "" {
			return errors.New("set webhook override: the verify token is empty: Meta verifies the callback URL with it")
		}
		cfg["verify_token"] = verifyToken
	}
	body, err := json.Marshal(map[string]any{"webhook_configuration": cfg})
	if err != nil {
		return fmt.Errorf("encode webhook configuration: %w", err)
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.url(c.cfg.PhoneNumberID), "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	var ans struct {
		Success bool `json:"success"`
	}
	if err := c.do(req, &ans); err != nil {
		return fmt.Errorf("set webhook override of phone number %s: %w", c.cfg.PhoneNumberID, err)
	}
	if !ans.Success {
		return fmt.Errorf("set webhook override of phone number %s: Graph did not answer success", c.cfg.PhoneNumberID)
	}
	return nil
}
