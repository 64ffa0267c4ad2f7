package whatsapp

// This file is the inbound side of the Cloud API: Meta's GET handshake, the
// X-Hub-Signature-256 check over the raw body, and the parser that flattens a webhook POST
// (entries × changes × messages, statuses, errors, user preferences) into Events.

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SignatureHeader is the header Meta signs webhook POSTs with.
const SignatureHeader = "X-Hub-Signature-256"

// MaxWebhookBody is the largest webhook body Meta sends (3 MB); servers accept at least this.
const MaxWebhookBody = 3 << 20

// Handshake and signature errors. They never carry the expected token or MAC.
var (
	ErrHandshakeMode      = errors.New("hub.mode is not subscribe")
	ErrHandshakeToken     = errors.New("hub.verify_token does not match the bundle's verify_token")
	ErrHandshakeNoToken   = errors.New("no verify_token is configured for this tenant/team")
	ErrSignatureMissing   = errors.New("missing " + SignatureHeader + " header")
	ErrSignatureMalformed = errors.New(SignatureHeader + " is not sha256=<64 hex digits>")
	ErrSignatureMismatch  = errors.New(SignatureHeader + " does not match the body: check app_secret")
	ErrNoAppSecret        = errors.New("no app_secret is configured, so the signature cannot be checked: set app_secret or run with --insecure-skip-signature")
)

// VerifyHandshake answers Meta's subscription check (GET ?hub.mode=subscribe&hub.verify_token=T
// &hub.challenge=C): it returns C when mode is "subscribe" and token equals verifyToken
// (compared in constant time), else an error.
func VerifyHandshake(mode, token, challenge, verifyToken string) (string, error) {
	if mode != "subscribe" {
		return "", ErrHandshakeMode
	}
	if verifyToken == "" {
		return "", ErrHandshakeNoToken
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(verifyToken)) != 1 {
		return "", ErrHandshakeToken
	}
	return challenge, nil
}

// Sign returns the X-Hub-Signature-256 value for body: "sha256=" + hex(HMAC-SHA256).
func Sign(body []byte, appSecret string) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks header (the X-Hub-Signature-256 value) against HMAC-SHA256 of the
// raw body bytes with appSecret, in constant time. The error never includes the expected MAC.
func VerifySignature(body []byte, header, appSecret string) error {
	if appSecret == "" {
		return ErrNoAppSecret
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrSignatureMissing
	}
	hexMAC, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexMAC) != sha256.Size*2 {
		return ErrSignatureMalformed
	}
	var got, want [sha256.Size]byte // on the stack: no copy of the header or the MAC
	if _, err := hex.Decode(got[:], []byte(hexMAC)); err != nil {
		return ErrSignatureMalformed
	}
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	if !hmac.Equal(got[:], m.Sum(want[:0])) {
		return ErrSignatureMismatch
	}
	return nil
}

// WebhookError is a malformed webhook body: Path is the JSON path of the offending value
// (entry[0].changes[1].value.messages[2].timestamp), or empty for a syntax error.
type WebhookError struct {
	Path string
	Msg  string
}

func (e *WebhookError) Error() string {
	if e.Path == "" {
		return "webhook body: " + e.Msg
	}
	return "webhook body: " + e.Path + ": " + e.Msg
}

// ParseWebhook flattens a webhook POST body into events, in payload order: for each entry
// and change, the messages, then the statuses, then value.errors; user_preferences changes
// give one event per preference; any other change field (or a messages change with nothing
// gtc knows in it) gives one EventUnknown carrying the change value as Raw.
//
// Only a body that is not a WhatsApp webhook at all (not a JSON object, another "object",
// entry not an array) returns a *WebhookError naming the JSON path. Inside it, a part gtc
// cannot read (an entry, a change, one message or status that lacks a field, has an odd
// type or a timestamp like "1.7e9") becomes an EventUnknown with that part as Raw and the
// path and problem as Reason, and the rest is parsed: one odd message must not make Meta
// retry, and finally drop, the good ones sent with it.
func ParseWebhook(body []byte) ([]Event, error) {
	if events, ok := parseWebhookOnePass(body); ok {
		return events, nil
	}
	return parseWebhookByLevel(body)
}

