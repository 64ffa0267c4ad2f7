package graphfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/greentic/gtc/pkg/whatsapp"
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

// maxJSONBody bounds a messages request body (Meta's own limit is of the same order).
const maxJSONBody = 1 << 20

// readReceipt is the body of a read receipt / typing indicator.
type readReceipt struct {
	MessagingProduct string `json:"messaging_product"`
	Status           string `json:"status"`
	MessageID        string `json:"message_id"`
	TypingIndicator  *struct {
		Type string `json:"type"`
	} `json:"typing_indicator,omitempty"`
}

func (s *Server) serveMessages(rec *recorder, r *http.Request, call *Call) {
	body, err := io.ReadAll(http.MaxBytesReader(rec, r.Body, maxJSONBody))
	call.Body = body
	if err != nil {
		s.fault(rec, call, badParam(100, "$", "request body too large or unreadable: "+err.Error()))
		return
	}
	if f, ok := checkJSONContentType(r); !ok {
		s.fault(rec, call, f)
		return
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		s.fault(rec, call, badParam(100, "$", "body is not a JSON object: "+err.Error()))
		return
	}
	marketing := call.Endpoint == EndpointMarketing
	if _, isRead := probe["status"]; isRead && !marketing {
		call.Endpoint = EndpointRead
		s.serveRead(rec, call, body)
		return
	}

	msg, f, ok := decodeMessage(body)
	if msg != nil {
		call.Message = msg
	}
	if !ok {
		s.fault(rec, call, f)
		return
	}
	if f, ok := checkMessage(msg); !ok {
		s.fault(rec, call, f)
		return
	}
	if s.opts.CheckMediaIDs {
		if md := msg.MediaOf(); md != nil && md.ID != "" && !s.hasMedia(md.ID) {
			f := badParam(100, msg.Type+".id", fmt.Sprintf("Param %s['id'] is not a valid whatsapp business account media attachment ID", msg.Type))
			s.fault(rec, call, f)
			return
		}
	}
	if s.schema != nil {
		validate := s.schema.ValidateMessage
		if marketing {
			validate = s.schema.ValidateMarketingMessage
		}
		if err := validate(body); err != nil {
			s.fault(rec, call, schemaFault(err))
			return
		}
	}
	if msg.Type == whatsapp.TypeTemplate {
		if f, ok := s.checkTemplate(msg.Template); !ok {
			s.fault(rec, call, f)
			return
		}
	}
	if marketing && (msg.Type != whatsapp.TypeTemplate || s.category(msg) != "marketing") {
		s.fault(rec, call, badParam(131009, "template",
			"the Marketing Messages API sends marketing templates only: send other messages to /messages"))
		return
	}
	to := msg.RecipientKey()
	fault, faulty := s.takeFault(call.Endpoint, to)
	if faulty && !fault.Async {
		s.fault(rec, call, fault)
		return
	}
	s.mu.Lock()
	lf, allowed := s.limiter.allow(to, s.clock())
	s.mu.Unlock()
	if !allowed {
		s.fault(rec, call, lf)
		return
	}

	id := s.newWAMID(to)
	call.MessageID = id
	s.mu.Lock()
	s.messages = keep(s.messages, *msg, s.opts.MaxRecorded)
	s.counts.Messages++
	s.mu.Unlock()
	// contacts[]: the recipient as sent and who it resolved to, as Meta answers (wa_id for
	// a phone number, user_id for a business-scoped user id; "to" wins when both are set).
	contact := map[string]string{"input": msg.To, "wa_id": s.waID(msg.To)}
	if msg.To == "" {
		contact = map[string]string{"input": msg.Recipient, "user_id": msg.Recipient}
	}
	s.ok(rec, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{contact},
		"messages":          []map[string]string{answerMessage(id, marketing)},
	})
	job := hookJob{id: id, to: to, biz: msg.BizOpaqueCallbackData, category: s.category(msg)}
	if faulty {
		job.fault = &fault
	}
	s.hooks.enqueue(job)
}

