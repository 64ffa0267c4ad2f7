package send

import (
	"context"
	"fmt"
	"sync"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// compose opens the terminal composer with gtc send's rules (opt-out, 24-hour window,
// template status) and records each send it makes in the state database, as a flag send is
// (origin send). A recording that fails is a warning printed once the composer has closed:
// the terminal is the composer's until then.
func (o *SendOptions) compose(ctx context.Context, b *bundle.Bundle, p *bundle.Provider, client *whatsapp.Client) error {
	rec, err := openRecorder(ctx, b, p)
	if err != nil {
		return err
	}
	defer rec.Close()
	var (
		mu       sync.Mutex
		warnings []error
	)
	sent := func(m *whatsapp.Message, res *whatsapp.SendResult, sendErr error) {
		err := rec.record(ctx, m, res, sendErr)
		if sendErr == nil && err == nil {
			err = rec.count(context.WithoutCancel(ctx), p, m, o.Now())
		}
		if err != nil {
			mu.Lock()
			warnings = append(warnings, err)
			mu.Unlock()
		}
	}
	book := o.templateBook(b, p, client)
	err = o.Composer(ctx, o.IO, cmdutil.ComposeRequest{To: o.To, Client: client,
		Check: o.guard(ctx, b, p, book, rec), CheckRecipient: o.recipientGuard(ctx, b, p), Sent: sent})
	mu.Lock()
	defer mu.Unlock()
	for _, w := range warnings {
		fmt.Fprintf(o.IO.ErrOut, "warning: %v\n", w)
	}
	return err
}
