// Package events owns gtc's event webhooks: the JSON events POSTed to a provider's
// events_url, their HMAC-SHA256 signature, one delivery attempt, the retry schedule and the
// per-contact order of an outbox. It knows no database; see docs/serve.md and
// docs/design.md for the outbox that stores the events.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Type is an event's type.
type Type string

// The event types.
const (
	TypeMessageReceived   Type = "message.received"
	TypeMessageStatus     Type = "message.status"
	TypeHandoffRequested  Type = "handoff.requested"
	TypeHandoffReleased   Type = "handoff.released"
	TypeConversationEnded Type = "conversation.ended"
	TypeSendFailed        Type = "send.failed"
)

// Types lists every event type, in the order docs/serve.md describes them.
var Types = []Type{TypeMessageReceived, TypeMessageStatus, TypeHandoffRequested,
	TypeHandoffReleased, TypeConversationEnded, TypeSendFailed}

// Valid reports whether t is one of Types.
func (t Type) Valid() bool {
	for _, k := range Types {
		if t == k {
			return true
		}
	}
	return false
}

// Event is one event webhook. Data is the type's payload: *MessageReceived,
// *MessageStatus, *HandoffRequested, *HandoffReleased, *ConversationEnded or *SendFailed
// (Parse gives these; a value instead of a pointer marshals the same).
type Event struct {
	ID      string
	Type    Type
	Time    time.Time
	Tenant  string
	Team    string
	Contact Contact
	Data    any
}

// Contact is the customer an event is about: the phone number in E.164 form with "+", the
// business-scoped user id (BSUID), or both; Name is the WhatsApp profile name when known.
type Contact struct {
	Phone  string `json:"phone,omitempty"`
	UserID string `json:"user_id,omitempty"`
	Name   string `json:"name,omitempty"`
}

// ContactFromKey makes a Contact from gtc's contact key (whatsapp's ContactKey): a wa_id
// (digits, with or without "+") is the phone number, anything else a BSUID.
func ContactFromKey(key string) Contact {
	digits := strings.TrimPrefix(key, "+")
	if digits != "" && strings.Trim(digits, "0123456789") == "" {
		return Contact{Phone: "+" + digits}
	}
	return Contact{UserID: key}
}

// Key is the contact's key for ordering: the phone number's digits (a wa_id), else the BSUID.
func (c Contact) Key() string {
	if c.Phone != "" {
		return strings.TrimPrefix(c.Phone, "+")
	}
	return c.UserID
}

// Time is a timestamp written in RFC 3339, in UTC with milliseconds
// ("2026-11-30T01:53:34.120Z").
type Time struct{ time.Time }

// TimeFormat is how events write timestamps.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// At wraps t.
func At(t time.Time) Time { return Time{t} }

// Unix is the Time of Unix seconds sec, the zero Time for 0 (Meta's timestamps).
func Unix(sec int64) Time {
	if sec == 0 {
		return Time{}
	}
	return Time{time.Unix(sec, 0)}
}

func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(TimeFormat) + `"`), nil
}

func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("want an RFC 3339 timestamp in a string")
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("%q is not an RFC 3339 timestamp", s)
	}
	t.Time = v
	return nil
}

// State values of MessageReceived.State.
const (
	StateBot     = "bot"     // the bot answers the contact
	StateHandoff = "handoff" // a person has the contact; the bot does not answer
)

// MessageReceived is the data of message.received: a customer's message, as gtc recorded
// it. Text carries the words a helpdesk shows: the text body, the chosen button's or list
// row's title, a media caption, a flow reply's body.
type MessageReceived struct {
	WAMID string `json:"wamid"`
	// Kind is Meta's message type: text, interactive, button, image, video, audio,
	// document, sticker, location, contacts, reaction, order, system, unsupported, or newer.
	Kind string `json:"kind"`
	Text string `json:"text,omitempty"`
	// ReplyID is the id of the chosen button or list row (or a template button's payload).
	ReplyID  string    `json:"reply_id,omitempty"`
	Media    *Media    `json:"media,omitempty"`
	Location *Location `json:"location,omitempty"`
	// Context is the wamid of the message this one replies to.
	Context string `json:"context,omitempty"`
	// SentAt is when the customer sent it (Meta's timestamp).
	SentAt Time `json:"sent_at,omitzero"`
	// State is StateBot or StateHandoff: who answers the contact now.
	State string `json:"state"`
}

// Media is a received image, video, audio, document or sticker. ID is Meta's media id: a
// receiver downloads it through the Graph API with the number's access token.
type Media struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type,omitempty"`
	Filename string `json:"filename,omitempty"`
	Voice    bool   `json:"voice,omitempty"`
}

// Location is a shared location.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
}

