// Package whatsapp is gtc's knowledge of Meta's WhatsApp Business Cloud API: the outbound
// message types and their limits, the client that sends them, the Graph error taxonomy, and
// the webhook side (handshake, X-Hub-Signature-256, payload types).
//
// The shapes follow ../shared/cloud-api.md and Meta's OpenAPI description; contract tests
// validate every body built here against #/components/schemas/Message.
package whatsapp

import (
	"bytes"
	"encoding/json"
)

// Limits of the Cloud API that gtc checks before sending (and gtc validate checks in flows).
const (
	MaxTextBody          = 4096
	MaxCaption           = 1024
	MaxInteractiveBody   = 1024 // reply buttons; lists allow MaxTextBody
	MaxHeaderText        = 60
	MaxFooterText        = 60
	MaxButtons           = 3
	MaxButtonTitle       = 20
	MaxButtonID          = 256
	MaxListButton        = 20
	MaxSections          = 10
	MaxRowsTotal         = 10
	MaxSectionTitle      = 24
	MaxRowID             = 200
	MaxRowTitle          = 24
	MaxRowDescription    = 72
	MaxCTADisplayText    = 20
	MaxContacts          = 257
	MaxCallbackData      = 512 // biz_opaque_callback_data
	DefaultAPIVersion    = "v18.0"
	DefaultAPIBaseURL    = "https://graph.facebook.com"
	MessagingProduct     = "whatsapp"
	RecipientIndividual  = "individual"
	DefaultRatePerSecond = 80 // messages per second per phone number
)

// Message kinds (the "type" of a message request).
const (
	TypeText        = "text"
	TypeTemplate    = "template"
	TypeInteractive = "interactive"
	TypeImage       = "image"
	TypeVideo       = "video"
	TypeAudio       = "audio"
	TypeDocument    = "document"
	TypeSticker     = "sticker"
	TypeLocation    = "location"
	TypeContacts    = "contacts"
	TypeReaction    = "reaction"
)

// MediaTypes are the message kinds that carry a Media object.
var MediaTypes = []string{TypeImage, TypeDocument, TypeAudio, TypeVideo, TypeSticker}

// Message is the body of POST /{phone_number_id}/messages.
type Message struct {
	MessagingProduct string `json:"messaging_product"`
	RecipientType    string `json:"recipient_type,omitempty"`
	// To is the recipient's phone number. A business-scoped user id (BSUID, "US.1349…")
	// may be put here too: it goes on the wire as recipient, where Meta wants it (Wire).
	To string `json:"to,omitempty"`
	// Recipient is a BSUID or parent BSUID, for a user known without a phone number. When
	// both are set, Meta sends to To.
	Recipient string   `json:"recipient,omitempty"`
	Type      string   `json:"type"`
	Context   *Context `json:"context,omitempty"`
	// BizOpaqueCallbackData is an arbitrary string (at most 512 characters) Meta does not
	// process but echoes in this message's status webhooks (Status.BizOpaqueCallbackData);
	// gtc puts a Callback (outbound id, attempt, creation time) there to tie statuses to sends.
	BizOpaqueCallbackData string `json:"biz_opaque_callback_data,omitempty"`
	// Marketing marks a marketing-category template: a client with
	// ClientConfig.MarketingMessages sends it through the Marketing Messages API. Not sent.
	Marketing bool `json:"-"`

	Text        *Text        `json:"text,omitempty"`
	Template    *Template    `json:"template,omitempty"`
	Interactive *Interactive `json:"interactive,omitempty"`
	Image       *Media       `json:"image,omitempty"`
	Video       *Media       `json:"video,omitempty"`
	Audio       *Media       `json:"audio,omitempty"`
	Document    *Media       `json:"document,omitempty"`
	Sticker     *Media       `json:"sticker,omitempty"`
	Location    *Location    `json:"location,omitempty"`
	Contacts    []Contact    `json:"contacts,omitempty"`
	Reaction    *Reaction    `json:"reaction,omitempty"`
}

// Wire is m as it goes over the wire: a business-scoped user id given in To moves to
// recipient, as Meta documents for BSUIDs. m itself is not changed.
func (m *Message) Wire() *Message {
	if m.Recipient != "" || !IsBSUID(m.To) {
		return m
	}
	w := *m
	w.To, w.Recipient = "", m.To
	return &w
}

// RecipientKey is who m goes to: To, or Recipient (a BSUID) when there is no To. Pacing and
// errors name the recipient by it.
func (m *Message) RecipientKey() string {
	if m.To != "" {
		return m.To
	}
	return m.Recipient
}

// IsTemplate reports whether m may be sent outside the 24-hour window.
func (m *Message) IsTemplate() bool { return m.Type == TypeTemplate }

