package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// dropped) together with the jobs that process them, and returns after the commit: only
// then may the POST be answered 200.
func (s *Service) Ingest(ctx context.Context, tenant, team string, events []whatsapp.Event) error {
	if s.stopping.Load() {
		return ErrStopped
	}
	start := time.Now()
	in := make([]store.InboundEvent, 0, len(events))
	for i := range events {
		ie, err := s.prepare(tenant, team, &events[i])
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		in = append(in, ie)
	}
	res, err := s.st.Ingest(ctx, tenant, team, in)
	if err != nil {
		return err
	}
	s.m.ingestSeconds.Observe(time.Since(start).Seconds())
	s.m.duplicates.Add(float64(res.Duplicates))
	for i := range in {
		if len(in[i].Events) > 0 {
			s.wakeEvents()
			break
		}
	}
	for i := range events {
		ev := &events[i]
		s.m.events.WithLabelValues(string(ev.Kind)).Inc()
		if ev.Kind == whatsapp.EventUnknown || ev.Kind == whatsapp.EventError {
			s.log.Warn("webhook event recorded without processing", "tenant", tenant, "team", team, "kind", ev.Kind, "field", ev.Field)
		}
	}
	return nil
}

// templateUpdate is what a template lifecycle webhook says, as the store records it: the
// time is entry.time (when Meta sent it), so a late redelivery never undoes a newer change.
func templateUpdate(ev *whatsapp.Event, now time.Time) *store.TemplateUpdate {
	t := ev.Template
	u := &store.TemplateUpdate{Name: t.Name, Language: t.Language, WABAID: ev.WABAID, ID: t.ID, At: now}
	if ev.EntryTime > 0 {
		u.At = time.Unix(ev.EntryTime, 0)
	}
	switch ev.Kind {
	case whatsapp.EventTemplateStatus:
		u.Status, u.Reason, u.Category = strings.ToUpper(t.Event), templateReason(t), strings.ToUpper(t.Category)
	case whatsapp.EventTemplateCategory:
		// An impending change (correct_category) is not the category yet.
		u.Category = strings.ToUpper(t.NewCategory)
		if t.PreviousCategory == "" && t.CorrectCategory != "" {
			u.Category = ""
		}
	case whatsapp.EventTemplateQuality:
		u.Quality = strings.ToUpper(t.NewQuality)
	}
	return u
}

// templateReason is Meta's reason for a status, with what other_info and disable_info add
// ("" when Meta gave none).
func templateReason(t *whatsapp.TemplateUpdate) string {
	var parts []string
	if t.Reason != "" && !strings.EqualFold(t.Reason, "NONE") {
		parts = append(parts, t.Reason)
	}
	if t.OtherInfo != nil {
		for _, s := range []string{t.OtherInfo.Title, t.OtherInfo.Description} {
			if s != "" {
				parts = append(parts, s)
			}
		}
	}
	if t.DisableDate != "" {
		d := t.DisableDate
		if n, err := strconv.ParseInt(d, 10, 64); err == nil {
			d = time.Unix(n, 0).UTC().Format(time.RFC3339)
		}
		parts = append(parts, "disabled on "+d)
	}
	return strings.Join(parts, "; ")
}

// handoverThread is who controls the thread after a messaging_handovers webhook:
// control_passed is sent to the new owner (gtc), control_taken to the one that lost it.
func handoverThread(h *whatsapp.Handover, now time.Time) *store.ThreadUpdate {
	u := &store.ThreadUpdate{ContactKey: h.ContactKey(), Why: h.Type, Role: h.NewOwner, At: now}
	if h.Timestamp > 0 {
		u.At = time.Unix(h.Timestamp, 0)
	}
	switch h.Type {
	case "control_passed":
		u.Owner = store.ThreadGTC
	case "control_taken":
		u.Owner = store.ThreadOther
	default:
		return nil // a newer kind of handover: recorded as an event, the thread unchanged
	}
	return u
}