// MessageStatus is the data of message.status: a status webhook for a message gtc sent.
type MessageStatus struct {
	// MessageID is gtc's id of the outbound message (the send API's "id"), when gtc knows
	// it; WAMID is Meta's.
	MessageID string `json:"message_id,omitempty"`
	WAMID     string `json:"wamid"`
	// Status is Meta's: sent, delivered, read, failed, played, deleted, or newer.
	Status string `json:"status"`
	// The error of a failed status, as in the send API.
	ErrorClass   string `json:"error_class,omitempty"`
	ErrorCode    int    `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
}

// Handoff sources and release reasons.
const (
	ByFlow    = "flow"    // a handoff node
	ByAPI     = "api"     // the conversations API
	ByInbox   = "inbox"   // gtc inbox
	ByTimeout = "timeout" // the handoff's timeout
	ByOptOut  = "opt_out" // the contact opted out
)

// HandoffRequested is the data of handoff.requested: the bot handed the contact to a person.
type HandoffRequested struct {
	// By is ByFlow (a handoff node), ByAPI or ByInbox.
	By    string `json:"by"`
	Queue string `json:"queue,omitempty"`
	Note  string `json:"note,omitempty"`
	// Flow and Node are the handoff node, for By ByFlow.
	Flow string `json:"flow,omitempty"`
	Node string `json:"node,omitempty"`
	// TimeoutAt is when gtc hands the contact back by itself, if the handoff has a timeout.
	TimeoutAt Time `json:"timeout_at,omitzero"`
}

// HandoffReleased is the data of handoff.released: the contact is back with the bot.
type HandoffReleased struct {
	// By is ByInbox, ByAPI, ByTimeout or ByOptOut.
	By    string `json:"by"`
	Queue string `json:"queue,omitempty"`
	// Flow and Node are where the bot resumes; empty when the conversation ended and the
	// contact's next message goes to the triggers.
	Flow string `json:"flow,omitempty"`
	Node string `json:"node,omitempty"`
}

// ConversationEnded is the data of conversation.ended.
type ConversationEnded struct {
	ConversationID string `json:"conversation_id"`
	Flow           string `json:"flow"`
	Node           string `json:"node,omitempty"`
	// Reason is the flow engine's: completed, invalid, timeout, interrupted, replaced,
	// flow_edited, call_failed, released, or newer.
	Reason string `json:"reason"`
}

// SendFailed is the data of send.failed: a message gtc sent (or meant to send) failed for
// good: refused before sending, given up after its retries, or reported failed by Meta.
type SendFailed struct {
	MessageID string `json:"message_id"`
	WAMID     string `json:"wamid,omitempty"`
	// Kind is the message type: text, template, interactive, image, …
	Kind         string `json:"kind,omitempty"`
	ErrorClass   string `json:"error_class"`
	ErrorCode    int    `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
	Attempts     int    `json:"attempts,omitempty"`
}

// newData returns a pointer to t's data type, nil for an unknown type.
func newData(t Type) any {
	switch t {
	case TypeMessageReceived:
		return new(MessageReceived)
	case TypeMessageStatus:
		return new(MessageStatus)
	case TypeHandoffRequested:
		return new(HandoffRequested)
	case TypeHandoffReleased:
		return new(HandoffReleased)
	case TypeConversationEnded:
		return new(ConversationEnded)
	case TypeSendFailed:
		return new(SendFailed)
	}
	return nil
}

func dataType(d any) (Type, bool) {
	switch d.(type) {
	case *MessageReceived, MessageReceived:
		return TypeMessageReceived, true
	case *MessageStatus, MessageStatus:
		return TypeMessageStatus, true
	case *HandoffRequested, HandoffRequested:
		return TypeHandoffRequested, true
	case *HandoffReleased, HandoffReleased:
		return TypeHandoffReleased, true
	case *ConversationEnded, ConversationEnded:
		return TypeConversationEnded, true
	case *SendFailed, SendFailed:
		return TypeSendFailed, true
	}
	return "", false
}

// Head is what every event carries besides its data.
type Head struct {
	ID      string
	Time    time.Time
	Tenant  string
	Team    string
	Contact Contact
}

func (h Head) event(t Type, data any) *Event {
	return &Event{ID: h.ID, Type: t, Time: h.Time, Tenant: h.Tenant, Team: h.Team, Contact: h.Contact, Data: data}
}

// NewMessageReceived makes a message.received event.
func NewMessageReceived(h Head, d MessageReceived) *Event {
	return h.event(TypeMessageReceived, &d)
}

// NewMessageStatus makes a message.status event.
func NewMessageStatus(h Head, d MessageStatus) *Event { return h.event(TypeMessageStatus, &d) }