func (s *Server) serveRead(rec *recorder, call *Call, body []byte) {
	var rr readReceipt
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rr); err != nil {
		s.fault(rec, call, jsonFault(err))
		return
	}
	switch {
	case rr.MessagingProduct == "":
		s.fault(rec, call, badParam(131008, "messaging_product", "is required"))
		return
	case rr.MessagingProduct != "whatsapp":
		s.fault(rec, call, badParam(131009, "messaging_product", `must be "whatsapp"`))
		return
	case rr.Status != "read":
		s.fault(rec, call, badParam(131009, "status", `must be "read"`))
		return
	case rr.MessageID == "":
		s.fault(rec, call, badParam(131008, "message_id", "is required"))
		return
	case !strings.HasPrefix(rr.MessageID, "wamid."):
		s.fault(rec, call, badParam(131009, "message_id", "is not a WhatsApp message id (wamid....)"))
		return
	case rr.TypingIndicator != nil && rr.TypingIndicator.Type != "text":
		s.fault(rec, call, badParam(131009, "typing_indicator.type", `must be "text"`))
		return
	}
	if f, ok := s.takeFault(EndpointRead, ""); ok {
		s.fault(rec, call, f)
		return
	}
	s.mu.Lock()
	s.reads = keep(s.reads, Read{MessageID: rr.MessageID, Typing: rr.TypingIndicator != nil}, s.opts.MaxRecorded)
	s.counts.Reads++
	s.mu.Unlock()
	s.ok(rec, map[string]bool{"success": true})
}

func checkJSONContentType(r *http.Request) (Fault, bool) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return badParam(100, "Content-Type", fmt.Sprintf("is %q, want application/json", ct)), false
	}
	return Fault{}, true
}

// decodeMessage decodes strictly: unknown keys, wrong JSON types and trailing data are code 100.
// What Meta accepts in two spellings is first brought to whatsapp.Message's: an integer button
// index becomes a string, and string coordinates become numbers.
func decodeMessage(body []byte) (*whatsapp.Message, Fault, bool) {
	var m whatsapp.Message
	dec := json.NewDecoder(bytes.NewReader(normalize(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, jsonFault(err), false
	}
	if dec.More() {
		return &m, badParam(100, "$", "unexpected data after the JSON object"), false
	}
	return &m, Fault{}, true
}

var unknownFieldRe = regexp.MustCompile(`^json: unknown field "(.*)"$`)

func jsonFault(err error) Fault {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		path := te.Field
		if path == "" {
			path = "$"
		}
		return badParam(100, path, fmt.Sprintf("is a JSON %s, want %s", te.Value, te.Type))
	case errors.As(err, &se):
		return badParam(100, "$", fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err))
	}
	if m := unknownFieldRe.FindStringSubmatch(err.Error()); m != nil {
		return badParam(100, m[1], "unknown parameter")
	}
	return badParam(100, "$", "invalid JSON: "+err.Error())
}

func schemaFault(err error) Fault {
	var me *metaschema.Error
	if errors.As(err, &me) {
		v := me.First()
		f := badParam(100, v.Path, v.Msg+" (Meta's schema)")
		f.Details = me.Error()
		return f
	}
	return badParam(100, "$", err.Error())
}

// checker collects the first broken Cloud API rule.
type checker struct {
	fault *Fault
}

func (c *checker) fail(code int, path, format string, args ...any) {
	if c.fault == nil {
		f := badParam(code, path, fmt.Sprintf(format, args...))
		c.fault = &f
	}
}

func (c *checker) required(path, v string) bool {
	if v == "" {
		c.fail(131008, path, "is required")
		return false
	}
	return true
}

func (c *checker) maxLen(path, v string, n int) {
	if l := utf8.RuneCountInString(v); l > n {
		c.fail(131009, path, "is %d characters, the limit is %d", l, n)
	}
}

