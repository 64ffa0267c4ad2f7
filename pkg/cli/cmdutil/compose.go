package cmdutil

import (
	"context"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// ComposeRequest is what gtc send hands the terminal composer.
type ComposeRequest struct {
	To     string // the recipient, when --to was given
	Client *whatsapp.Client
	// Check is what a composed message must pass before its preview: the Cloud API's limits
	// and gtc send's refusal rules (opt-out, 24-hour window).
	Check func(*whatsapp.Message) error
	// CheckRecipient refuses a recipient (E.164 with +) as soon as it is entered, before
	// anything is composed: gtc send's opt-out refusal. Optional.
	CheckRecipient func(to string) error
	// Sent is called after each send attempt (a retry from the result screen is another)
	// with the message, Graph's answer (nil when it failed) and the error: gtc send records
	// the send in the state database there. Optional; it must not write to the terminal,
	// which the composer holds.
	Sent func(m *whatsapp.Message, res *whatsapp.SendResult, err error)
}

// Composer composes and sends one message interactively on io, printing its id on io.Out.
// Ctrl+C is ErrCancelled.
type Composer func(ctx context.Context, io *IOStreams, req ComposeRequest) error