// parseWebhookByLevel is ParseWebhook decoding the body level by level (top, entry,
// change, value, then each message or status), so that an odd part is cut out exactly
// where it is. It is the reference for parseWebhookOnePass, which reads the common, clean
// body in one pass and gives up on anything odd.
func parseWebhookByLevel(body []byte) ([]Event, error) {
	var top struct {
		Object string            `json:"object"`
		Entry  []json.RawMessage `json:"entry"`
	}
	if err := decode(body, &top, ""); err != nil {
		return nil, err
	}
	if top.Object != "whatsapp_business_account" {
		return nil, &WebhookError{Path: "object", Msg: fmt.Sprintf("is %q, want \"whatsapp_business_account\" (is this a WhatsApp webhook?)", top.Object)}
	}
	var events []Event
	for i, rawEntry := range top.Entry {
		events = parseEntry(events, rawEntry, i)
	}
	return events, nil
}

// parseEntry appends the events of one entry.
func parseEntry(events []Event, rawEntry json.RawMessage, i int) []Event {
	path := fmt.Sprintf("entry[%d]", i)
	var entry struct {
		ID      string            `json:"id"`
		Time    json.RawMessage   `json:"time"`
		Changes []json.RawMessage `json:"changes"`
	}
	if err := decode(rawEntry, &entry, path); err != nil {
		var id struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(rawEntry, &id) // best effort: which account the odd entry is from
		return append(events, unreadable(nil, Event{WABAID: id.ID}, rawEntry, err))
	}
	base := Event{WABAID: entry.ID}
	var t flexInt
	if t.UnmarshalJSON(entry.Time) == nil { // entry.time only tells redeliveries apart: an odd one is left out
		base.EntryTime = int64(t)
	}
	for j, rawChange := range entry.Changes {
		changePath := fmt.Sprintf("%s.changes[%d]", path, j)
		var change struct {
			Field string          `json:"field"`
			Value json.RawMessage `json:"value"`
		}
		if err := decode(rawChange, &change, changePath); err != nil {
			events = append(events, unreadable(nil, base, rawChange, err))
			continue
		}
		ev := base
		ev.Field = change.Field
		if v := bytes.TrimSpace(change.Value); len(v) == 0 || string(v) == "null" {
			events = append(events, unreadable(nil, ev, rawChange, &WebhookError{Path: changePath + ".value", Msg: "missing change value"}))
			continue
		}
		events = parseChange(events, ev, change.Value, changeRef{i, j})
	}
	return events
}

// unreadable is the EventUnknown for a part of the body gtc could not read: raw as received
// (kept in a, see rawArena) and err as the reason.
func unreadable(a *rawArena, base Event, raw json.RawMessage, err error) Event {
	ev := base
	ev.Kind, ev.Raw, ev.Reason = EventUnknown, a.keep(raw), err.Error()
	var we *WebhookError
	if errors.As(err, &we) {
		ev.Reason = joinReason(we.Path, we.Msg)
	}
	return ev
}

func joinReason(path, msg string) string {
	if path == "" {
		return msg
	}
	return path + ": " + msg
}

// The one-pass reader (webhook_scan.go) reads this struct too, without reflection: a
// field added here needs its key in wireValueKeys there (TestQuickKeys checks) and a case
// in changeValue.
type wireValue struct {
	Metadata struct {
		DisplayPhoneNumber string `json:"display_phone_number"`
		PhoneNumberID      string `json:"phone_number_id"`
	} `json:"metadata"`
	Contacts        []json.RawMessage `json:"contacts"`
	Messages        []json.RawMessage `json:"messages"`
	Statuses        []json.RawMessage `json:"statuses"`
	Errors          []json.RawMessage `json:"errors"`
	UserPreferences []json.RawMessage `json:"user_preferences"`
}

