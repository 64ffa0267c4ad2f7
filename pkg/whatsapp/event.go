package whatsapp

import (
	"cmp"
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
	EventUnknown    EventKind = "unknown"          // a change field gtc does not know, or a part it could not read: kept, logged, counted

	// Template lifecycle (Event.Template): fields message_template_status_update,
	// template_category_update and message_template_quality_update.
	EventTemplateStatus   EventKind = "template_status"
	EventTemplateCategory EventKind = "template_category"
	EventTemplateQuality  EventKind = "template_quality"
	// EventHandover is a change of thread control under Conversation Routing (field
	// messaging_handovers, Event.Handover).
	EventHandover EventKind = "handover"
	// EventStandby is a standby copy (field standby): a message or status of a thread
	// another responder controls (Event.Message or Event.Status). Record it; never answer it.
	EventStandby EventKind = "standby"
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
	Template   *TemplateUpdate `json:"template,omitempty"`
	Handover   *Handover       `json:"handover,omitempty"`
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
	case e.Kind == EventStandby && e.Message != nil:
		return "standby:msg:" + e.Message.ID
	case e.Kind == EventStandby && e.Status != nil:
		return "standby:status:" + e.Status.ID + ":" + e.Status.Status
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
	ID       string `json:"id"`
	Type     string `json:"type"`                   // text, interactive, button, image, video, audio, document, sticker, location, contacts, reaction, order, system, unsupported, or anything newer
	From     string `json:"from,omitempty"`         // wa_id (phone number without +); may be empty since 2026
	FromUser string `json:"from_user_id,omitempty"` // business-scoped user id (BSUID), when Meta sends one
	// FromParentUser is the parent BSUID (from_parent_user_id, or the contact's
	// parent_user_id), when the business has parent BSUIDs.
	FromParentUser string `json:"from_parent_user_id,omitempty"`
	// Username is the sender's WhatsApp username (contacts[].profile.username), if any.
	Username  string `json:"username,omitempty"`
	Timestamp int64  `json:"timestamp"` // Unix seconds
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
	// NFMReply is a WhatsApp Flows response (interactive.nfm_reply), kept as received;
	// FlowReply is the same, read.
	NFMReply  json.RawMessage `json:"nfm_reply,omitempty"`
	FlowReply *FlowReply      `json:"flow_reply,omitempty"`
	// SystemChange is a system message read (type system): the user changed number
	// (user_changed_number, WaID the new one) or business-scoped user id
	// (user_changed_user_id, UserID the new one).
	SystemChange *SystemChange   `json:"system_change,omitempty"`
	Referral     json.RawMessage `json:"referral,omitempty"`
	Errors       []ErrorDetail   `json:"errors,omitempty"` // type unsupported
}

// FlowReply is a submitted WhatsApp Flow (interactive.nfm_reply).
type FlowReply struct {
	Name string `json:"name,omitempty"` // "flow"
	Body string `json:"body,omitempty"` // "Sent"
	// ResponseJSON is response_json as received: a JSON object in a string.
	ResponseJSON string `json:"response_json,omitempty"`
	// Response is ResponseJSON parsed (the form's fields and flow_token); nil when it is
	// not a JSON object, then ResponseError says why.
	Response      map[string]any `json:"response,omitempty"`
	ResponseError string         `json:"response_error,omitempty"`
	// FlowToken is response_json's flow_token: the token the flow was sent with.
	FlowToken string `json:"flow_token,omitempty"`
}

// SystemChange is a system message: a user changed their number or business-scoped user id.
type SystemChange struct {
	Type   string `json:"type"` // user_changed_number, user_changed_user_id, or newer
	Body   string `json:"body,omitempty"`
	WaID   string `json:"wa_id,omitempty"`   // the new phone number (user_changed_number)
	UserID string `json:"user_id,omitempty"` // the new BSUID (user_changed_user_id)
	// PreviousUserID is the BSUID the user changed from (user_changed_user_id): Meta names it
	// only in the body ("User … changed from US.1349… to US.9999…"), read from there.
	PreviousUserID string `json:"previous_user_id,omitempty"`
}

