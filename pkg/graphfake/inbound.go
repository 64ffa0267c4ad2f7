package graphfake

// Webhooks Meta posts that are not statuses of a send: customer messages (with phone
// numbers, business-scoped user ids or both), WhatsApp Flows replies, user id changes,
// standby copies, thread control handovers and the template lifecycle. Each builder
// returns the body exactly as Meta shapes it; PostWebhook signs and posts one.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sender is the customer an inbound webhook comes from: a phone number (WaID), a
// business-scoped user id (UserID), or both. Name and Username go in contacts[].profile;
// ParentUserID is set when the business has parent BSUIDs.
type Sender struct {
	WaID, UserID, ParentUserID string
	Name, Username             string
}

// contact is the sender's contacts[] entry.
func (f Sender) contact() map[string]any {
	c := map[string]any{}
	profile := map[string]string{"name": f.Name}
	if f.Username != "" {
		profile["username"] = f.Username
	}
	c["profile"] = profile
	if f.WaID != "" {
		c["wa_id"] = f.WaID
	}
	if f.UserID != "" {
		c["user_id"] = f.UserID
	}
	if f.ParentUserID != "" {
		c["parent_user_id"] = f.ParentUserID
	}
	return c
}

// key is how the fake keys f's thread: the phone number, else the BSUID.
func (f Sender) key() string {
	if f.WaID != "" {
		return f.WaID
	}
	return f.UserID
}

// message is the envelope of one inbound message from f: from is set only when Meta has
// the phone number; from_user_id whenever there is a BSUID.
func (f Sender) message(id, typ string, at time.Time) map[string]any {
	m := map[string]any{"id": id, "timestamp": strconv.FormatInt(at.Unix(), 10), "type": typ}
	if f.WaID != "" {
		m["from"] = f.WaID
	}
	if f.UserID != "" {
		m["from_user_id"] = f.UserID
	}
	return m
}

// valueEnvelope wraps a change value for this fake's number and account.
func (s *Server) valueEnvelope(field string, value map[string]any, entryTime *time.Time) []byte {
	value["messaging_product"] = "whatsapp"
	value["metadata"] = map[string]string{
		"display_phone_number": s.opts.DisplayPhoneNumber,
		"phone_number_id":      s.opts.PhoneNumberID,
	}
	return s.envelope(field, value, entryTime)
}

// envelope is the whatsapp_business_account body with one entry and one change. Template
// and account updates carry entry.time; message webhooks do not.
func (s *Server) envelope(field string, value map[string]any, entryTime *time.Time) []byte {
	entry := map[string]any{
		"id":      s.opts.BusinessAccountID,
		"changes": []map[string]any{{"field": field, "value": value}},
	}
	if entryTime != nil {
		entry["time"] = entryTime.Unix()
	}
	b, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{entry}})
	return b
}

// InboundMessage is the messages webhook of one customer message from f; msg holds the
// type's own object (e.g. {"text": {"body": "hi"}}) and may add context.
func (s *Server) InboundMessage(f Sender, id, typ string, msg map[string]any, at time.Time) []byte {
	m := f.message(id, typ, at)
	for k, v := range msg {
		m[k] = v
	}
	return s.valueEnvelope("messages", map[string]any{"contacts": []any{f.contact()}, "messages": []any{m}}, nil)
}

// InboundText is a customer's text message.
func (s *Server) InboundText(f Sender, id, text string, at time.Time) []byte {
	return s.InboundMessage(f, id, "text", map[string]any{"text": map[string]string{"body": text}}, at)
}

// InboundFlowReply is a submitted WhatsApp Flow (interactive nfm_reply) answering the flow
// message replyTo: response (the form's fields, with flow_token) goes in response_json as a
// JSON string, the way Meta sends it.
func (s *Server) InboundFlowReply(f Sender, id, replyTo string, response map[string]any, at time.Time) []byte {
	resp, _ := json.Marshal(response)
	msg := map[string]any{"interactive": map[string]any{"type": "nfm_reply",
		"nfm_reply": map[string]any{"name": "flow", "body": "Sent", "response_json": string(resp)}}}
	if replyTo != "" {
		msg["context"] = map[string]string{"from": s.opts.DisplayPhoneNumber, "id": replyTo}
	}
	return s.InboundMessage(f, id, "interactive", msg, at)
}

// InboundUserIDChange is the system message Meta sends when f's business-scoped user id
// changes to newUserID (type user_changed_user_id); it comes from the new id.
func (s *Server) InboundUserIDChange(f Sender, id, newUserID string, at time.Time) []byte {
	body := fmt.Sprintf("User %s changed from %s to %s", f.Name, f.UserID, newUserID)
	f.UserID = newUserID
	return s.InboundMessage(f, id, "system", map[string]any{"system": map[string]string{
		"body": body, "user_id": newUserID, "type": "user_changed_user_id"}}, at)
}

