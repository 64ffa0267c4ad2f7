package whatsapp

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// FieldProblem is one broken Cloud API rule, at a JSON path of the request body.
type FieldProblem struct {
	Path string // e.g. "interactive.action.buttons[1].reply.title"
	Msg  string
}

func (p FieldProblem) String() string { return p.Path + ": " + p.Msg }

// ValidationError lists every rule a message breaks. Its text names each JSON path.
type ValidationError struct {
	Problems []FieldProblem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid message: " + strings.Join(parts, "; ")
}

type checker struct{ probs []FieldProblem }

func (c *checker) add(path, format string, args ...any) {
	c.probs = append(c.probs, FieldProblem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) required(path, v string) bool {
	if strings.TrimSpace(v) == "" {
		c.add(path, "is required")
		return false
	}
	return true
}

func (c *checker) max(path, v string, n int) {
	if l := utf8.RuneCountInString(v); l > n {
		c.add(path, "is %d characters, the limit is %d", l, n)
	}
}

// Validate checks m against the Cloud API's limits for its kind (see cloud-api.md): the
// client calls it before every send, gtc send before sending or printing a dry run. It
// returns a *ValidationError naming every broken rule, or nil. The recipient must already be
// normalised (NormalizeE164) or be a business-scoped user id.
func (m *Message) Validate() error {
	c := &checker{}
	if m.MessagingProduct != "" && m.MessagingProduct != MessagingProduct {
		c.add("messaging_product", "must be %q", MessagingProduct)
	}
	if m.RecipientType != "" && m.RecipientType != RecipientIndividual {
		c.add("recipient_type", "must be %q", RecipientIndividual)
	}
	switch {
	case m.To == "" && m.Recipient == "":
		c.add("to", "is required (a phone number, or a business-scoped user id in recipient)")
	case m.To == "":
		if !IsBSUID(m.Recipient) {
			c.add("recipient", "%q is not a business-scoped user id (CC.digits, e.g. US.13491208655302741918)", truncate(m.Recipient, 40))
		}
	}
	c.max("biz_opaque_callback_data", m.BizOpaqueCallbackData, MaxCallbackData)
	if m.Context != nil {
		c.required("context.message_id", m.Context.MessageID)
	}
	set := 0
	for _, p := range []bool{m.Text != nil, m.Template != nil, m.Interactive != nil, m.Image != nil,
		m.Video != nil, m.Audio != nil, m.Document != nil, m.Sticker != nil, m.Location != nil,
		m.Contacts != nil, m.Reaction != nil} {
		if p {
			set++
		}
	}
	if set > 1 {
		c.add("type", "a message carries exactly one kind, found %d", set)
	}
	switch m.Type {
	case TypeText:
		if m.Text == nil {
			c.add("text", "is required for type text")
			break
		}
		if c.required("text.body", m.Text.Body) {
			c.max("text.body", m.Text.Body, MaxTextBody)
		}
	case TypeTemplate:
		if m.Template == nil {
			c.add("template", "is required for type template")
			break
		}
		validateTemplate(c, m.Template)
	case TypeInteractive:
		if m.Interactive == nil {
			c.add("interactive", "is required for type interactive")
			break
		}
		validateInteractive(c, m.Interactive)
	case TypeImage, TypeVideo, TypeAudio, TypeDocument, TypeSticker:
		md := m.MediaOf()
		if md == nil {
			c.add(m.Type, "is required for type %s", m.Type)
			break
		}
		validateMedia(c, m.Type, m.Type, md)
	case TypeLocation:
		if m.Location == nil {
			c.add("location", "is required for type location")
			break
		}
		if m.Location.Latitude < -90 || m.Location.Latitude > 90 {
			c.add("location.latitude", "%v is out of range -90..90", m.Location.Latitude)
		}
		if m.Location.Longitude < -180 || m.Location.Longitude > 180 {
			c.add("location.longitude", "%v is out of range -180..180", m.Location.Longitude)
		}
	case TypeContacts:
		if len(m.Contacts) == 0 {
			c.add("contacts", "needs at least one contact")
		}
		if len(m.Contacts) > MaxContacts {
			c.add("contacts", "has %d contacts, the limit is %d", len(m.Contacts), MaxContacts)
		}
		for i, ct := range m.Contacts {
			c.required(fmt.Sprintf("contacts[%d].name.formatted_name", i), ct.Name.FormattedName)
			for j, ph := range ct.Phones {
				if ph.Type != "" && ph.Type != "HOME" && ph.Type != "WORK" {
					c.add(fmt.Sprintf("contacts[%d].phones[%d].type", i, j), "%q is not HOME or WORK", ph.Type)
				}
			}
		}
	case TypeReaction:
		if m.Reaction == nil {
			c.add("reaction", "is required for type reaction")
			break
		}
		c.required("reaction.message_id", m.Reaction.MessageID)
	case "":
		c.add("type", "is required")
	default:
		c.add("type", "unknown message type %q (use text, template, interactive, image, video, audio, document, sticker, location, contacts or reaction)", m.Type)
	}
	if len(c.probs) > 0 {
		return &ValidationError{Problems: c.probs}
	}
	return nil
}

func validateMedia(c *checker, kind, path string, md *Media) {
	switch {
	case md.ID == "" && md.Link == "":
		c.add(path, "needs an id (uploaded media) or a link")
	case md.ID != "" && md.Link != "":
		c.add(path, "has both id and link: give exactly one")
	case md.Link != "":
		if u, err := url.Parse(md.Link); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			c.add(path+".link", "%q is not an http(s) URL", md.Link)
		}
	}
	if md.Caption != "" {
		if kind != TypeImage && kind != TypeVideo && kind != TypeDocument {
			c.add(path+".caption", "is only allowed on image, video and document")
		}
		c.max(path+".caption", md.Caption, MaxCaption)
	}
	if md.Filename != "" && kind != TypeDocument {
		c.add(path+".filename", "is only allowed on document")
	}
	if md.Voice && kind != TypeAudio {
		c.add(path+".voice", "is only allowed on audio")
	}
}

