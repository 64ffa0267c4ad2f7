package doctor

import (
	"context"
	"fmt"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// override checks, and with --fix sets, the phone number's webhook override callback URL
// (Meta's "Webhook overrides"): each number of a bundle should send its messages and
// statuses to its own per-tenant route, whatever the app's callback URL is.
func (d *doctor) override(ctx context.Context, client *whatsapp.Client, p *bundle.Provider, verify string, add func(Check)) {
	const name = "webhook_override"
	want := p.CallbackURL()
	fix := fmt.Sprintf("run gtc doctor %s --fix with gtc serve running behind %s (Meta verifies the URL with a handshake when it is set), or set it yourself: POST /%s with webhook_configuration.override_callback_uri",
		d.o.BundleDir, p.PublicBaseURL, p.PhoneNumberID)
	if err := whatsapp.CheckCallbackURL(want); err != nil && !d.o.Fix {
		// public_url says why Meta cannot call it: no override can point there either.
		add(Check{Name: name, Status: OK, Message: fmt.Sprintf("not checked: %s cannot be an override callback URL (%v)", want, err)})
		return
	}
	cctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	wc, err := client.WebhookConfiguration(cctx)
	if err != nil {
		c := graphProblem(name, "read the webhook configuration of phone number "+p.PhoneNumberID, err)
		c.Status = Warning
		add(c)
		return
	}
	if d.o.Fix && wc.PhoneNumber != want {
		d.setOverride(ctx, client, p, wc, want, verify, add)
		return
	}
	switch {
	case wc.PhoneNumber == want:
		add(Check{Name: name, Status: OK, Message: "phone number " + p.PhoneNumberID + " sends its webhooks to " + want})
	case wc.PhoneNumber != "":
		add(Check{Name: name, Status: Warning, Fix: fix,
			Message: fmt.Sprintf("phone number %s's override callback URL is %s, not this bundle's %s: Meta sends its messages and statuses there", p.PhoneNumberID, wc.PhoneNumber, want)})
	case wc.Effective() == want:
		add(Check{Name: name, Status: OK, Message: fmt.Sprintf("no override on phone number %s: Meta sends its webhooks to the %s callback URL, %s, this bundle's", p.PhoneNumberID, level(wc), want)})
	case wc.Effective() != "":
		add(Check{Name: name, Status: Warning, Fix: fix,
			Message: fmt.Sprintf("no override on phone number %s: Meta sends its messages and statuses to the %s callback URL, %s, not to this bundle's %s", p.PhoneNumberID, level(wc), wc.Effective(), want)})
	default:
		add(Check{Name: name, Status: Warning, Fix: fix,
			Message: fmt.Sprintf("no override on phone number %s: Meta sends its messages and statuses to the app's callback URL, not necessarily to this bundle's %s", p.PhoneNumberID, want)})
	}
}

// level names where a configuration without a number override sends webhooks.
func level(wc *whatsapp.WebhookConfiguration) string {
	if wc.WhatsAppBusinessAccount != "" {
		return "business account's"
	}
	return "app's"
}

func (d *doctor) setOverride(ctx context.Context, client *whatsapp.Client, p *bundle.Provider, wc *whatsapp.WebhookConfiguration, want, verify string, add func(Check)) {
	const name = "webhook_override"
	was := wc.PhoneNumber
	if was == "" {
		was = "unset"
	}
	if err := whatsapp.CheckCallbackURL(want); err != nil {
		add(Check{Name: name, Status: Problem, Message: fmt.Sprintf("cannot set phone number %s's override callback URL (%s): %v", p.PhoneNumberID, was, err),
			Fix: "set public_base_url to the https address of gtc serve (a tunnel or TLS proxy) and re-run gtc setup, then gtc doctor --fix"})
		return
	}
	if verify == "" {
		add(Check{Name: name, Status: Problem, Message: fmt.Sprintf("cannot set phone number %s's override callback URL (%s): no verify token for Meta's handshake", p.PhoneNumberID, was),
			Fix: "set verify_token in the answers, re-run gtc setup and restart gtc serve"})
		return
	}
	cctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	if err := client.SetWebhookOverride(cctx, want, verify); err != nil {
		c := graphProblem(name, fmt.Sprintf("set phone number %s's override callback URL to %s", p.PhoneNumberID, want), err)
		if whatsapp.ClassOf(err) != whatsapp.ClassAuth {
			c.Fix = fmt.Sprintf("Meta verifies %s with a handshake when it is set: start gtc serve %s behind %s, then run gtc doctor --fix again", want, d.o.BundleDir, p.PublicBaseURL)
		}
		add(c)
		return
	}
	add(Check{Name: name, Status: OK, Message: fmt.Sprintf("phone number %s's override callback URL set to %s (was %s)", p.PhoneNumberID, want, was)})
}
