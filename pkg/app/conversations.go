package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/server"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// Conversations adapts delivery and the store to server.ConversationService (the
// conversations API): reads come from the store, changes (handoff, release, notes) go
// through delivery, under the contact's lease where they touch the conversation.
type Conversations struct {
	Delivery *delivery.Service
	Store    *store.Store
	Now      func() time.Time // nil: time.Now
}

var _ server.ConversationService = (*Conversations)(nil)

// NewConversations is the ConversationService of a running delivery service.
func NewConversations(d *delivery.Service, st *store.Store, now func() time.Time) *Conversations {
	return &Conversations{Delivery: d, Store: st, Now: now}
}

func (c *Conversations) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// contactName is how the API names a contact key: E.164 with + for a number, a BSUID as it is.
func contactName(key string) string {
	if key != "" && strings.Trim(key, "0123456789") == "" {
		return "+" + key
	}
	return key
}

func stateOf(cv *store.Conversation) string {
	switch {
	case cv.Status == store.StatusHandoff:
		return "handoff"
	case cv.State != nil:
		return "bot"
	}
	return "none"
}

func (c *Conversations) summary(ctx context.Context, cv *store.Conversation, ct *store.Contact) (server.ConversationSummary, error) {
	s := server.ConversationSummary{Contact: contactName(cv.ContactKey), Name: ct.Name, State: stateOf(cv), Flow: cv.Flow, Node: cv.Node,
		OptedOut: ct.OptedOut}
	if s.State == "handoff" {
		s.Queue, s.Note = cv.Queue, cv.Note
	}
	if !cv.WaitingSince.IsZero() && s.State != "none" {
		t := cv.WaitingSince
		s.WaitingSince = &t
	}
	if !ct.LastInboundAt.IsZero() {
		t := ct.LastInboundAt.Add(24 * time.Hour)
		s.WindowClosesAt = &t
	}
	n, err := c.Store.Unread(ctx, store.ContactRef{Tenant: cv.Tenant, Team: cv.Team, Key: cv.ContactKey}, cv.AgentReadAt)
	if err != nil {
		return s, err
	}
	s.Unread = n
	return s, nil
}

// ListConversations lists tenant/team's conversations, longest waiting first.
func (c *Conversations) ListConversations(ctx context.Context, tenant, team string, f server.ConversationFilter) ([]server.ConversationSummary, error) {
	state := f.State
	if state == "" {
		state = "handoff"
	}
	switch state {
	case "handoff", "bot", "all":
	default:
		return nil, fmt.Errorf("state %q: use handoff, bot or all", f.State)
	}
	convs, err := c.Store.Conversations(ctx, tenant, team)
	if err != nil {
		return nil, err
	}
	var out []server.ConversationSummary
	for _, cv := range convs {
		st := stateOf(cv)
		if (state != "all" && st != state) || (f.Queue != "" && cv.Queue != f.Queue) {
			continue
		}
		ct, err := c.Store.Contact(ctx, cv.Tenant, cv.Team, cv.ContactKey)
		if err != nil {
			return nil, err
		}
		s, err := c.summary(ctx, cv, ct)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b server.ConversationSummary) int {
		switch {
		case a.WaitingSince == nil && b.WaitingSince == nil:
			return 0
		case a.WaitingSince == nil:
			return 1
		case b.WaitingSince == nil:
			return -1
		}
		return a.WaitingSince.Compare(*b.WaitingSince)
	})
	return out, nil
}

// GetConversation answers one contact's state (server.ErrContactNotFound when gtc never saw it).
func (c *Conversations) GetConversation(ctx context.Context, tenant, team, contact string) (*server.ConversationDetail, error) {
	ct, err := delivery.ResolveContact(ctx, c.Store, tenant, team, contact)
	if err != nil {
		return nil, err
	}
	key := ct.Key
	if !ct.Known {
		return nil, fmt.Errorf("%s: %w", contact, server.ErrContactNotFound)
	}
	cv, err := c.Store.ConversationOf(ctx, store.ContactRef{Tenant: tenant, Team: team, Key: key})
	if err != nil {
		return nil, err
	}
	s, err := c.summary(ctx, cv, ct)
	if err != nil {
		return nil, err
	}
	d := &server.ConversationDetail{ConversationSummary: s, User: cv.User}
	if !cv.Deadline.IsZero() {
		t := cv.Deadline
		d.Deadline = &t
	}
	return d, nil
}

