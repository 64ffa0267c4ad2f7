package send

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/whatsapp"
)

type result struct {
	MessageID string `json:"message_id"`
	To        string `json:"to"`
	Status    string `json:"status"`
}

func sendRun(o *SendOptions) error {
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.changed == nil {
		o.changed = func(string) bool { return false }
	}
	b, p, err := cmdutil.LoadProvider(o.BundleDir, o.Tenant, o.Team, o.LookupEnv)
	if err != nil {
		return err
	}
	var client *whatsapp.Client
	if !o.DryRun {
		if client, err = cmdutil.ClientFor(p, o.LookupEnv, o.HTTPClient, o.Clock); err != nil {
			return err
		}
	}
	kind, err := o.kind()
	if err != nil {
		return err
	}
	if kind == "" {
		if o.Composer == nil || !o.IO.CanPrompt() {
			return cmdutil.FlagErrorf("a message is required when not running interactively: give one of --%s", strings.Join(messageFlags, ", --"))
		}
		return o.compose(ctx, b, p, client)
	}

	if (o.Flow != "" || o.Node != "") && !o.DryRun {
		// A bundle with state: the start is a conversation gtc serve continues.
		st, err := cmdutil.OpenState(ctx, b)
		switch {
		case err == nil:
			defer st.Close()
			return o.startConversation(ctx, b, p, st, client)
		case !errors.Is(err, cmdutil.ErrNoState):
			return err
		}
	}
	contact, err := cmdutil.ReadContact(ctx, b, p, o.To)
	if err != nil {
		return err
	}
	msgs, err := o.messages(ctx, b, p, contact, client)
	if err != nil {
		return err
	}
	if err := refuse(contact, o.Now(), msgs...); err != nil {
		return err
	}
	book := o.templateBook(b, p, client)
	for _, m := range msgs {
		if err := whatsapp.Prepare(m); err != nil {
			return cmdutil.FlagErrorf("%v", err)
		}
		if err := book.check(ctx, m); err != nil {
			if errors.Is(err, context.Canceled) {
				return cmdutil.ErrCancelled
			}
			return err
		}
	}
	if o.DryRun {
		for _, m := range msgs {
			data, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				return fmt.Errorf("encode message: %w", err)
			}
			fmt.Fprintln(o.IO.Out, string(data))
		}
		if kind == "file" {
			fmt.Fprintf(o.IO.ErrOut, "dry run: %s would be uploaded first; its media id replaces %q\n", o.File, dryRunMediaID)
		}
		fmt.Fprintf(o.IO.ErrOut, "dry run: nothing sent (%d message(s) to %s via %s/%s)\n", len(msgs), o.To, p.Tenant, p.Team)
		return nil
	}
	pol := o.Retry
	if pol.MaxAttempts == 0 {
		pol.RetryOnRateLimit, pol.MaxAttempts = true, 5
	}
	userRetry := pol.OnRetry
	pol.OnRetry = func(attempt int, err error, wait time.Duration) {
		fmt.Fprintf(o.IO.ErrOut, "attempt %d failed (%s, code %d): retrying in %s\n", attempt, whatsapp.ClassOf(err), whatsapp.CodeOf(err), wait.Round(time.Millisecond))
		if userRetry != nil {
			userRetry(attempt, err, wait)
		}
	}
	rec, err := openRecorder(ctx, b, p)
	if err != nil {
		return err
	}
	defer rec.Close()
	enc := json.NewEncoder(o.IO.Out)
	for _, m := range msgs {
		if err := rec.limit(ctx, p, contact, m, o.Now()); err != nil {
			return err
		}
		res, err := client.SendWithRetry(ctx, m, pol)
		if rerr := rec.record(ctx, m, res, err); rerr != nil {
			fmt.Fprintf(o.IO.ErrOut, "warning: %v\n", rerr)
		}
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return cmdutil.ErrCancelled
			}
			return &SendError{Err: err}
		}
		if o.JSON {
			status := "accepted"
			if res.MessageStatus != "" {
				status = res.MessageStatus // the Marketing Messages API's: accepted, held_for_quality_assessment, …
			}
			if err := enc.Encode(result{MessageID: res.MessageID, To: m.To, Status: status}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(o.IO.ErrOut, "✓ sent %s to %s (accepted by the Cloud API; delivery comes as a status webhook)\n", describe(m), m.To)
		fmt.Fprintln(o.IO.Out, res.MessageID)
	}
	return nil
}

func describe(m *whatsapp.Message) string {
	switch {
	case m.Type == whatsapp.TypeTemplate:
		return "template " + m.Template.Name
	case m.Type == whatsapp.TypeInteractive && m.Interactive != nil:
		return m.Interactive.Type + " message"
	}
	return m.Type + " message"
}