var (
	phoneRe = regexp.MustCompile(`^\+?[0-9]{7,15}$`)
	// business-scoped user ids (2026): country code, a dot, then an opaque id.
	bsuidRe  = regexp.MustCompile(`^[A-Z]{2}\.(ENT\.)?[0-9A-Za-z]{6,64}$`)
	kindKeys = []string{"text", "template", "interactive", "image", "video", "audio", "document",
		"sticker", "location", "contacts", "reaction"}
)

// checkMessage applies the Cloud API's rules and limits (cloud-api.md) to a decoded send.
// It is written independently of whatsapp.(*Message).Validate so that the two check each other.
func checkMessage(m *whatsapp.Message) (Fault, bool) {
	c := &checker{}
	if c.required("messaging_product", m.MessagingProduct) && m.MessagingProduct != "whatsapp" {
		c.fail(131009, "messaging_product", `must be "whatsapp", got %q`, m.MessagingProduct)
	}
	if m.RecipientType != "" && m.RecipientType != "individual" && m.RecipientType != "group" {
		c.fail(131009, "recipient_type", `must be "individual" or "group", got %q`, m.RecipientType)
	}
	switch {
	case m.To == "" && m.Recipient != "":
		if !bsuidRe.MatchString(m.Recipient) {
			c.fail(131009, "recipient", "%q is not a business-scoped user id (e.g. US.13491208655302741918)", m.Recipient)
		}
	case c.required("to", m.To) && !phoneRe.MatchString(m.To) && !bsuidRe.MatchString(m.To):
		c.fail(131009, "to", "%q is not a phone number in international format (digits with country code, optional +)", m.To)
	}
	if n := utf8.RuneCountInString(m.BizOpaqueCallbackData); n > whatsapp.MaxCallbackData {
		c.fail(100, "biz_opaque_callback_data", "is %d characters, the limit is %d", n, whatsapp.MaxCallbackData)
	}
	if m.Context != nil {
		c.required("context.message_id", m.Context.MessageID)
	}
	present := map[string]bool{
		"text": m.Text != nil, "template": m.Template != nil, "interactive": m.Interactive != nil,
		"image": m.Image != nil, "video": m.Video != nil, "audio": m.Audio != nil,
		"document": m.Document != nil, "sticker": m.Sticker != nil, "location": m.Location != nil,
		"contacts": m.Contacts != nil, "reaction": m.Reaction != nil,
	}
	if !c.required("type", m.Type) {
		return *c.fault, false
	}
	if _, known := present[m.Type]; !known {
		c.fail(131051, "type", "%q is not a message type (want one of %s)", m.Type, strings.Join(kindKeys, ", "))
		return *c.fault, false
	}
	if !present[m.Type] {
		c.fail(131008, m.Type, "is required for a message of type %s", m.Type)
	}
	for _, k := range kindKeys {
		if present[k] && k != m.Type {
			c.fail(131009, k, "is not allowed in a message of type %s", m.Type)
		}
	}
	if c.fault != nil {
		return *c.fault, false
	}
	switch m.Type {
	case "text":
		if c.required("text.body", m.Text.Body) {
			c.maxLen("text.body", m.Text.Body, whatsapp.MaxTextBody)
		}
	case "template":
		checkTemplateShape(c, m.Template)
	case "interactive":
		checkInteractive(c, m.Interactive)
	case "image", "video", "audio", "document", "sticker":
		checkMedia(c, m.Type, m.Type, m.MediaOf(), true)
	case "location":
		l := m.Location
		if l.Latitude < -90 || l.Latitude > 90 {
			c.fail(131009, "location.latitude", "%v is outside -90..90", l.Latitude)
		}
		if l.Longitude < -180 || l.Longitude > 180 {
			c.fail(131009, "location.longitude", "%v is outside -180..180", l.Longitude)
		}
	case "contacts":
		if len(m.Contacts) == 0 {
			c.fail(131008, "contacts", "needs at least one contact")
		}
		if len(m.Contacts) > whatsapp.MaxContacts {
			c.fail(131009, "contacts", "has %d contacts, the limit is %d", len(m.Contacts), whatsapp.MaxContacts)
		}
		for i, ct := range m.Contacts {
			c.required(fmt.Sprintf("contacts[%d].name.formatted_name", i), ct.Name.FormattedName)
		}
	case "reaction":
		c.required("reaction.message_id", m.Reaction.MessageID)
		if utf8.RuneCountInString(m.Reaction.Emoji) > 10 {
			c.fail(131009, "reaction.emoji", "must be a single emoji (or empty to remove the reaction)")
		}
	}
	if c.fault != nil {
		return *c.fault, false
	}
	return Fault{}, true
}