// System message types.
const (
	SystemUserChangedNumber = "user_changed_number"
	SystemUserChangedUserID = "user_changed_user_id"
)

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
	ID              string `json:"id"`     // the wamid gtc got when sending
	Status          string `json:"status"` // sent, delivered, read, failed, played, deleted, …
	Timestamp       int64  `json:"timestamp"`
	RecipientID     string `json:"recipient_id,omitempty"`
	RecipientUserID string `json:"recipient_user_id,omitempty"`
	// RecipientParentUserID is the recipient's parent BSUID, when the business has them.
	RecipientParentUserID string        `json:"recipient_parent_user_id,omitempty"`
	Errors                []ErrorDetail `json:"errors,omitempty"`
	// BizOpaqueCallbackData is what the send carried in biz_opaque_callback_data (see
	// Callback and ParseCallback).
	BizOpaqueCallbackData string `json:"biz_opaque_callback_data,omitempty"`
	// Pricing and Conversation are what Meta bills for the message, when it says.
	Pricing      *Pricing      `json:"pricing,omitempty"`
	Conversation *Conversation `json:"conversation,omitempty"`
}

// Pricing is statuses[].pricing: whether and how the message is billed.
type Pricing struct {
	Billable     bool   `json:"billable"`
	PricingModel string `json:"pricing_model,omitempty"` // CBP (per conversation) or PMP (per message)
	Category     string `json:"category,omitempty"`      // marketing, utility, authentication, service, …
	// Type is the PMP price type: regular, free_customer_service, free_entry_point, …
	Type string `json:"type,omitempty"`
}

// Conversation is statuses[].conversation: the conversation a message opened or belongs to.
type Conversation struct {
	ID                  string `json:"id,omitempty"`
	ExpirationTimestamp int64  `json:"expiration_timestamp,omitempty"` // Unix seconds; sent with the first status only
	OriginType          string `json:"origin_type,omitempty"`          // origin.type: marketing, utility, service, …
}

// TemplateUpdate is a template lifecycle webhook. Which fields are set depends on the kind:
// EventTemplateStatus sets Event (and Reason, Category, DisableDate, OtherInfo as Meta
// sends them); EventTemplateCategory sets PreviousCategory and NewCategory (a completed
// change) or CorrectCategory, NewCategory and CategoryUpdateTimestamp (an impending one);
// EventTemplateQuality sets PreviousQuality and NewQuality.
type TemplateUpdate struct {
	ID       string `json:"id,omitempty"` // message_template_id
	Name     string `json:"name,omitempty"`
	Language string `json:"language,omitempty"`

	Event       string `json:"event,omitempty"` // APPROVED, REJECTED, PAUSED, DISABLED, PENDING_DELETION, ARCHIVED, …
	Reason      string `json:"reason,omitempty"`
	Category    string `json:"category,omitempty"`
	DisableDate string `json:"disable_date,omitempty"` // disable_info.disable_date, as sent
	OtherInfo   *struct {
		Title       string `json:"title,omitempty"`
		Description string `json:"description,omitempty"`
	} `json:"other_info,omitempty"`

	PreviousCategory        string `json:"previous_category,omitempty"`
	NewCategory             string `json:"new_category,omitempty"`
	CorrectCategory         string `json:"correct_category,omitempty"`
	CategoryUpdateTimestamp int64  `json:"category_update_timestamp,omitempty"`

	PreviousQuality string `json:"previous_quality,omitempty"` // GREEN, YELLOW, RED, UNKNOWN
	NewQuality      string `json:"new_quality,omitempty"`
}

// Handover is a change of thread control under Conversation Routing: control_passed (this
// app is the new owner) or control_taken (the escalation partner took the thread from it).
type Handover struct {
	Type          string `json:"type"` // control_passed, control_taken
	PreviousOwner string `json:"previous_owner,omitempty"`
	NewOwner      string `json:"new_owner,omitempty"`
	// The user whose thread it is.
	WaID   string `json:"wa_id,omitempty"`
	UserID string `json:"user_id,omitempty"`
	// Metadata is the string the caller of the thread control API passed, if any.
	Metadata  string `json:"metadata,omitempty"`
	Timestamp int64  `json:"timestamp,omitempty"`
}

// ContactKey is the handover's user: the phone number (wa_id), or the BSUID.
func (h *Handover) ContactKey() string {
	if h.WaID != "" {
		return h.WaID
	}
	return h.UserID
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

// ContactKey is the customer an event is about, by phone number (wa_id) when Meta sent
// one, else by business-scoped user id: the sender of a message, the recipient of a
// status, the user of a preference or handover; "" for template, account and error events.
func (e *Event) ContactKey() string {
	switch {
	case e.Message != nil:
		return e.Message.ContactKey()
	case e.Status != nil:
		return cmp.Or(e.Status.RecipientID, e.Status.RecipientUserID)
	case e.Preference != nil:
		return cmp.Or(e.Preference.WaID, e.Preference.UserID)
	case e.Handover != nil:
		return e.Handover.ContactKey()
	}
	return ""
}