func validateTemplate(c *checker, t *Template) {
	c.required("template.name", t.Name)
	c.required("template.language.code", t.Language.Code)
	for i, comp := range t.Components {
		p := fmt.Sprintf("template.components[%d]", i)
		switch comp.Type {
		case "header", "body":
		case "button":
			if comp.Index == nil {
				c.add(p+".index", "is required for a button component")
			}
			switch comp.SubType {
			case "quick_reply", "url", "catalog", "copy_code", "flow":
			case "":
				c.add(p+".sub_type", "is required for a button component (quick_reply or url)")
			default:
				c.add(p+".sub_type", "unknown sub_type %q", comp.SubType)
			}
		default:
			c.add(p+".type", "unknown component type %q (use header, body or button)", comp.Type)
		}
		for j, par := range comp.Parameters {
			pp := fmt.Sprintf("%s.parameters[%d]", p, j)
			switch par.Type {
			case "text":
				if par.Text == "" {
					c.add(pp+".text", "is required")
				}
				if comp.SubType == "url" && !percentEncoded(par.Text) {
					c.add(pp+".text", "%q is the variable part of a URL button: percent-encode it (e.g. %q)", par.Text, url.PathEscape(par.Text))
				}
			case "payload":
				if par.Payload == "" {
					c.add(pp+".payload", "is required")
				}
			case "image":
				if par.Image == nil {
					c.add(pp+".image", "is required")
				} else {
					validateMedia(c, TypeImage, pp+".image", par.Image)
				}
			case "video":
				if par.Video == nil {
					c.add(pp+".video", "is required")
				} else {
					validateMedia(c, TypeVideo, pp+".video", par.Video)
				}
			case "document":
				if par.Document == nil {
					c.add(pp+".document", "is required")
				} else {
					validateMedia(c, TypeDocument, pp+".document", par.Document)
				}
			case "currency":
				if par.Currency == nil {
					c.add(pp+".currency", "is required")
				}
			case "date_time":
				if par.DateTime == nil {
					c.add(pp+".date_time", "is required")
				}
			case "action":
				if comp.SubType != "flow" {
					c.add(pp+".type", "an action parameter fills a FLOW button (sub_type flow)")
				}
				if par.Action == nil {
					c.add(pp+".action", "is required (flow_token and/or flow_action_data)")
				} else if par.Action.FlowActionData != nil && len(par.Action.FlowActionData) == 0 {
					c.add(pp+".action.flow_action_data", "must not be empty: leave it out or give the first screen's data")
				}
			default:
				c.add(pp+".type", "unknown parameter type %q", par.Type)
			}
		}
	}
}