func checkMedia(c *checker, kind, path string, md *whatsapp.Media, message bool) {
	switch {
	case md.ID == "" && md.Link == "":
		c.fail(131008, path, "needs one of id or link")
	case md.ID != "" && md.Link != "":
		c.fail(131009, path, "has both id and link; send exactly one")
	case md.Link != "":
		u, err := url.Parse(md.Link)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.fail(131009, path+".link", "%q is not an http(s) URL", md.Link)
		}
	}
	if md.Caption != "" {
		if !message || (kind != "image" && kind != "video" && kind != "document") {
			c.fail(131009, path+".caption", "is not allowed for %s", kind)
		}
		c.maxLen(path+".caption", md.Caption, whatsapp.MaxCaption)
	}
	if md.Filename != "" && kind != "document" {
		c.fail(131009, path+".filename", "is only allowed for documents")
	}
	if md.Voice && kind != "audio" {
		c.fail(131009, path+".voice", "is only allowed for audio")
	}
}

func checkInteractive(c *checker, in *whatsapp.Interactive) {
	body := ""
	if in.Body != nil {
		body = in.Body.Text
	}
	if in.Header != nil {
		h := in.Header
		switch h.Type {
		case "text":
			if c.required("interactive.header.text", h.Text) {
				c.maxLen("interactive.header.text", h.Text, whatsapp.MaxHeaderText)
			}
		case "image":
			if h.Image == nil {
				c.fail(131008, "interactive.header.image", "is required for a header of type image")
			} else {
				checkMedia(c, "image", "interactive.header.image", h.Image, false)
			}
		case "video":
			if h.Video == nil {
				c.fail(131008, "interactive.header.video", "is required for a header of type video")
			} else {
				checkMedia(c, "video", "interactive.header.video", h.Video, false)
			}
		case "document":
			if h.Document == nil {
				c.fail(131008, "interactive.header.document", "is required for a header of type document")
			} else {
				checkMedia(c, "document", "interactive.header.document", h.Document, false)
			}
		case "":
			c.fail(131008, "interactive.header.type", "is required")
		default:
			c.fail(131009, "interactive.header.type", "%q is not one of text, image, video, document", h.Type)
		}
	}
	if in.Footer != nil && c.required("interactive.footer.text", in.Footer.Text) {
		c.maxLen("interactive.footer.text", in.Footer.Text, whatsapp.MaxFooterText)
	}
	a := in.Action
	switch in.Type {
	case "button":
		if c.required("interactive.body.text", body) {
			c.maxLen("interactive.body.text", body, whatsapp.MaxInteractiveBody)
		}
		if a.Button != "" || a.Sections != nil || a.Name != "" || a.Parameters != nil {
			c.fail(131009, "interactive.action", "a button message takes only action.buttons")
		}
		switch n := len(a.Buttons); {
		case n == 0:
			c.fail(131008, "interactive.action.buttons", "needs at least one button")
		case n > whatsapp.MaxButtons:
			c.fail(131009, "interactive.action.buttons", "has %d buttons, the limit is %d", n, whatsapp.MaxButtons)
		}
		ids, titles := map[string]bool{}, map[string]bool{}
		for i, b := range a.Buttons {
			p := fmt.Sprintf("interactive.action.buttons[%d]", i)
			if b.Type != "reply" {
				c.fail(131009, p+".type", `must be "reply", got %q`, b.Type)
			}
			if c.required(p+".reply.id", b.Reply.ID) {
				c.maxLen(p+".reply.id", b.Reply.ID, whatsapp.MaxButtonID)
				if strings.TrimSpace(b.Reply.ID) != b.Reply.ID {
					c.fail(131009, p+".reply.id", "must not have leading or trailing spaces")
				}
				if ids[b.Reply.ID] {
					c.fail(131009, p+".reply.id", "%q is used by another button; ids must be unique", b.Reply.ID)
				}
				ids[b.Reply.ID] = true
			}
			if c.required(p+".reply.title", b.Reply.Title) {
				c.maxLen(p+".reply.title", b.Reply.Title, whatsapp.MaxButtonTitle)
				if titles[b.Reply.Title] {
					c.fail(131009, p+".reply.title", "%q is used by another button; titles must be unique", b.Reply.Title)
				}
				titles[b.Reply.Title] = true
			}
		}
	case "list":
		if c.required("interactive.body.text", body) {
			c.maxLen("interactive.body.text", body, whatsapp.MaxTextBody)
		}
		if in.Header != nil && in.Header.Type != "text" {
			c.fail(131009, "interactive.header.type", "a list message header must be text")
		}
		if a.Buttons != nil || a.Name != "" || a.Parameters != nil {
			c.fail(131009, "interactive.action", "a list message takes only action.button and action.sections")
		}
		if c.required("interactive.action.button", a.Button) {
			c.maxLen("interactive.action.button", a.Button, whatsapp.MaxListButton)
		}
		switch n := len(a.Sections); {
		case n == 0:
			c.fail(131008, "interactive.action.sections", "needs at least one section")
		case n > whatsapp.MaxSections:
			c.fail(131009, "interactive.action.sections", "has %d sections, the limit is %d", n, whatsapp.MaxSections)
		}
		rows, ids := 0, map[string]bool{}
		for i, sec := range a.Sections {
			p := fmt.Sprintf("interactive.action.sections[%d]", i)
			if len(a.Sections) > 1 {
				c.required(p+".title", sec.Title)
			}
			c.maxLen(p+".title", sec.Title, whatsapp.MaxSectionTitle)
			if len(sec.Rows) == 0 {
				c.fail(131008, p+".rows", "needs at least one row")
			}
			for j, row := range sec.Rows {
				rp := fmt.Sprintf("%s.rows[%d]", p, j)
				rows++
				if c.required(rp+".id", row.ID) {
					c.maxLen(rp+".id", row.ID, whatsapp.MaxRowID)
					if ids[row.ID] {
						c.fail(131009, rp+".id", "%q is used by another row; ids must be unique", row.ID)
					}
					ids[row.ID] = true
				}
				if c.required(rp+".title", row.Title) {
					c.maxLen(rp+".title", row.Title, whatsapp.MaxRowTitle)
				}
				c.maxLen(rp+".description", row.Description, whatsapp.MaxRowDescription)
			}
		}
		if rows > whatsapp.MaxRowsTotal {
			c.fail(131009, "interactive.action.sections", "has %d rows in all, the limit is %d", rows, whatsapp.MaxRowsTotal)
		}
	case "cta_url":
		if c.required("interactive.body.text", body) {
			c.maxLen("interactive.body.text", body, whatsapp.MaxInteractiveBody)
		}
		if a.Buttons != nil || a.Sections != nil || a.Button != "" {
			c.fail(131009, "interactive.action", "a cta_url message takes only action.name and action.parameters")
		}
		if c.required("interactive.action.name", a.Name) && a.Name != "cta_url" {
			c.fail(131009, "interactive.action.name", `must be "cta_url", got %q`, a.Name)
		}
		if a.Parameters == nil {
			c.fail(131008, "interactive.action.parameters", "is required")
			return
		}
		if c.required("interactive.action.parameters.display_text", a.Parameters.DisplayText) {
			c.maxLen("interactive.action.parameters.display_text", a.Parameters.DisplayText, whatsapp.MaxCTADisplayText)
		}
		if c.required("interactive.action.parameters.url", a.Parameters.URL) {
			u, err := url.Parse(a.Parameters.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				c.fail(131009, "interactive.action.parameters.url", "%q is not an http(s) URL", a.Parameters.URL)
			}
		}
	case "flow":
		checkFlow(c, body, a)
	case "":
		c.fail(131008, "interactive.type", "is required")
	default:
		c.fail(131009, "interactive.type", "%q is not supported here (graphfake models button, list, cta_url and flow)", in.Type)
	}
}