// MediaOf returns the Media of a media message, or nil.
func (m *Message) MediaOf() *Media {
	switch m.Type {
	case TypeImage:
		return m.Image
	case TypeVideo:
		return m.Video
	case TypeAudio:
		return m.Audio
	case TypeDocument:
		return m.Document
	case TypeSticker:
		return m.Sticker
	}
	return nil
}

// SetMedia sets the media object for kind (one of MediaTypes) and the message type.
func (m *Message) SetMedia(kind string, media *Media) {
	m.Type = kind
	switch kind {
	case TypeImage:
		m.Image = media
	case TypeVideo:
		m.Video = media
	case TypeAudio:
		m.Audio = media
	case TypeDocument:
		m.Document = media
	case TypeSticker:
		m.Sticker = media
	}
}

// Context makes a message a reply to an earlier one.
type Context struct {
	MessageID string `json:"message_id"`
}

// Text is a text message.
type Text struct {
	Body       string `json:"body"`
	PreviewURL bool   `json:"preview_url,omitempty"`
}

// Template is an approved message template with its parameters.
type Template struct {
	Name       string      `json:"name"`
	Language   Language    `json:"language"`
	Components []Component `json:"components,omitempty"`
}

// Language of a template. The seed writes `language: "en"`; gtc sends {"code":"en"}.
type Language struct {
	Code   string `json:"code"`
	Policy string `json:"policy,omitempty"`
}

// Component is a template's header, body or button with its parameters.
type Component struct {
	Type       string      `json:"type"`               // header, body, button
	SubType    string      `json:"sub_type,omitempty"` // quick_reply, url, catalog (buttons)
	Index      *string     `json:"index,omitempty"`    // button position, "0".."9"
	Parameters []Parameter `json:"parameters,omitempty"`
}

// Parameter fills one placeholder of a template component.
type Parameter struct {
	Type          string    `json:"type"` // text, image, document, video, payload, currency, date_time
	ParameterName string    `json:"parameter_name,omitempty"`
	Text          string    `json:"text,omitempty"`
	Payload       string    `json:"payload,omitempty"`
	Image         *Media    `json:"image,omitempty"`
	Document      *Media    `json:"document,omitempty"`
	Video         *Media    `json:"video,omitempty"`
	Currency      *Currency `json:"currency,omitempty"`
	DateTime      *DateTime `json:"date_time,omitempty"`
	// Action fills a FLOW button (component sub_type flow, parameter type action).
	Action *TemplateAction `json:"action,omitempty"`
}

// Currency is a currency template parameter.
type Currency struct {
	FallbackValue string `json:"fallback_value"`
	Code          string `json:"code"`
	Amount1000    int64  `json:"amount_1000"`
}

// DateTime is a date_time template parameter.
type DateTime struct {
	FallbackValue string `json:"fallback_value"`
}

// Interactive is a reply-button, list, CTA URL or Flow message.
type Interactive struct {
	Type   string             `json:"type"` // button, list, cta_url, flow
	Header *InteractiveHeader `json:"header,omitempty"`
	Body   *InteractiveText   `json:"body,omitempty"`
	Footer *InteractiveText   `json:"footer,omitempty"`
	Action Action             `json:"action"`
}

// InteractiveHeader is the optional header of an interactive message.
type InteractiveHeader struct {
	Type     string `json:"type"` // text, image, video, document
	Text     string `json:"text,omitempty"`
	Image    *Media `json:"image,omitempty"`
	Video    *Media `json:"video,omitempty"`
	Document *Media `json:"document,omitempty"`
}

// InteractiveText is a body or footer.
type InteractiveText struct {
	Text string `json:"text"`
}

// Action is the interactive part: reply buttons, list sections, a CTA URL or a Flow.
type Action struct {
	Button     string         `json:"button,omitempty"`   // list: the button that opens the list
	Buttons    []ReplyButton  `json:"buttons,omitempty"`  // reply buttons
	Sections   []Section      `json:"sections,omitempty"` // list sections
	Name       string         `json:"name,omitempty"`     // cta_url, flow
	Parameters *CTAParameters `json:"parameters,omitempty"`
	// Flow is the parameters of a flow action (name "flow"); it goes on the wire as
	// action.parameters, in place of Parameters.
	Flow *FlowParameters `json:"-"`
}

// MarshalJSON writes Flow as action.parameters when it is set.
func (a Action) MarshalJSON() ([]byte, error) {
	type plain Action
	if a.Flow == nil {
		return json.Marshal(plain(a))
	}
	return json.Marshal(struct {
		plain
		Parameters *FlowParameters `json:"parameters"`
	}{plain(a), a.Flow})
}