// The one-pass reader (webhook_scan.go) reads this struct too, without reflection: a
// field added here needs its key in wireContactKeys there (TestQuickKeys checks) and, to
// be read on the quick path, a case in quickContact.
type wireContact struct {
	Profile struct {
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"profile"`
	WaID         string `json:"wa_id"`
	UserID       string `json:"user_id"`
	ParentUserID string `json:"parent_user_id"`
}

// parseChange appends the events of one change; base carries the entry and the field.
func parseChange(events []Event, base Event, value json.RawMessage, ref changeRef) []Event {
	var v wireValue
	if err := json.Unmarshal(value, &v); err != nil {
		return append(events, unreadable(nil, base, value, webhookError(err, ref.value())))
	}
	return appendChange(events, base, value, &v, ref, nil)
}

// changeRef is where a change is in the body: entry[entry].changes[change]. JSON paths
// are built from it only when an error names them.
type changeRef struct{ entry, change int }

func (c changeRef) value() string {
	return "entry[" + strconv.Itoa(c.entry) + "].changes[" + strconv.Itoa(c.change) + "].value"
}

// itemRef is value.<list>[k] of a change.
type itemRef struct {
	change changeRef
	list   string
	k      int
}

func (r itemRef) String() string {
	return r.change.value() + "." + r.list + "[" + strconv.Itoa(r.k) + "]"
}

// appendChange appends the events of one change whose value is read into v; raw parts
// the events keep go through a.
func appendChange(events []Event, base Event, value json.RawMessage, v *wireValue, ref changeRef, a *rawArena) []Event {
	base.PhoneNumberID = v.Metadata.PhoneNumberID
	base.DisplayPhoneNumber = v.Metadata.DisplayPhoneNumber

	n := len(events)
	add := func(kind EventKind, raw json.RawMessage, set func(*Event)) {
		ev := base
		ev.Kind, ev.Raw = kind, a.keep(raw)
		set(&ev)
		events = append(events, ev)
	}
	switch base.Field {
	case "messages", "standby":
		msgKind, statusKind := EventMessage, EventStatus
		if base.Field == "standby" { // a thread another responder controls: recorded, never answered
			msgKind, statusKind = EventStandby, EventStandby
		}
		contacts := make(map[string]wireContact, len(v.Contacts))
		for _, raw := range v.Contacts {
			var c wireContact
			if !quickContact(raw, &c) {
				c = wireContact{}
				if json.Unmarshal(raw, &c) != nil {
					continue // an odd contact only costs the sender's name
				}
			}
			if c.WaID != "" {
				contacts[c.WaID] = c
			}
			if c.UserID != "" {
				contacts[c.UserID] = c
			}
		}
		for k, raw := range v.Messages {
			m, err := parseMessage(raw, itemRef{ref, "messages", k})
			if err != nil {
				events = append(events, unreadable(a, base, raw, err))
				continue
			}
			c, ok := contacts[m.From]
			if !ok || m.From == "" {
				c, ok = contacts[m.FromUser]
				ok = ok && m.FromUser != ""
			}
			if ok {
				m.ContactName, m.Username = c.Profile.Name, c.Profile.Username
				if m.FromUser == "" {
					m.FromUser = c.UserID
				}
				if m.FromParentUser == "" {
					m.FromParentUser = c.ParentUserID
				}
			}
			add(msgKind, raw, func(ev *Event) { ev.Message = m })
		}
		for k, raw := range v.Statuses {
			s, err := parseStatus(raw, itemRef{ref, "statuses", k})
			if err != nil {
				events = append(events, unreadable(a, base, raw, err))
				continue
			}
			add(statusKind, raw, func(ev *Event) { ev.Status = s })
		}
		for k, raw := range v.Errors {
			var we wireError
			if err := json.Unmarshal(raw, &we); err != nil {
				err := webhookError(err, itemRef{ref, "errors", k}.String())
				events = append(events, unreadable(a, base, raw, err))
				continue
			}
			d := we.detail()
			add(EventError, raw, func(ev *Event) { ev.Error = &d })
		}
	case "user_preferences":
		for k, raw := range v.UserPreferences {
			var w struct {
				WaID      string  `json:"wa_id"`
				UserID    string  `json:"user_id"`
				Detail    string  `json:"detail"`
				Category  string  `json:"category"`
				Value     string  `json:"value"`
				Timestamp flexInt `json:"timestamp"`
			}
			if err := json.Unmarshal(raw, &w); err != nil {
				err := webhookError(err, itemRef{ref, "user_preferences", k}.String())
				events = append(events, unreadable(a, base, raw, err))
				continue
			}
			add(EventPreference, raw, func(ev *Event) {
				ev.Preference = &UserPreference{WaID: w.WaID, UserID: w.UserID, Category: w.Category,
					Value: w.Value, Detail: w.Detail, Timestamp: int64(w.Timestamp)}
			})
		}
	case "message_template_status_update", "template_category_update", "message_template_quality_update":
		t, kind, err := parseTemplateUpdate(base.Field, value, ref.value())
		if err != nil {
			return append(events, unreadable(a, base, value, err))
		}
		add(kind, value, func(ev *Event) { ev.Template = t })
	case "messaging_handovers":
		h, err := parseHandover(value, ref.value())
		if err != nil {
			return append(events, unreadable(a, base, value, err))
		}
		if h != nil {
			add(EventHandover, value, func(ev *Event) { ev.Handover = h })
		}
	}
	if len(events) == n {
		// A field gtc does not handle (group updates, …) or a messages change without
		// anything gtc understands: keep it whole.
		add(EventUnknown, value, func(*Event) {})
	}
	return events
}

type wireError struct {
	Code      int    `json:"code"`
	Title     string `json:"title"`
	Message   string `json:"message"`
	Href      string `json:"href"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

func (w wireError) detail() ErrorDetail {
	return ErrorDetail{Code: w.Code, Title: w.Title, Message: w.Message, Details: w.ErrorData.Details, Href: w.Href}
}

type wireMedia struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
	Voice    bool   `json:"voice"`
}

// The one-pass reader (webhook_scan.go) reads this struct too, without reflection: a
// field added here needs its key in wireMessageKeys there (TestQuickKeys checks) and, to
// be read on the quick path, a case in quickMessage.
type wireMessage struct {
	From             string  `json:"from"`
	FromUserID       string  `json:"from_user_id"`
	FromParentUserID string  `json:"from_parent_user_id"`
	ID               string  `json:"id"`
	Timestamp        flexInt `json:"timestamp"`
	Type             string  `json:"type"`
	Context          *struct {
		From      string `json:"from"`
		ID        string `json:"id"`
		Forwarded bool   `json:"forwarded"`
	} `json:"context"`
	Text *struct {
		Body string `json:"body"`
	} `json:"text"`
	Interactive *struct {
		Type        string `json:"type"`
		ButtonReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply *struct {
			ID          string `json:"id"`
			Title       string `json:"title"`
			Description string `json:"description"`
		} `json:"list_reply"`
		NFMReply json.RawMessage `json:"nfm_reply"`
	} `json:"interactive"`
	Button *struct {
		Payload string `json:"payload"`
		Text    string `json:"text"`
	} `json:"button"`
	Image    *wireMedia `json:"image"`
	Video    *wireMedia `json:"video"`
	Audio    *wireMedia `json:"audio"`
	Document *wireMedia `json:"document"`
	Sticker  *wireMedia `json:"sticker"`
	Location *struct {
		Latitude  flexFloat `json:"latitude"`
		Longitude flexFloat `json:"longitude"`
		Name      string    `json:"name"`
		Address   string    `json:"address"`
		URL       string    `json:"url"`
	} `json:"location"`
	Contacts []json.RawMessage `json:"contacts"`
	Reaction *Reaction         `json:"reaction"`
	Order    json.RawMessage   `json:"order"`
	System   json.RawMessage   `json:"system"`
	Referral json.RawMessage   `json:"referral"`
	Errors   []wireError       `json:"errors"`
}

func parseMessage(raw json.RawMessage, at itemRef) (*InboundMessage, error) {
	var w wireMessage
	if !quickMessage(raw, &w) {
		w = wireMessage{}
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, webhookError(err, at.String())
		}
	}
	if w.ID == "" {
		return nil, &WebhookError{Path: at.String() + ".id", Msg: "missing message id"}
	}
	if w.From == "" && w.FromUserID == "" {
		return nil, &WebhookError{Path: at.String() + ".from", Msg: "missing sender: neither from nor from_user_id is set"}
	}
	m := &InboundMessage{ID: w.ID, Type: w.Type, From: w.From, FromUser: w.FromUserID, FromParentUser: w.FromParentUserID,
		Timestamp: int64(w.Timestamp), Contacts: cloneRaws(w.Contacts), Order: cloneRaw(w.Order),
		System: cloneRaw(w.System), Referral: cloneRaw(w.Referral)}
	if w.Type == "" {
		m.Type = "unknown"
	}
	if w.Context != nil {
		m.Context = &InboundContext{From: w.Context.From, ID: w.Context.ID, Forwarded: w.Context.Forwarded}
	}
	if w.Text != nil {
		m.Text = w.Text.Body
	}
	if in := w.Interactive; in != nil {
		switch {
		case in.ButtonReply != nil:
			m.Button = &ButtonReply{Kind: "button_reply", ID: in.ButtonReply.ID, Title: in.ButtonReply.Title}
		case in.ListReply != nil:
			m.List = &ListReply{ID: in.ListReply.ID, Title: in.ListReply.Title, Description: in.ListReply.Description}
		}
		if len(in.NFMReply) > 0 {
			m.NFMReply = cloneRaw(in.NFMReply)
			fr, err := parseFlowReply(in.NFMReply, at.String()+".interactive.nfm_reply")
			if err != nil {
				return nil, err
			}
			m.FlowReply = fr
		}
	}
	if len(m.System) > 0 {
		var sc struct {
			Type     string `json:"type"`
			Body     string `json:"body"`
			WaID     string `json:"wa_id"`
			NewWaID  string `json:"new_wa_id"`
			UserID   string `json:"user_id"`
			NewUser  string `json:"new_user_id"`
			Identity string `json:"identity"`
		}
		if err := decode(m.System, &sc, at.String()+".system"); err != nil {
			return nil, err
		}
		m.SystemChange = &SystemChange{Type: sc.Type, Body: sc.Body, WaID: cmp.Or(sc.WaID, sc.NewWaID), UserID: cmp.Or(sc.UserID, sc.NewUser)}
		if sc.Type == SystemUserChangedUserID {
			m.SystemChange.PreviousUserID = previousUserID(sc.Body, m.SystemChange.UserID)
		}
	}
	if w.Button != nil {
		m.Button = &ButtonReply{Kind: "quick_reply", ID: w.Button.Payload, Title: w.Button.Text}
		if m.Text == "" {
			m.Text = w.Button.Text
		}
	}
	for _, md := range []struct {
		typ string
		m   *wireMedia
	}{{"image", w.Image}, {"video", w.Video}, {"audio", w.Audio}, {"document", w.Document}, {"sticker", w.Sticker}} {
		if md.m != nil && (m.Media == nil || md.typ == w.Type) {
			m.Media = &InboundMedia{Type: md.typ, ID: md.m.ID, MimeType: md.m.MimeType, SHA256: md.m.SHA256,
				Caption: md.m.Caption, Filename: md.m.Filename, Voice: md.m.Voice}
		}
	}
	if l := w.Location; l != nil {
		m.Location = &InboundLocation{Latitude: float64(l.Latitude), Longitude: float64(l.Longitude),
			Name: l.Name, Address: l.Address, URL: l.URL}
	}
	if w.Reaction != nil {
		r := *w.Reaction
		m.Reaction = &r
	}
	for _, e := range w.Errors {
		m.Errors = append(m.Errors, e.detail())
	}
	return m, nil
}

