package send

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// ReasonTemplateNotSendable is the refusal reason of a template Meta paused, disabled or
// rejected (delivery's rule).
const ReasonTemplateNotSendable = delivery.ReasonTemplateNotSendable

// TemplateRefusal is a template gtc send refused before sending because Meta would refuse
// it: delivery.TemplateRefusal's verdict on what Graph's template list says now and what
// the state database recorded from Meta's webhooks. Exit code 1.
type TemplateRefusal = delivery.TemplateRefusedError

// templateBook looks the templates a send uses up, once: in the business account's list
// on Graph and in what the state database recorded from template webhooks. It refuses
// templates Meta would refuse (delivery.TemplateRefusal) and marks marketing ones (the
// Marketing Messages API takes them when the bundle says so).
type templateBook struct {
	client *whatsapp.Client
	warn   io.Writer
	now    func() time.Time
	// recorded reads what the state database recorded (nil: the bundle has no state).
	recorded func(ctx context.Context) ([]*store.TemplateState, error)
	loaded   bool
	list     []whatsapp.TemplateInfo
	states   []*store.TemplateState
}

// templateBook is the book of a send from provider p of bundle b.
func (o *SendOptions) templateBook(b *bundle.Bundle, p *bundle.Provider, client *whatsapp.Client) *templateBook {
	return &templateBook{client: client, warn: o.IO.ErrOut, now: o.Now,
		recorded: func(ctx context.Context) ([]*store.TemplateState, error) { return cmdutil.RecordedTemplates(ctx, b, p) }}
}

// check refuses m when it is a template Meta would refuse, and marks a marketing template.
// A template neither Graph's list nor the state knows is left to Graph to judge (its error
// says what is wrong).
func (tb *templateBook) check(ctx context.Context, m *whatsapp.Message) error {
	if tb == nil || m.Type != whatsapp.TypeTemplate || m.Template == nil {
		return nil
	}
	if !tb.loaded {
		tb.loaded = true
		if err := tb.load(ctx); err != nil {
			return err
		}
	}
	name, lang := m.Template.Name, m.Template.Language.Code
	var live *whatsapp.TemplateInfo
	for i := range tb.list {
		if tb.list[i].Name == name && tb.list[i].Language == lang {
			live = &tb.list[i]
			break
		}
	}
	var rec *store.TemplateState
	for _, t := range tb.states {
		if t.Name == name && t.Language == lang {
			rec = t
			break
		}
	}
	now := time.Now
	if tb.now != nil {
		now = tb.now
	}
	seen := delivery.TemplateSeen(rec, live, now())
	if tr := delivery.TemplateRefusal(seen); tr != nil {
		return tr
	}
	if seen != nil {
		m.Marketing = strings.EqualFold(seen.Category, "MARKETING")
	}
	return nil
}

// load reads Graph's template list and the recorded states.
func (tb *templateBook) load(ctx context.Context) error {
	if tb.client != nil {
		list, err := tb.client.ListTemplates(ctx)
		switch {
		case errors.Is(err, whatsapp.ErrNoBusinessAccount):
			// no account to ask: the state, else Graph, judges the send
		case errors.Is(err, context.Canceled):
			return err
		case err != nil:
			fmt.Fprintf(tb.warn, "warning: could not read the templates' status (%s); sending anyway\n", firstLine(err.Error()))
		default:
			tb.list = list
		}
	}
	if tb.recorded != nil {
		states, err := tb.recorded(ctx)
		if err != nil {
			fmt.Fprintf(tb.warn, "warning: could not read the templates' recorded status (%s)\n", firstLine(err.Error()))
		}
		tb.states = states
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