// ConversationMessages pages a contact's history (both directions and notes).
func (c *Conversations) ConversationMessages(ctx context.Context, tenant, team, contact, before string, limit int) (server.HistoryPage, error) {
	ct, err := delivery.ResolveContact(ctx, c.Store, tenant, team, contact)
	if err != nil {
		return server.HistoryPage{}, err
	}
	ref := store.ContactRef{Tenant: tenant, Team: team, Key: ct.Key}
	if !ct.Known {
		return server.HistoryPage{}, fmt.Errorf("%s: %w", contact, server.ErrContactNotFound)
	}
	entries, more, err := c.Store.History(ctx, ref, before, limit)
	if err != nil {
		return server.HistoryPage{}, err
	}
	page := server.HistoryPage{Items: make([]server.HistoryItem, 0, len(entries))}
	for _, e := range entries {
		page.Items = append(page.Items, historyItem(e))
	}
	if more && len(entries) > 0 {
		page.Before = entries[0].Cursor
	}
	return page, nil
}

func historyItem(e store.HistoryEntry) server.HistoryItem {
	it := server.HistoryItem{Cursor: e.Cursor, At: e.At, Dir: e.Dir}
	switch {
	case e.Event != nil:
		it.ID, it.Kind = e.Event.MessageID, e.Event.MessageType
		var ev whatsapp.Event
		if json.Unmarshal(e.Event.Raw, &ev) == nil && ev.Message != nil {
			m := ev.Message
			it.Kind, it.Text = m.Type, inboundText(m)
			it.Message, _ = json.Marshal(m)
		}
	case e.Outbound != nil:
		o := e.Outbound
		it.ID, it.Kind, it.Message = fmt.Sprint(o.ID), o.MessageType, json.RawMessage(o.Request)
		it.By = "bot"
		if o.Origin == store.OriginAPI || o.Origin == store.OriginSend {
			it.By = "api"
		}
		var m whatsapp.Message
		if json.Unmarshal(o.Request, &m) == nil {
			it.Text = outboundText(&m)
		}
		it.Status, it.ErrorClass, it.ErrorCode = o.State, o.ErrorClass, o.ErrorCode
		switch o.State {
		case store.OutPending, store.OutRetrying, store.OutSending, store.OutAmbiguous:
			it.Status = "queued"
		}
	case e.Note != nil:
		it.ID, it.Kind, it.By, it.Text = fmt.Sprintf("note-%d", e.Note.ID), "note", e.Note.Author, e.Note.Text
	}
	return it
}

func inboundText(m *whatsapp.InboundMessage) string {
	switch {
	case m.Text != "":
		return m.Text
	case m.Button != nil:
		return m.Button.Title
	}
	return ""
}

func outboundText(m *whatsapp.Message) string {
	switch {
	case m.Text != nil:
		return m.Text.Body
	case m.Interactive != nil && m.Interactive.Body != nil:
		return m.Interactive.Body.Text
	case m.Template != nil:
		return "template " + m.Template.Name
	}
	return ""
}

// Handoff takes the contact over from the bot.
func (c *Conversations) Handoff(ctx context.Context, tenant, team, contact string, req server.HandoffRequest) error {
	err := c.Delivery.Handoff(ctx, tenant, team, contact, req.Queue, req.Note, req.By)
	if errors.Is(err, delivery.ErrWithPerson) {
		return fmt.Errorf("%s: %w", contact, server.ErrAlreadyHandedOff)
	}
	return err
}

// Release hands the contact back to the bot at req.Node ("" = on_release, or the end);
// with req.ReleaseThread it then releases the thread to Meta's routing.
func (c *Conversations) Release(ctx context.Context, tenant, team, contact string, req server.ReleaseRequest) error {
	err := c.Delivery.Release(ctx, tenant, team, contact, req.Node, req.By)
	if errors.Is(err, delivery.ErrNotWithPerson) {
		return fmt.Errorf("%s: %w", contact, server.ErrNotHandedOff)
	}
	if err != nil || !req.ReleaseThread {
		return err
	}
	return c.Delivery.ThreadControl(ctx, tenant, team, contact, whatsapp.ThreadRelease, "")
}

// AddNote adds an internal note (never sent) to the contact's history.
func (c *Conversations) AddNote(ctx context.Context, tenant, team, contact, author, text string) error {
	return c.Delivery.AddNote(ctx, tenant, team, contact, author, text)
}
