package send

import (
	"context"
	"fmt"
	"time"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// Refusal is a send gtc refused because of what the server recorded (opt-out, closed
// window): delivery.Refusal's rule, worded for the command line. Exit code 1.
type Refusal struct {
	Reason string // delivery.ReasonOptedOut, ReasonWindowClosed or ReasonMessagingLimit
	Msg    string
}

func (r *Refusal) Error() string { return r.Msg }

// Unwrap lets callers decide by type, as the send API does: errors.As(err, **delivery.RefusedError).
func (r *Refusal) Unwrap() error { return &delivery.RefusedError{Reason: r.Reason} }

// SendError is a failed send with what to do about it. Exit code 1.
type SendError = cmdutil.SendError

// refuse applies delivery.Refusal to msgs; contact nil means the bundle has no state.
func refuse(contact *store.Contact, now time.Time, msgs ...*whatsapp.Message) error {
	if contact == nil {
		return nil
	}
	for _, m := range msgs {
		to := contactName(contact.Key)
		if typed := m.RecipientKey(); typed != "" && delivery.ContactKeyOf(typed) != contact.Key {
			to = fmt.Sprintf("%s (the same WhatsApp account as %s)", typed, to)
		}
		switch reason := delivery.Refusal(contact, contact.OptedOut, store.OriginSend, m, now); reason {
		case delivery.ReasonOptedOut:
			return &Refusal{Reason: reason, Msg: fmt.Sprintf("%s opted out on %s: gtc does not send to opted-out contacts (they must write START to opt in again)",
				to, contact.OptedOutAt.UTC().Format(time.RFC3339))}
		case delivery.ReasonWindowClosed:
			last := "has never written"
			if !contact.LastInboundAt.IsZero() {
				last = "last wrote " + contact.LastInboundAt.UTC().Format(time.RFC3339)
			}
			return &Refusal{Reason: reason, Msg: fmt.Sprintf("the 24-hour window with %s is closed (%s): only templates may be sent; use --template NAME (see gtc templates list)", to, last)}
		}
	}
	return nil
}

// guard is what a composed message must pass: the Cloud API's limits, then the refusal
// rule and the messaging limit (checked here, counted when the message went), so the
// composer cannot send what the flags would refuse.
func (o *SendOptions) guard(ctx context.Context, b *bundle.Bundle, p *bundle.Provider, book *templateBook, rec *recorder) func(*whatsapp.Message) error {
	return func(m *whatsapp.Message) error {
		if err := m.Validate(); err != nil {
			return err
		}
		to, err := whatsapp.NormalizeRecipient(m.RecipientKey())
		if err != nil {
			return err
		}
		contact, err := cmdutil.ReadContact(ctx, b, p, to)
		if err != nil {
			return err
		}
		if err := refuse(contact, o.Now(), m); err != nil {
			return err
		}
		if err := book.check(ctx, m); err != nil {
			return err
		}
		return rec.peek(ctx, p, contact, m, o.Now())
	}
}

// recipientGuard refuses an opted-out recipient when the composer's recipient is entered.
// The 24-hour window is checked later, by guard: a template may still be sent.
func (o *SendOptions) recipientGuard(ctx context.Context, b *bundle.Bundle, p *bundle.Provider) func(string) error {
	return func(to string) error {
		contact, err := cmdutil.ReadContact(ctx, b, p, to)
		if err != nil || contact == nil || !contact.OptedOut {
			return err
		}
		return refuse(contact, o.Now(), &whatsapp.Message{To: to, Type: "template"})
	}
}

// contactName is how a refusal names a contact: its number with "+", or its business-scoped
// user id.
func contactName(key string) string {
	if whatsapp.IsBSUID(key) {
		return key
	}
	return "+" + key
}