// The one-pass reader (webhook_scan.go) reads this struct too, without reflection: a
// field added here needs its key in wireStatusKeys there (TestQuickKeys checks) and, to
// be read on the quick path, a case in quickStatus.
type wireStatus struct {
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	Timestamp       flexInt           `json:"timestamp"`
	RecipientID     string            `json:"recipient_id"`
	RecipientUserID string            `json:"recipient_user_id"`
	RecipientParent string            `json:"recipient_parent_user_id"`
	Errors          []wireError       `json:"errors"`
	BizOpaque       string            `json:"biz_opaque_callback_data"`
	Pricing         *wirePricing      `json:"pricing"`
	Conversation    *wireConversation `json:"conversation"`
}

type wirePricing struct {
	Billable     bool   `json:"billable"`
	PricingModel string `json:"pricing_model"`
	Category     string `json:"category"`
	Type         string `json:"type"`
}

type wireConversation struct {
	ID         string  `json:"id"`
	Expiration flexInt `json:"expiration_timestamp"`
	Origin     struct {
		Type string `json:"type"`
	} `json:"origin"`
}

func parseStatus(raw json.RawMessage, at itemRef) (*Status, error) {
	var w wireStatus
	if !quickStatus(raw, &w) {
		w = wireStatus{}
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, webhookError(err, at.String())
		}
	}
	if w.ID == "" {
		return nil, &WebhookError{Path: at.String() + ".id", Msg: "missing status id"}
	}
	if w.Status == "" {
		return nil, &WebhookError{Path: at.String() + ".status", Msg: "missing status"}
	}
	s := &Status{ID: w.ID, Status: w.Status, Timestamp: int64(w.Timestamp), RecipientID: w.RecipientID,
		RecipientUserID: w.RecipientUserID, RecipientParentUserID: w.RecipientParent, BizOpaqueCallbackData: w.BizOpaque}
	if p := w.Pricing; p != nil {
		s.Pricing = &Pricing{Billable: p.Billable, PricingModel: p.PricingModel, Category: p.Category, Type: p.Type}
	}
	if c := w.Conversation; c != nil {
		s.Conversation = &Conversation{ID: c.ID, ExpirationTimestamp: int64(c.Expiration), OriginType: c.Origin.Type}
	}
	for _, e := range w.Errors {
		s.Errors = append(s.Errors, e.detail())
	}
	return s, nil
}