// standbyThread marks the thread of a standby copy's customer as another responder's.
func standbyThread(ev *whatsapp.Event, now time.Time) *store.ThreadUpdate {
	u := &store.ThreadUpdate{ContactKey: ev.ContactKey(), Owner: store.ThreadOther, Why: "standby", At: now}
	switch {
	case ev.Message != nil && ev.Message.Timestamp > 0:
		u.At = time.Unix(ev.Message.Timestamp, 0)
	case ev.Status != nil && ev.Status.Timestamp > 0:
		u.At = time.Unix(ev.Status.Timestamp, 0)
	}
	if u.ContactKey == "" {
		return nil
	}
	return u
}

// prepare turns a parsed webhook event into what the store records.
func (s *Service) prepare(tenant, team string, ev *whatsapp.Event) (store.InboundEvent, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return store.InboundEvent{}, fmt.Errorf("encode event: %w", err)
	}
	ie := store.InboundEvent{Kind: string(ev.Kind), DedupeKey: ev.DedupeKey(), Raw: raw}
	switch {
	case ev.Kind == whatsapp.EventMessage && ev.Message != nil && ev.Message.ContactKey() != "" && ev.Message.ID != "":
		m := ev.Message
		ie.ContactKey, ie.MessageID, ie.MessageType = m.ContactKey(), m.ID, m.Type
		ie.WaID, ie.UserID, ie.Name = m.From, m.FromUser, m.ContactName
		ie.Aliases, ie.Lookup = messageAliases(m)
		if sc := m.SystemChange; sc != nil && sc.Type == whatsapp.SystemUserChangedUserID && sc.UserID != "" {
			ie.UserID = sc.UserID
		}
		ie.Timestamp = time.Unix(m.Timestamp, 0)
		if m.Timestamp == 0 {
			ie.Timestamp = s.now()
		}
	case ev.Kind == whatsapp.EventMessage:
		// No sender or no id: nobody to answer and nothing to dedupe on. Kept as unknown
		// rather than failing the POST, which Meta would retry for days.
		ie.Kind, ie.DedupeKey = store.KindUnknown, ""
	case ev.Kind == whatsapp.EventStandby:
		// Another responder has the thread: recorded (a message also opens the window),
		// never answered.
		ie.Thread = standbyThread(ev, s.now())
		if m := ev.Message; m != nil && m.ContactKey() != "" {
			ie.ContactKey, ie.MessageID, ie.MessageType = m.ContactKey(), m.ID, m.Type
			ie.WaID, ie.UserID, ie.Name = m.From, m.FromUser, m.ContactName
			ie.Timestamp = time.Unix(m.Timestamp, 0)
		} else if st := ev.Status; st != nil {
			ie.ContactKey, ie.WaID, ie.UserID = ev.ContactKey(), st.RecipientID, st.RecipientUserID
		}
	case ev.Template != nil:
		ie.Template = templateUpdate(ev, s.now())
	case ev.Handover != nil:
		h := ev.Handover
		ie.Thread = handoverThread(h, s.now())
		ie.ContactKey, ie.WaID, ie.UserID = h.ContactKey(), h.WaID, h.UserID
	case ev.Status != nil && ev.Status.ID != "":
		st := ev.Status
		u := &store.StatusUpdate{WAMID: st.ID, Status: st.Status, At: time.Unix(st.Timestamp, 0), Pricing: pricingOf(st)}
		if c, ok := whatsapp.ParseCallback(st.BizOpaqueCallbackData); ok {
			// Settles that send if its answer was lost (and the row is this database's).
			u.OutboundID, u.Attempt, u.OutboundCreated = c.OutboundID, c.Attempt, c.Created
		}
		if len(st.Errors) > 0 {
			info := s.cfg.ClassifyCode(st.Errors[0].Code)
			u.ErrorCode, u.ErrorClass, u.Unreachable = st.Errors[0].Code, info.Class, info.Unreachable
		}
		ie.Status = u
		if p := s.provider(tenant, team); eventsOn(p) {
			ie.Events = statusEvents(tenant, team, st, s.cfg.ClassifyCode(firstCode(st)), s.now())
		}
	case ev.Preference != nil:
		p := ev.Preference
		key := p.WaID
		if key == "" {
			key = p.UserID
		}
		ie.Preference = &store.PreferenceUpdate{ContactKey: key, Value: p.Value, At: time.Unix(p.Timestamp, 0)}
		if p.WaID != "" {
			ie.Aliases = append(ie.Aliases, store.Alias{Value: p.WaID, Kind: store.AliasWaID})
			ie.Lookup = whatsapp.NumberVariants(p.WaID)
		}
		if p.UserID != "" {
			ie.Aliases = append(ie.Aliases, store.Alias{Value: p.UserID, Kind: store.AliasBSUID})
		}
	}
	if ie.Kind == store.KindStatus && ie.Status == nil {
		ie.Kind, ie.DedupeKey = store.KindUnknown, ""
	}
	if ie.DedupeKey == "" {
		// Errors, preferences and unknown changes carry no id: their content is their key.
		h := sha256.Sum256(append([]byte(string(ev.Kind)+"\x00"+ev.Field+"\x00"), ev.Raw...))
		if len(ev.Raw) == 0 {
			h = sha256.Sum256(raw)
		}
		ie.DedupeKey = string(ev.Kind) + ":" + hex.EncodeToString(h[:16])
	}
	return ie, nil
}

