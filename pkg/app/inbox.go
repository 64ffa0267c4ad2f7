package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/server"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/tui"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// InboxRequest says which bundle, database and provider gtc inbox opens (the same fields
// as cmdutil.InboxRequest; pkg/app does not import pkg/cli).
type InboxRequest struct {
	Dir      string // the bundle
	Database string // --database or GTC_DATABASE_URL; "" = the bundle's own
	Tenant   string // "" with Team "" = the bundle's only enabled provider
	Team     string
	Agent    string // the agent's name, recorded on notes and releases
	// LookupEnv resolves ${NAME} references and the database URL; nil = os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Inbox is gtc inbox's backend (tui.InboxBackend) for one tenant/team: the handoffs in the
// store, replies through delivery's Send (same rules, pacing and retries as every send),
// releases and notes through delivery. It needs no running workers of its own: a retry or
// a release it queues is worked by gtc serve's.
type Inbox struct {
	Conversations *Conversations
	Delivery      *delivery.Service
	Store         *store.Store
	Tenant, Team  string
	Agent         string
	Flows         *flow.Set
	// ListTemplates lists the number's templates (the Cloud API client's ListTemplates).
	ListTemplates func(ctx context.Context) ([]whatsapp.TemplateInfo, error)
	Now           func() time.Time
}

var _ tui.InboxBackend = (*Inbox)(nil)

// OpenInbox opens the bundle's store and provider for gtc inbox. Close the returned closer
// when done (it closes the store).
func OpenInbox(ctx context.Context, req InboxRequest) (tui.InboxBackend, io.Closer, error) {
	lookup := req.LookupEnv
	b, err := bundle.Load(req.Dir, bundle.LoadOptions{LookupEnv: lookup})
	if err != nil {
		return nil, nil, fmt.Errorf("load bundle: %w", err)
	}
	p, err := EnabledProvider(b, req.Tenant, req.Team)
	if err != nil {
		return nil, nil, err
	}
	dsn := req.Database
	if dsn == "" {
		dsn = b.Database(lookup)
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("open the state database: %w", err)
	}
	fail := func(err error) (tui.InboxBackend, io.Closer, error) {
		st.Close()
		return nil, nil, err
	}
	flows, err := flow.LoadFiles(b.FlowFiles())
	if err != nil {
		return fail(fmt.Errorf("load flows: %w", err))
	}
	client, err := NewClient(p, lookup, ClientOptions{})
	if err != nil {
		return fail(err)
	}
	// Events the inbox makes (a handoff, a send that fails) wait in the outbox for gtc serve
	// to deliver: the inbox does not start the delivery loop.
	eu, es := EventsTarget(p, lookup)
	svc, err := delivery.New(delivery.Config{Providers: []delivery.Provider{{Tenant: p.Tenant, Team: p.Team,
		PhoneNumberID: p.PhoneNumberID, Sender: delivery.ClientSender(client), EventsURL: eu, EventsSecret: es}}, Flows: flows, Store: st})
	if err != nil {
		return fail(err)
	}
	in := &Inbox{Conversations: NewConversations(svc, st, nil), Delivery: svc, Store: st, Tenant: p.Tenant, Team: p.Team,
		Agent: req.Agent, Flows: flows, ListTemplates: client.ListTemplates}
	return in, storeCloser{st}, nil
}

type storeCloser struct{ st *store.Store }

func (c storeCloser) Close() error { return c.st.Close() }

func (in *Inbox) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

func (in *Inbox) agent() string {
	if in.Agent == "" {
		return "agent"
	}
	return in.Agent
}

// List returns the open handoffs, the longest waiting first.
func (in *Inbox) List(ctx context.Context, f tui.InboxFilter) ([]tui.InboxConversation, error) {
	list, err := in.Conversations.ListConversations(ctx, in.Tenant, in.Team, serverFilter(f.Queue))
	if err != nil {
		return nil, err
	}
	out := make([]tui.InboxConversation, 0, len(list))
	for _, s := range list {
		c := tui.InboxConversation{Contact: s.Contact, Name: s.Name, Queue: s.Queue, Note: s.Note, Unread: s.Unread, OptedOut: s.OptedOut}
		if s.WaitingSince != nil {
			c.Since = *s.WaitingSince
		}
		if s.WindowClosesAt != nil {
			c.WindowClosesAt = *s.WindowClosesAt
		}
		out = append(out, c)
	}
	return out, nil
}

// History returns up to limit entries of contact's history, oldest first.
func (in *Inbox) History(ctx context.Context, contact, before string, limit int) ([]tui.InboxMessage, error) {
	ref, err := in.ref(ctx, contact)
	if err != nil {
		return nil, err
	}
	entries, _, err := in.Store.History(ctx, ref, before, limit)
	if err != nil {
		return nil, err
	}
	out := make([]tui.InboxMessage, 0, len(entries))
	for _, e := range entries {
		m := tui.InboxMessage{Cursor: e.Cursor, At: e.At, Dir: e.Dir}
		switch {
		case e.Event != nil:
			m.ID = e.Event.MessageID
			var ev whatsapp.Event
			if json.Unmarshal(e.Event.Raw, &ev) == nil {
				m.In = ev.Message
			}
		case e.Outbound != nil:
			o := e.Outbound
			m.ID, m.By, m.Status = strconv.FormatInt(o.ID, 10), "bot", o.State
			if o.Origin == store.OriginAPI || o.Origin == store.OriginSend {
				m.By = "agent"
			}
			var msg whatsapp.Message
			if json.Unmarshal(o.Request, &msg) == nil {
				m.Out = &msg
			}
			switch o.State {
			case store.OutPending, store.OutRetrying, store.OutSending, store.OutAmbiguous:
				m.Status = "queued"
			case store.OutRefused:
				m.Status = "failed"
			}
			if m.Status == "failed" {
				m.Failure = &tui.InboxFailure{Class: whatsapp.ErrorClass(o.ErrorClass), Code: o.ErrorCode, Title: o.ErrorMessage}
			}
		case e.Note != nil:
			m.ID, m.By, m.Text = fmt.Sprintf("note-%d", e.Note.ID), e.Note.Author, e.Note.Text
		}
		out = append(out, m)
	}
	return out, nil
}

// MarkRead restarts contact's unread count.
func (in *Inbox) MarkRead(ctx context.Context, contact string) error {
	ref, err := in.ref(ctx, contact)
	if err != nil {
		return err
	}
	return in.Store.MarkAgentRead(ctx, ref)
}

// ref is the identity contact names (delivery.ResolveContact).
func (in *Inbox) ref(ctx context.Context, contact string) (store.ContactRef, error) {
	c, err := delivery.ResolveContact(ctx, in.Store, in.Tenant, in.Team, contact)
	if err != nil {
		return store.ContactRef{}, err
	}
	return store.ContactRef{Tenant: in.Tenant, Team: in.Team, Key: c.Key}, nil
}

// Reply sends an agent's reply through delivery; refusals are *tui.InboxRefusal.
func (in *Inbox) Reply(ctx context.Context, contact string, r tui.InboxReply) error {
	ref, err := in.ref(ctx, contact)
	if err != nil {
		return err
	}
	cv, err := in.Store.ConversationOf(ctx, ref)
	if err != nil {
		return err
	}
	if cv.Status != store.StatusHandoff {
		return &tui.InboxRefusal{Code: tui.RefusedNotHandedOff,
			Reason: "the conversation is back with the bot (released or timed out): hand it off again to reply"}
	}
	rows, err := in.Delivery.Send(ctx, in.Tenant, in.Team, []delivery.OutboundMessage{{Message: *r.Message(contact),
		Origin: store.OriginAPI, RetryOnRateLimit: true}})
	if err != nil {
		return err
	}
	var re *delivery.RefusedError
	if err := delivery.Refused(rows); errors.As(err, &re) {
		switch re.Reason {
		case delivery.ReasonOptedOut:
			return &tui.InboxRefusal{Code: tui.RefusedOptedOut, Reason: "the customer opted out (STOP): nothing can be sent until they write START"}
		case delivery.ReasonWindowClosed:
			return &tui.InboxRefusal{Code: tui.RefusedWindowClosed, Reason: "the 24-hour window is closed: send an approved template instead"}
		}
		return &tui.InboxRefusal{Code: re.Reason, Reason: "refused: " + strings.ReplaceAll(re.Reason, "_", " ")}
	}
	return nil
}

// Templates lists the number's templates.
func (in *Inbox) Templates(ctx context.Context) ([]tui.Template, error) {
	if in.ListTemplates == nil {
		return nil, nil
	}
	infos, err := in.ListTemplates(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]tui.Template, 0, len(infos))
	for _, ti := range infos {
		if ti.Status != "" && !strings.EqualFold(ti.Status, "APPROVED") {
			continue
		}
		out = append(out, tui.TemplateFromInfo(ti))
	}
	return out, nil
}

// Note adds an internal note.
func (in *Inbox) Note(ctx context.Context, contact, text string) error {
	return in.Delivery.AddNote(ctx, in.Tenant, in.Team, contact, in.agent(), text)
}

// Release hands contact back to the bot at node ("flow/node"; "" = on_release or the end).
func (in *Inbox) Release(ctx context.Context, contact, node string) error {
	err := in.Delivery.Release(ctx, in.Tenant, in.Team, contact, node, in.agent())
	if errors.Is(err, delivery.ErrNotWithPerson) {
		return &tui.InboxRefusal{Code: tui.RefusedNotHandedOff, Reason: "the conversation is already back with the bot"}
	}
	return err
}

// Nodes lists the nodes an agent may release to, as "flow/node".
func (in *Inbox) Nodes() []string {
	if in.Flows == nil {
		return nil
	}
	var out []string
	for _, f := range in.Flows.Flows {
		for _, n := range f.Nodes {
			out = append(out, f.Name+"/"+n.ID)
		}
	}
	return out
}

func serverFilter(queue string) server.ConversationFilter {
	return server.ConversationFilter{State: "handoff", Queue: queue}
}
