package whatsapp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// EventKind says what a webhook event is.
type EventKind string

const (
	EventMessage    EventKind = "message"          // an inbound message from a customer
	EventStatus     EventKind = "status"           // sent / delivered / read / failed / played
	EventError      EventKind = "error"            // value.errors: a problem Meta reports about the app
	EventPreference EventKind = "user_preferences" // marketing stop / resume
	EventUnknown    EventKind = "unknown"          // a change field gtc does not know: kept, logged, counted
)

// Event is one thing a webhook POST told gtc. A POST carries entries × changes × (messages,
// statuses, errors); the webhook parser flattens them into Events, in payload order, and
// the delivery pipeline records them in one transaction before the POST is acknowledged.
type Event struct {
	Kind EventKind `json:"kind"`
	// Where it came from: entry.id (the WhatsApp Business Account), change.field, and
	// value.metadata.
	WABAID             string `json:"waba_id,omitempty"`
	Field              string `json:"field,omitempty"`
	PhoneNumberID      string `json:"phone_number_id,omitempty"`
	DisplayPhoneNumber string `json:"display_phone_number,omitempty"`
	// EntryTime is entry.time (Unix seconds) when Meta sends one (template and account
	// updates do), else 0.
	EntryTime int64 `json:"entry_time,omitempty"`

	Message    *InboundMessage `json:"message,omitempty"`
	Status     *Status         `json:"status,omitempty"`
	Error      *ErrorDetail    `json:"error,omitempty"`
	Preference *UserPreference `json:"preference,omitempty"`
	// Raw is the object as received (message, status, error or change value), so nothing
	// Meta sent is lost even when gtc does not understand it.
	Raw json.RawMessage `json:"raw,omitempty"`
	// Reason says, for an EventUnknown that gtc could not read, what was wrong and where
	// (a JSON path in the body: "entry[0].changes[0].value.messages[2].timestamp: …");
	// empty for a change field gtc simply does not handle.
	Reason string `json:"reason,omitempty"`
}

// DedupeKey identifies an event across Meta's retries: the message id; the status id and
// status; for events without an id (template and account updates, errors, preferences,
// unknown changes) a hash of what they say together with where and when Meta sent it (the
// business account, the entry time, the phone number and the field), so only a true
// redelivery shares a key: a template going APPROVED → PAUSED → APPROVED, or the same
// change from another business account, does not.
func (e *Event) DedupeKey() string {
	switch {
	case e.Message != nil:
		return "msg:" + e.Message.ID
	case e.Status != nil:
		return "status:" + e.Status.ID + ":" + e.Status.Status
	}
	h := sha256.New()
	for _, part := range []string{string(e.Kind), e.WABAID, strconv.FormatInt(e.EntryTime, 10), e.PhoneNumberID, e.Field} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(e.Raw)
	return string(e.Kind) + ":" + hex.EncodeToString(h.Sum(nil)[:16])
}

// InboundMessage is a customer's message, whatever its type.
type InboundMessage struct {
	ID        string `json:"id"`
	Type      string `json:"type"`                   // text, interactive, button, image, video, audio, document, sticker, location, contacts, reaction, order, system, unsupported, or anything newer
	From      string `json:"from,omitempty"`         // wa_id (phone number without +); may be empty since 2026
	FromUser  string `json:"from_user_id,omitempty"` // business-scoped user id, when Meta sends one
	Timestamp int64  `json:"timestamp"`              // Unix seconds
	// From value.contacts, matched on wa_id.
	ContactName string `json:"contact_name,omitempty"`

	Context  *InboundContext   `json:"context,omitempty"`
	Text     string            `json:"text,omitempty"` // text.body
	Button   *ButtonReply      `json:"button,omitempty"`
	List     *ListReply        `json:"list,omitempty"`
	Media    *InboundMedia     `json:"media,omitempty"`
	Location *InboundLocation  `json:"location,omitempty"`
	Reaction *Reaction         `json:"reaction,omitempty"`
	Contacts []json.RawMessage `json:"contacts,omitempty"`
	Order    json.RawMessage   `json:"order,omitempty"`
	System   json.RawMessage   `json:"system,omitempty"`
	// NFMReply is a WhatsApp Flows response (interactive.nfm_reply), kept as received.
	NFMReply json.RawMessage `json:"nfm_reply,omitempty"`
	Referral json.RawMessage `json:"referral,omitempty"`
	Errors   []ErrorDetail   `json:"errors,omitempty"` // type unsupported
}

// ContactKey is how gtc keys a contact: the phone number (wa_id), or the business-scoped
// user id when Meta sent no number.
func (m *InboundMessage) ContactKey() string {
	if m.From != "" {
		return m.From
	}
	return m.FromUser
}

// InboundContext links a message to an earlier one (a reply, a forward, a product enquiry).
type InboundContext struct {
	From      string `json:"from,omitempty"`
	ID        string `json:"id,omitempty"`
	Forwarded bool   `json:"forwarded,omitempty"`
}

// ButtonReply is a pressed reply button (interactive.button_reply: id, title) or a template
// quick-reply button (type button: payload → ID, text → Title). Kind tells which.
type ButtonReply struct {
	Kind  string `json:"kind"` // "button_reply" or "quick_reply"
	ID    string `json:"id"`
	Title string `json:"title"`
}

// ListReply is a chosen list row (interactive.list_reply).
type ListReply struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// InboundMedia is a received image, video, audio, document or sticker.
type InboundMedia struct {
	Type     string `json:"type"`
	ID       string `json:"id"`
	MimeType string `json:"mime_type,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
	Voice    bool   `json:"voice,omitempty"`
}

// InboundLocation is a shared location.
type InboundLocation struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
	URL       string  `json:"url,omitempty"`
}

// Status is a delivery status of a message gtc sent.
type Status struct {
	ID              string        `json:"id"`     // the wamid gtc got when sending
	Status          string        `json:"status"` // sent, delivered, read, failed, played, deleted, …
	Timestamp       int64         `json:"timestamp"`
	RecipientID     string        `json:"recipient_id,omitempty"`
	RecipientUserID string        `json:"recipient_user_id,omitempty"`
	Errors          []ErrorDetail `json:"errors,omitempty"`
}

// ErrorDetail is an error as webhooks report it (value.errors, messages[].errors,
// statuses[].errors).
type ErrorDetail struct {
	Code    int    `json:"code"`
	Title   string `json:"title,omitempty"`
	Message string `json:"message,omitempty"`
	Details string `json:"details,omitempty"`
	Href    string `json:"href,omitempty"`
}

// UserPreference is a marketing-message preference change (field user_preferences).
type UserPreference struct {
	WaID      string `json:"wa_id,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	Category  string `json:"category,omitempty"` // marketing_messages
	Value     string `json:"value,omitempty"`    // stop, resume
	Detail    string `json:"detail,omitempty"`
	Timestamp int64  `json:"timestamp,omitempty"`
}