// pricingOf is what a status says Meta bills: its pricing and conversation objects (nil
// when it carries neither).
func pricingOf(st *whatsapp.Status) *store.Pricing {
	if st.Pricing == nil && st.Conversation == nil {
		return nil
	}
	p := &store.Pricing{}
	if w := st.Pricing; w != nil {
		p.Billable, p.PricingModel, p.Category, p.Type = w.Billable, w.PricingModel, w.Category, w.Type
	}
	if c := st.Conversation; c != nil {
		p.ConversationID, p.ConversationOrigin = c.ID, c.OriginType
		if c.ExpirationTimestamp > 0 {
			p.ConversationExpires = time.Unix(c.ExpirationTimestamp, 0)
		}
	}
	return p
}

// messageAliases are the names a message gives its sender, surest first (the store records
// the message for the identity the first known one names, and all of them as its aliases):
// the wa_id; a user_changed_number's new number; the business-scoped user id, or for a
// user_changed_user_id the one changed from (kept as a previous id) and then the new one.
// lookup are the wa_id's country variants, to find the identity by, not recorded.
func messageAliases(m *whatsapp.InboundMessage) (aliases []store.Alias, lookup []string) {
	if m.From != "" {
		aliases = append(aliases, store.Alias{Value: m.From, Kind: store.AliasWaID})
		lookup = whatsapp.NumberVariants(m.From)
	}
	sc := m.SystemChange
	if sc != nil && sc.Type == whatsapp.SystemUserChangedNumber && sc.WaID != "" && sc.WaID != m.From {
		aliases = append(aliases, store.Alias{Value: sc.WaID, Kind: store.AliasWaID})
	}
	if sc != nil && sc.Type == whatsapp.SystemUserChangedUserID && sc.UserID != "" {
		old := sc.PreviousUserID
		if old == "" && m.FromUser != sc.UserID {
			old = m.FromUser
		}
		if old != "" {
			aliases = append(aliases, store.Alias{Value: old, Kind: store.AliasPreviousBSUID})
		}
		return append(aliases, store.Alias{Value: sc.UserID, Kind: store.AliasBSUID}), lookup
	}
	if m.FromUser != "" {
		aliases = append(aliases, store.Alias{Value: m.FromUser, Kind: store.AliasBSUID})
	}
	return aliases, lookup
}