// checkFlow applies Meta's rules for a WhatsApp Flow message (interactive type flow).
func checkFlow(c *checker, body string, a whatsapp.Action) {
	if c.required("interactive.body.text", body) {
		c.maxLen("interactive.body.text", body, whatsapp.MaxInteractiveBody)
	}
	if a.Buttons != nil || a.Sections != nil || a.Button != "" || a.Parameters != nil {
		c.fail(131009, "interactive.action", "a flow message takes only action.name and the flow parameters")
	}
	if c.required("interactive.action.name", a.Name) && a.Name != "flow" {
		c.fail(131009, "interactive.action.name", `must be "flow", got %q`, a.Name)
	}
	f := a.Flow
	const p = "interactive.action.parameters"
	if f == nil {
		c.fail(131008, p, "is required")
		return
	}
	if f.FlowMessageVersion != whatsapp.FlowMessageVersion {
		c.fail(131009, p+".flow_message_version", `must be "3", got %q`, f.FlowMessageVersion)
	}
	switch {
	case f.FlowID == "" && f.FlowName == "":
		c.fail(131008, p+".flow_id", "flow_id or flow_name is required")
	case f.FlowID != "" && f.FlowName != "":
		c.fail(131009, p+".flow_name", "cannot be used with flow_id")
	}
	if c.required(p+".flow_cta", f.FlowCTA) {
		c.maxLen(p+".flow_cta", f.FlowCTA, whatsapp.MaxFlowCTA)
	}
	if f.Mode != "" && f.Mode != "draft" && f.Mode != "published" {
		c.fail(131009, p+".mode", "%q is not draft or published", f.Mode)
	}
	switch f.FlowAction {
	case "", whatsapp.FlowActionNavigate:
		if pl := f.FlowActionPayload; pl != nil && pl.Data != nil && len(pl.Data) == 0 {
			c.fail(131009, p+".flow_action_payload.data", "must be a non-empty object")
		}
	case whatsapp.FlowActionData:
		if f.FlowActionPayload != nil {
			c.fail(131009, p+".flow_action_payload", "is only for flow_action navigate")
		}
	default:
		c.fail(131009, p+".flow_action", "%q is not navigate or data_exchange", f.FlowAction)
	}
}