// UnmarshalJSON reads action.parameters into Flow for a flow action (name "flow"), else
// into Parameters. It is strict, as a decoder with DisallowUnknownFields would be (that
// setting does not reach a custom unmarshaler): an unknown key is an error.
func (a *Action) UnmarshalJSON(b []byte) error {
	type plain Action
	var w struct {
		plain
		Parameters json.RawMessage `json:"parameters"`
	}
	if err := strictUnmarshal(b, &w); err != nil {
		return err
	}
	*a = Action(w.plain)
	if len(w.Parameters) == 0 || string(w.Parameters) == "null" {
		return nil
	}
	if a.Name == "flow" {
		a.Flow = &FlowParameters{}
		return strictUnmarshal(w.Parameters, a.Flow)
	}
	a.Parameters = &CTAParameters{}
	return strictUnmarshal(w.Parameters, a.Parameters)
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// Flow actions and modes (interactive type "flow").
const (
	FlowMessageVersion = "3"
	FlowActionNavigate = "navigate"
	FlowActionData     = "data_exchange"
	MaxFlowCTA         = 30
)

// FlowParameters open a WhatsApp Flow (Meta's native forms): by FlowID or FlowName (one of
// them), with the button text FlowCTA. FlowAction navigate (the default) opens
// FlowActionPayload.Screen with its Data; data_exchange asks the business's flow endpoint
// for the first screen. FlowToken comes back in the reply (nfm_reply.response_json).
type FlowParameters struct {
	FlowMessageVersion string             `json:"flow_message_version"` // "3"; Prepare fills it
	FlowID             string             `json:"flow_id,omitempty"`
	FlowName           string             `json:"flow_name,omitempty"`
	FlowCTA            string             `json:"flow_cta"`
	Mode               string             `json:"mode,omitempty"` // draft or published (default)
	FlowToken          string             `json:"flow_token,omitempty"`
	FlowAction         string             `json:"flow_action,omitempty"` // navigate (default) or data_exchange
	FlowActionPayload  *FlowActionPayload `json:"flow_action_payload,omitempty"`
}

// FlowActionPayload is the first screen of a navigate flow and its input data.
type FlowActionPayload struct {
	Screen string         `json:"screen,omitempty"`
	Data   map[string]any `json:"data,omitempty"`
}

// TemplateAction is the parameter of a template's FLOW button (type "action").
type TemplateAction struct {
	FlowToken      string         `json:"flow_token,omitempty"`
	FlowActionData map[string]any `json:"flow_action_data,omitempty"`
}

// ReplyButton is one reply button.
type ReplyButton struct {
	Type  string `json:"type"` // always "reply"
	Reply Reply  `json:"reply"`
}

// Reply is a reply button's id and title.
type Reply struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// Section is a titled group of list rows.
type Section struct {
	Title string `json:"title,omitempty"`
	Rows  []Row  `json:"rows"`
}

// Row is one choice of a list message.
type Row struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// CTAParameters are the parameters of a cta_url action.
type CTAParameters struct {
	DisplayText string `json:"display_text"`
	URL         string `json:"url"`
}

// Media is an image, video, audio, document or sticker, by uploaded id or by link.
type Media struct {
	ID       string `json:"id,omitempty"`
	Link     string `json:"link,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
	Voice    bool   `json:"voice,omitempty"`
}

// Location is a map pin.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
}

// Reaction is an emoji reaction to a message (an empty emoji removes it).
type Reaction struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji"`
}

// Contact is a contact card.
type Contact struct {
	Name   ContactName    `json:"name"`
	Phones []ContactPhone `json:"phones,omitempty"`
	Emails []ContactEmail `json:"emails,omitempty"`
	Org    *ContactOrg    `json:"org,omitempty"`
	URLs   []ContactURL   `json:"urls,omitempty"`
}

// ContactName is a contact card's name; formatted_name is required.
type ContactName struct {
	FormattedName string `json:"formatted_name"`
	FirstName     string `json:"first_name,omitempty"`
	LastName      string `json:"last_name,omitempty"`
}

// ContactPhone is a phone number on a contact card.
type ContactPhone struct {
	Phone string `json:"phone,omitempty"`
	Type  string `json:"type,omitempty"`
	WaID  string `json:"wa_id,omitempty"`
}

// ContactEmail is an email address on a contact card.
type ContactEmail struct {
	Email string `json:"email,omitempty"`
	Type  string `json:"type,omitempty"`
}

// ContactOrg is a contact card's organisation.
type ContactOrg struct {
	Company    string `json:"company,omitempty"`
	Department string `json:"department,omitempty"`
	Title      string `json:"title,omitempty"`
}

// ContactURL is a web address on a contact card.
type ContactURL struct {
	URL  string `json:"url,omitempty"`
	Type string `json:"type,omitempty"`
}