func validateInteractive(c *checker, in *Interactive) {
	if in.Header != nil {
		switch in.Header.Type {
		case "text":
			if c.required("interactive.header.text", in.Header.Text) {
				c.max("interactive.header.text", in.Header.Text, MaxHeaderText)
			}
		case "image", "video", "document":
			if in.Type == "list" {
				c.add("interactive.header.type", "a list header must be text")
			}
		default:
			c.add("interactive.header.type", "unknown header type %q", in.Header.Type)
		}
	}
	if in.Footer != nil {
		c.max("interactive.footer.text", in.Footer.Text, MaxFooterText)
	}
	switch in.Type {
	case "button":
		if in.Body == nil {
			c.add("interactive.body.text", "is required")
		} else if c.required("interactive.body.text", in.Body.Text) {
			c.max("interactive.body.text", in.Body.Text, MaxInteractiveBody)
		}
		bs := in.Action.Buttons
		if len(bs) == 0 {
			c.add("interactive.action.buttons", "needs 1 to %d buttons", MaxButtons)
		}
		if len(bs) > MaxButtons {
			c.add("interactive.action.buttons", "has %d buttons, the limit is %d", len(bs), MaxButtons)
		}
		ids, titles := map[string]bool{}, map[string]bool{}
		for i, b := range bs {
			p := fmt.Sprintf("interactive.action.buttons[%d]", i)
			if b.Type != "reply" {
				c.add(p+".type", "must be \"reply\"")
			}
			if c.required(p+".reply.id", b.Reply.ID) {
				c.max(p+".reply.id", b.Reply.ID, MaxButtonID)
				if ids[b.Reply.ID] {
					c.add(p+".reply.id", "%q is used twice: button ids must be unique", b.Reply.ID)
				}
				ids[b.Reply.ID] = true
			}
			if c.required(p+".reply.title", b.Reply.Title) {
				c.max(p+".reply.title", b.Reply.Title, MaxButtonTitle)
				if titles[b.Reply.Title] {
					c.add(p+".reply.title", "%q is used twice: button titles must be unique", b.Reply.Title)
				}
				titles[b.Reply.Title] = true
			}
		}
	case "list":
		if in.Body == nil {
			c.add("interactive.body.text", "is required")
		} else if c.required("interactive.body.text", in.Body.Text) {
			c.max("interactive.body.text", in.Body.Text, MaxTextBody)
		}
		if c.required("interactive.action.button", in.Action.Button) {
			c.max("interactive.action.button", in.Action.Button, MaxListButton)
		}
		secs := in.Action.Sections
		if len(secs) == 0 {
			c.add("interactive.action.sections", "needs 1 to %d sections", MaxSections)
		}
		if len(secs) > MaxSections {
			c.add("interactive.action.sections", "has %d sections, the limit is %d", len(secs), MaxSections)
		}
		rows := 0
		ids := map[string]bool{}
		for i, s := range secs {
			p := fmt.Sprintf("interactive.action.sections[%d]", i)
			if len(secs) > 1 && s.Title == "" {
				c.add(p+".title", "is required when there are several sections")
			}
			c.max(p+".title", s.Title, MaxSectionTitle)
			if len(s.Rows) == 0 {
				c.add(p+".rows", "needs at least one row")
			}
			for j, r := range s.Rows {
				rows++
				rp := fmt.Sprintf("%s.rows[%d]", p, j)
				if c.required(rp+".id", r.ID) {
					c.max(rp+".id", r.ID, MaxRowID)
					if ids[r.ID] {
						c.add(rp+".id", "%q is used twice: row ids must be unique", r.ID)
					}
					ids[r.ID] = true
				}
				if c.required(rp+".title", r.Title) {
					c.max(rp+".title", r.Title, MaxRowTitle)
				}
				c.max(rp+".description", r.Description, MaxRowDescription)
			}
		}
		if rows > MaxRowsTotal {
			c.add("interactive.action.sections", "has %d rows, the limit is %d across all sections", rows, MaxRowsTotal)
		}
	case "cta_url":
		if in.Body == nil {
			c.add("interactive.body.text", "is required")
		} else if c.required("interactive.body.text", in.Body.Text) {
			c.max("interactive.body.text", in.Body.Text, MaxInteractiveBody)
		}
		if in.Action.Name != "cta_url" {
			c.add("interactive.action.name", "must be \"cta_url\"")
		}
		if in.Action.Parameters == nil {
			c.add("interactive.action.parameters", "is required")
			break
		}
		if c.required("interactive.action.parameters.display_text", in.Action.Parameters.DisplayText) {
			c.max("interactive.action.parameters.display_text", in.Action.Parameters.DisplayText, MaxCTADisplayText)
		}
		if u, err := url.Parse(in.Action.Parameters.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			c.add("interactive.action.parameters.url", "%q is not an http(s) URL", in.Action.Parameters.URL)
		}
	case "flow":
		validateFlow(c, in)
	case "":
		c.add("interactive.type", "is required (button, list, cta_url or flow)")
	default:
		c.add("interactive.type", "unknown interactive type %q (use button, list, cta_url or flow)", in.Type)
	}
	if in.Type != "flow" && in.Action.Flow != nil {
		c.add("interactive.action.parameters", "flow parameters are only for interactive type flow")
	}
}