// decode unmarshals data into v and turns encoding/json's errors into a *WebhookError whose
// path starts at base.
func decode(data []byte, v any, base string) error {
	if err := json.Unmarshal(data, v); err != nil {
		return webhookError(err, base)
	}
	return nil
}

// webhookError turns an error of encoding/json into a *WebhookError whose path starts at
// base.
func webhookError(err error, base string) *WebhookError {
	var (
		syn  *json.SyntaxError
		typ  *json.UnmarshalTypeError
		flex *flexError
	)
	switch {
	case errors.As(err, &syn):
		return &WebhookError{Path: base, Msg: fmt.Sprintf("invalid JSON at byte %d: %s", syn.Offset, syn.Error())}
	case errors.As(err, &typ):
		return &WebhookError{Path: joinPath(base, typ.Field), Msg: fmt.Sprintf("is a JSON %s, want %s", typ.Value, typeName(typ.Type.Kind().String()))}
	case errors.As(err, &flex):
		return &WebhookError{Path: base, Msg: flex.Error()}
	}
	return &WebhookError{Path: base, Msg: err.Error()}
}

func typeName(kind string) string {
	switch kind {
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	}
	return "a " + kind
}

func joinPath(base, field string) string {
	switch {
	case field == "":
		return base
	case base == "":
		return field
	}
	return base + "." + field
}

