package cli

import (
	"context"
	"fmt"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/tui"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// Compose is the Factory's terminal composer (cmdutil.Composer) that gtc send opens on a
// terminal without a message flag: it sends with req.Client, prints the message id on
// stdout, and turns Ctrl+C into exit 130 and a failed send into exit 1 without a second
// message (ErrSilent: the screen showed the classified error and its advice once).
// req.CheckRecipient refuses a recipient when it is entered (an opted-out contact).
func Compose(ctx context.Context, io *cmdutil.IOStreams, req cmdutil.ComposeRequest) error {
	check := req.Check
	if check == nil {
		check = func(m *whatsapp.Message) error { return m.Validate() }
	}
	c := tui.NewComposer(tui.ComposerConfig{Styles: tui.NewStyles(io.ErrOut, io.NoColor), Keys: tui.DefaultKeyMap(),
		Context: ctx, Backend: tui.ClientBackend{Client: req.Client}, Normalize: whatsapp.NormalizeE164,
		CheckRecipient: req.CheckRecipient, Check: check, Explain: tui.ExplainSendError, To: req.To})
	if _, err := tui.Run(ctx, c, io.In, io.ErrOut); err != nil {
		return err
	}
	switch {
	case c.Cancelled || !c.Sent:
		return cmdutil.ErrCancelled
	case c.SendErr != nil:
		return cmdutil.ErrSilent
	}
	fmt.Fprintln(io.Out, c.MessageID)
	return nil
}