// NewHandoffRequested makes a handoff.requested event.
func NewHandoffRequested(h Head, d HandoffRequested) *Event {
	return h.event(TypeHandoffRequested, &d)
}

// NewHandoffReleased makes a handoff.released event.
func NewHandoffReleased(h Head, d HandoffReleased) *Event {
	return h.event(TypeHandoffReleased, &d)
}

// NewConversationEnded makes a conversation.ended event.
func NewConversationEnded(h Head, d ConversationEnded) *Event {
	return h.event(TypeConversationEnded, &d)
}

// NewSendFailed makes a send.failed event.
func NewSendFailed(h Head, d SendFailed) *Event { return h.event(TypeSendFailed, &d) }

// SeqID is the event id of outbox row n: "evt_<n>".
func SeqID(n int64) string { return "evt_" + strconv.FormatInt(n, 10) }

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`)

// ValidID reports whether id can be an event id: 1 to 64 letters, digits and "_.:-",
// starting with a letter or digit ("evt_42", a ULID).
func ValidID(id string) bool { return idRE.MatchString(id) }

// Problem is what is wrong with an event, at its JSON path.
type Problem struct {
	Path string
	Msg  string
}

// ValidationError lists every problem of an event.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Path + ": " + p.Msg
	}
	return "invalid event: " + strings.Join(parts, "; ")
}

// Validate checks the envelope: id, type (matching Data), time, tenant, team and contact.
// It returns a *ValidationError with every problem.
func (e *Event) Validate() error {
	var ps []Problem
	add := func(path, msg string) { ps = append(ps, Problem{path, msg}) }
	if !ValidID(e.ID) {
		add("id", fmt.Sprintf("%q is not an event id: 1 to 64 letters, digits or _.:- (e.g. evt_42)", e.ID))
	}
	if !e.Type.Valid() {
		add("type", fmt.Sprintf("unknown event type %q: want one of %s", e.Type, typeList()))
	} else if dt, ok := dataType(e.Data); !ok {
		add("data", fmt.Sprintf("%T is not event data: use the type's struct, e.g. events.MessageReceived", e.Data))
	} else if dt != e.Type {
		add("data", fmt.Sprintf("data is %s data but type is %s", dt, e.Type))
	}
	if e.Time.IsZero() {
		add("timestamp", "missing: set the time the event happened")
	}
	if e.Tenant == "" {
		add("tenant", "missing")
	}
	if e.Team == "" {
		add("team", "missing")
	}
	if e.Contact.Phone == "" && e.Contact.UserID == "" {
		add("contact", "missing: give the phone number, the user id (BSUID), or both")
	}
	if p := e.Contact.Phone; p != "" && (!strings.HasPrefix(p, "+") || len(p) < 2 || strings.Trim(p[1:], "0123456789") != "") {
		add("contact.phone", fmt.Sprintf("%q is not E.164: want + and digits, e.g. +4915123456789", p))
	}
	if ps != nil {
		return &ValidationError{Problems: ps}
	}
	return nil
}

func typeList() string {
	s := make([]string, len(Types))
	for i, t := range Types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

type wire struct {
	ID        string          `json:"id"`
	Type      Type            `json:"type"`
	Timestamp Time            `json:"timestamp"`
	Tenant    string          `json:"tenant"`
	Team      string          `json:"team"`
	Contact   Contact         `json:"contact"`
	Data      json.RawMessage `json:"data"`
}

// Marshal validates e and returns its JSON body: the bytes an outbox stores and the
// deliverer sends (and signs) as they are.
func (e *Event) Marshal() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(e)
}

func (e Event) MarshalJSON() ([]byte, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, fmt.Errorf("event %s data: %w", e.ID, err)
	}
	return json.Marshal(wire{ID: e.ID, Type: e.Type, Timestamp: Time{e.Time}, Tenant: e.Tenant,
		Team: e.Team, Contact: e.Contact, Data: data})
}

// Parse reads an event body strictly (unknown keys are errors, as gtc's own double checks
// them; a receiver should use a lenient decoder, since new keys may come), into the
// type's data struct, and validates it.
func Parse(body []byte) (*Event, error) {
	var w wire
	if err := strictDecode(body, &w); err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	d := newData(w.Type)
	if d == nil {
		return nil, fmt.Errorf("event type: unknown event type %q: want one of %s", w.Type, typeList())
	}
	if len(w.Data) == 0 || string(w.Data) == "null" {
		return nil, errors.New("event data: missing")
	}
	if err := strictDecode(w.Data, d); err != nil {
		return nil, fmt.Errorf("event data: %w", err)
	}
	e := &Event{ID: w.ID, Type: w.Type, Time: w.Timestamp.Time, Tenant: w.Tenant, Team: w.Team, Contact: w.Contact, Data: d}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("extra data after the JSON object")
	}
	return nil
}