// percentEncoded reports whether s may stand in a URL as it is: no spaces, no characters
// that must be escaped, and only valid %XX escapes.
func percentEncoded(s string) bool {
	if _, err := url.PathUnescape(s); err != nil {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`"<>\^{|}`+"`", r) {
			return false
		}
	}
	return true
}

// validateFlow checks a WhatsApp Flow message (interactive type flow) against Meta's rules:
// a body, action name "flow", flow_message_version "3", exactly one of flow_id and
// flow_name, a flow_cta of at most 30 characters, mode draft or published, and flow_action
// navigate (with an optional first screen and non-empty data) or data_exchange (no payload).
func validateFlow(c *checker, in *Interactive) {
	if in.Body == nil {
		c.add("interactive.body.text", "is required")
	} else if c.required("interactive.body.text", in.Body.Text) {
		c.max("interactive.body.text", in.Body.Text, MaxInteractiveBody)
	}
	if in.Action.Name != "flow" {
		c.add("interactive.action.name", "must be \"flow\"")
	}
	if in.Action.Parameters != nil {
		c.add("interactive.action.parameters", "takes flow parameters (Action.Flow), not CTA URL ones")
	}
	f := in.Action.Flow
	if f == nil {
		c.add("interactive.action.parameters", "is required: flow_id or flow_name and flow_cta")
		return
	}
	const p = "interactive.action.parameters"
	if f.FlowMessageVersion != FlowMessageVersion {
		c.add(p+".flow_message_version", "must be %q", FlowMessageVersion)
	}
	switch {
	case f.FlowID == "" && f.FlowName == "":
		c.add(p+".flow_id", "is required (or flow_name)")
	case f.FlowID != "" && f.FlowName != "":
		c.add(p+".flow_name", "cannot be used with flow_id: give one of them")
	}
	if c.required(p+".flow_cta", f.FlowCTA) {
		c.max(p+".flow_cta", f.FlowCTA, MaxFlowCTA)
	}
	switch f.Mode {
	case "", "draft", "published":
	default:
		c.add(p+".mode", "%q is not draft or published", f.Mode)
	}
	switch f.FlowAction {
	case "", FlowActionNavigate:
		if pl := f.FlowActionPayload; pl != nil {
			if c.required(p+".flow_action_payload.screen", pl.Screen) && pl.Data != nil && len(pl.Data) == 0 {
				c.add(p+".flow_action_payload.data", "must not be empty: leave it out or give the screen's data")
			}
		}
	case FlowActionData:
		if f.FlowActionPayload != nil {
			c.add(p+".flow_action_payload", "is only for flow_action navigate: data_exchange asks your flow endpoint for the first screen")
		}
	default:
		c.add(p+".flow_action", "%q is not navigate or data_exchange", f.FlowAction)
	}
}
