package chat

import (
	"context"
	"fmt"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/cli/send"
	"github.com/greentic/gtc/pkg/tui"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// InstallHooks plugs the composer into gtc send (used when no message flag is given on a
// terminal). It must run before gtc send's command is built. (gtc setup calls the wizard,
// tui.SetupWizard, itself.)
func InstallHooks() {
	send.DefaultComposer = Compose
}

// Compose runs the composer for gtc send: it sends with client, prints the message id on
// stdout, and turns Ctrl+C into exit 130 and a failed send into exit 1 (the screen showed the
// classified error and its advice).
func Compose(ctx context.Context, opts *send.SendOptions, client *whatsapp.Client) error {
	c := tui.NewComposer(tui.ComposerConfig{Styles: tui.NewStyles(opts.IO.ErrOut, opts.IO.NoColor), Keys: tui.DefaultKeyMap(),
		Context: ctx, Backend: tui.ClientBackend{Client: client}, Normalize: whatsapp.NormalizeE164,
		Check: composerCheck(ctx, opts), Explain: tui.ExplainSendError, To: opts.To})
	if _, err := tui.Run(ctx, c, opts.IO.In, opts.IO.ErrOut); err != nil {
		return err
	}
	switch {
	case c.Cancelled || !c.Sent:
		return cmdutil.ErrCancelled
	case c.SendErr != nil:
		return fmt.Errorf("send: %w", c.SendErr)
	}
	fmt.Fprintln(opts.IO.Out, c.MessageID)
	return nil
}

// composerCheck is what a composed message must pass before its preview: the Cloud API's
// limits, then gtc send's rules (no message to an opted-out contact, no free-form message
// outside the 24-hour window), so the composer cannot send what the flags would refuse.
func composerCheck(ctx context.Context, opts *send.SendOptions) func(*whatsapp.Message) error {
	return func(m *whatsapp.Message) error {
		if err := m.Validate(); err != nil {
			return err
		}
		return opts.Guard(ctx, m)
	}
}