// StandbyText is the standby copy of a customer's text in a thread another responder
// (another app, Meta's business agent) controls: field standby, the messages shape.
func (s *Server) StandbyText(f Sender, id, text string, at time.Time) []byte {
	m := f.message(id, "text", at)
	m["text"] = map[string]string{"body": text}
	s.SetThreadOwner(f.key(), ThreadOther)
	return s.valueEnvelope("standby", map[string]any{"contacts": []any{f.contact()}, "messages": []any{m}}, nil)
}

// Handover is a messaging_handovers webhook: typ is control_passed (this app is the new
// owner) or control_taken (the escalation partner took the thread); owners are roles such
// as primary, escalation_partner or meta_business_agent.
func (s *Server) Handover(f Sender, typ, previousOwner, newOwner, metadata string, at time.Time) []byte {
	ctl := map[string]any{"previous_owner": map[string]string{"role": previousOwner}, "new_owner": map[string]string{"role": newOwner}}
	if metadata != "" {
		ctl["metadata"] = metadata
	}
	switch typ {
	case "control_passed":
		s.SetThreadOwner(f.key(), ThreadApp)
	case "control_taken":
		s.SetThreadOwner(f.key(), ThreadOther)
	}
	c := f.contact()
	delete(c, "profile")
	return s.valueEnvelope("messaging_handovers", map[string]any{
		"type": typ, "timestamp": strconv.FormatInt(at.Unix(), 10), "contacts": []any{c}, typ: ctl}, nil)
}

// template finds a template of the account by name and language.
func (s *Server) template(name, language string) (Template, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.templates {
		if t.Name == name && t.Language == language {
			return t, true
		}
	}
	return Template{}, false
}

// templateID is message_template_id: a number in Meta's webhooks.
func templateID(t Template) any {
	if n, err := strconv.ParseInt(t.ID, 10, 64); err == nil {
		return n
	}
	return t.ID
}

// TemplateStatus is a message_template_status_update webhook (event APPROVED, REJECTED,
// PAUSED, DISABLED, …; reason NONE when there is none) for a template of the account, and
// sets that template's status here too, as Meta would: a paused template then fails to
// send with 132015.
func (s *Server) TemplateStatus(name, language, event, reason string, at time.Time) ([]byte, error) {
	t, ok := s.template(name, language)
	if !ok {
		return nil, fmt.Errorf("graphfake: no template %s (%s)", name, language)
	}
	s.mu.Lock()
	for i := range s.templates {
		if s.templates[i].Name == name && s.templates[i].Language == language {
			s.templates[i].Status = event
			s.templates[i].RejectedReason = ""
			if reason != "" && reason != "NONE" {
				s.templates[i].RejectedReason = reason
			}
		}
	}
	s.mu.Unlock()
	if reason == "" {
		reason = "NONE"
	}
	v := map[string]any{"event": event, "message_template_id": templateID(t), "message_template_name": name,
		"message_template_language": language, "reason": reason, "message_template_category": t.Category}
	if event == "DISABLED" {
		v["disable_info"] = map[string]any{"disable_date": at.Unix()}
	}
	return s.envelope("message_template_status_update", v, &at), nil
}

// TemplateCategory is a template_category_update webhook: the template's category changed
// from previous to next (and is changed here too).
func (s *Server) TemplateCategory(name, language, previous, next string, at time.Time) ([]byte, error) {
	t, ok := s.template(name, language)
	if !ok {
		return nil, fmt.Errorf("graphfake: no template %s (%s)", name, language)
	}
	s.mu.Lock()
	for i := range s.templates {
		if s.templates[i].Name == name && s.templates[i].Language == language {
			s.templates[i].Category = strings.ToUpper(next)
		}
	}
	s.mu.Unlock()
	return s.envelope("template_category_update", map[string]any{"message_template_id": templateID(t),
		"message_template_name": name, "message_template_language": language,
		"previous_category": previous, "new_category": next}, &at), nil
}

// TemplateQuality is a message_template_quality_update webhook (GREEN, YELLOW, RED, UNKNOWN).
func (s *Server) TemplateQuality(name, language, previous, next string, at time.Time) ([]byte, error) {
	t, ok := s.template(name, language)
	if !ok {
		return nil, fmt.Errorf("graphfake: no template %s (%s)", name, language)
	}
	s.mu.Lock()
	for i := range s.templates {
		if s.templates[i].Name == name && s.templates[i].Language == language {
			s.templates[i].Quality = strings.ToUpper(next)
		}
	}
	s.mu.Unlock()
	return s.envelope("message_template_quality_update", map[string]any{"previous_quality_score": previous,
		"new_quality_score": next, "message_template_id": templateID(t), "message_template_name": name,
		"message_template_language": language}, &at), nil
}

// PostWebhook posts body to url the way Meta does (signed with appSecret when it is set)
// and returns the receiver's HTTP status.
func PostWebhook(ctx context.Context, url, appSecret string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facebookexternalua")
	if appSecret != "" {
		req.Header.Set("X-Hub-Signature-256", Sign(body, appSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}