// flexInt is a Unix timestamp Meta sends as a string ("1749416383") or a number.
type flexInt int64

type flexError struct{ msg string }

func (e *flexError) Error() string { return e.msg }

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if n, ok := plainSeconds(b); ok {
		*f = flexInt(n)
		return nil
	}
	s := string(b)
	if s == "null" {
		return nil
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	if s == "" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return &flexError{msg: fmt.Sprintf("timestamp %s is not a whole number of seconds", truncate(string(b), 40))}
	}
	*f = flexInt(n)
	return nil
}

// plainSeconds reads the common timestamp, up to 18 digits in quotes or not, without
// allocating; anything else is left to flexInt.UnmarshalJSON's general path.
func plainSeconds(b []byte) (int64, bool) {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// flexFloat is a coordinate sent as a number or a numeric string.
type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return &flexError{msg: fmt.Sprintf("coordinate %s is not a number", truncate(string(b), 40))}
	}
	*f = flexFloat(n)
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// cloneRaw normalises an absent raw value to nil. encoding/json already copies RawMessage
// values out of the input, and the one-pass reader copies what events keep (rawArena),
// so events never alias the request body.
func cloneRaw(r json.RawMessage) json.RawMessage {
	if len(r) == 0 || string(r) == "null" {
		return nil
	}
	return r
}

func cloneRaws(rs []json.RawMessage) []json.RawMessage {
	if len(rs) == 0 {
		return nil
	}
	return rs
}

// previousUserID reads the BSUID a user changed from out of a user_changed_user_id body
// ("User NAME changed from OLD to NEW"): "" when the body does not name one, or names the
// new one.
func previousUserID(body, newID string) string {
	i := strings.LastIndex(body, " changed from ")
	if i < 0 {
		return ""
	}
	old, _, ok := strings.Cut(body[i+len(" changed from "):], " to ")
	if !ok || !IsBSUID(old) || old == newID {
		return ""
	}
	return old
}
