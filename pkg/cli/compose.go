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
// req.CheckRecipient refuses a recipient when it is entered (an opted-out contact);
// req.Sent hears of every send attempt (gtc send records it).
func Compose(ctx context.Context, io *cmdutil.IOStreams, req cmdutil.ComposeRequest) error {
	check := req.Check
	if check == nil {
		check = func(m *whatsapp.Message) error { return m.Validate() }
	}
	c := tui.NewComposer(tui.ComposerConfig{Styles: tui.NewStyles(io.ErrOut, io.NoColor), Keys: tui.DefaultKeyMap(),
		Context: ctx, Backend: sentBackend{ClientBackend: tui.ClientBackend{Client: req.Client}, sent: req.Sent}, Normalize: whatsapp.NormalizeE164,
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

// sentBackend is the composer's Graph API client, telling sent of each send's outcome.
type sentBackend struct {
	tui.ClientBackend
	sent func(*whatsapp.Message, *whatsapp.SendResult, error)
}

// Send sends one message (one attempt), as tui.ClientBackend does, and reports it to sent.
func (b sentBackend) Send(ctx context.Context, m *whatsapp.Message) (string, error) {
	res, err := b.Client.Send(ctx, m)
	if b.sent != nil {
		b.sent(m, res, err)
	}
	if err != nil {
		return "", err
	}
	return res.MessageID, nil
}