var indexRe = regexp.MustCompile(`^[0-9]$`)

// checkTemplateShape checks a template's structure; checkTemplate then checks it against
// the account's templates.
func checkTemplateShape(c *checker, t *whatsapp.Template) {
	c.required("template.name", t.Name)
	c.required("template.language.code", t.Language.Code)
	if t.Language.Policy != "" && t.Language.Policy != "deterministic" {
		c.fail(131009, "template.language.policy", `must be "deterministic", got %q`, t.Language.Policy)
	}
	for i, comp := range t.Components {
		p := fmt.Sprintf("template.components[%d]", i)
		switch comp.Type {
		case "header", "body":
			if comp.SubType != "" || comp.Index != nil {
				c.fail(131009, p, "sub_type and index are only for buttons")
			}
		case "button":
			switch comp.SubType {
			case "quick_reply", "url", "catalog", "flow", "copy_code":
			case "":
				c.fail(131008, p+".sub_type", "is required for a button component")
			default:
				c.fail(131009, p+".sub_type", "%q is not a button sub_type", comp.SubType)
			}
			if comp.Index == nil {
				c.fail(131008, p+".index", "is required for a button component")
			} else if !indexRe.MatchString(*comp.Index) {
				c.fail(131009, p+".index", "%q must be 0-9", *comp.Index)
			}
		case "":
			c.fail(131008, p+".type", "is required")
		default:
			c.fail(131009, p+".type", "%q is not one of header, body, button", comp.Type)
		}
		for j, prm := range comp.Parameters {
			pp := fmt.Sprintf("%s.parameters[%d]", p, j)
			switch prm.Type {
			case "text":
				if comp.Type != "button" || comp.SubType == "url" {
					c.required(pp+".text", prm.Text)
				}
				if comp.Type == "header" {
					c.maxLen(pp+".text", prm.Text, whatsapp.MaxHeaderText)
				}
			case "payload":
				if comp.Type != "button" {
					c.fail(131009, pp+".type", "payload parameters are only for buttons")
				}
				c.required(pp+".payload", prm.Payload)
			case "image", "video", "document":
				md := map[string]*whatsapp.Media{"image": prm.Image, "video": prm.Video, "document": prm.Document}[prm.Type]
				if md == nil {
					c.fail(131008, pp+"."+prm.Type, "is required for a parameter of type %s", prm.Type)
				} else {
					checkMedia(c, prm.Type, pp+"."+prm.Type, md, false)
				}
			case "currency":
				if prm.Currency == nil {
					c.fail(131008, pp+".currency", "is required")
				} else {
					c.required(pp+".currency.code", prm.Currency.Code)
					c.required(pp+".currency.fallback_value", prm.Currency.FallbackValue)
				}
			case "date_time":
				if prm.DateTime == nil {
					c.fail(131008, pp+".date_time", "is required")
				} else {
					c.required(pp+".date_time.fallback_value", prm.DateTime.FallbackValue)
				}
			case "action":
				if comp.Type != "button" || comp.SubType != "flow" {
					c.fail(131009, pp+".type", "action parameters are only for FLOW buttons (sub_type flow)")
				}
				if prm.Action == nil || (prm.Action.FlowToken == "" && len(prm.Action.FlowActionData) == 0) {
					c.fail(131008, pp+".action", "needs flow_token or flow_action_data")
				}
			case "":
				c.fail(131008, pp+".type", "is required")
			default:
				c.fail(131009, pp+".type", "%q is not a parameter type", prm.Type)
			}
		}
	}
}

// normalize rewrites the alternative spellings Meta accepts; any body it cannot read is
// returned unchanged for the strict decoder to report.
func normalize(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil || dec.More() {
		return body
	}
	changed := false
	if tpl, ok := m["template"].(map[string]any); ok {
		comps, _ := tpl["components"].([]any)
		for _, c := range comps {
			cm, ok := c.(map[string]any)
			if !ok {
				continue
			}
			if n, ok := cm["index"].(json.Number); ok {
				cm["index"] = n.String()
				changed = true
			}
		}
	}
	if loc, ok := m["location"].(map[string]any); ok {
		for _, k := range []string{"latitude", "longitude"} {
			if str, ok := loc[k].(string); ok {
				if _, err := strconv.ParseFloat(str, 64); err == nil {
					loc[k] = json.Number(str)
					changed = true
				}
			}
		}
	}
	if !changed {
		return body
	}
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// waID is the wa_id a phone number resolves to: Options.WaIDs when it names the number
// (digits), else its digits.
func (s *Server) waID(to string) string {
	d := digits(to)
	if w, ok := s.opts.WaIDs[d]; ok {
		return w
	}
	return d
}

// category is what Meta bills a send as: the template's category (lower case) for a
// template, service for anything else (a reply in the customer service window).
func (s *Server) category(m *whatsapp.Message) string {
	if m.Template == nil {
		return "service"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.templates {
		if t.Name == m.Template.Name && t.Language == m.Template.Language.Code && t.Category != "" {
			return strings.ToLower(t.Category)
		}
	}
	return "utility"
}

// answerMessage is messages[0] of a send's answer; the Marketing Messages API adds
// message_status.
func answerMessage(id string, marketing bool) map[string]string {
	if marketing {
		return map[string]string{"id": id, "message_status": "accepted"}
	}
	return map[string]string{"id": id}
}
