package flow

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// field is one templated string of a reply: where it goes, its compiled template and the
// limits its rendered value must respect.
type field struct {
	ref      func(*whatsapp.Message) *string
	t        *tmpl
	path     string
	max      int  // 0: no limit
	required bool // may not render empty
	url      bool // must render to an absolute http(s) URL
}

// replyKinds are the keys of a reply config of which exactly one must be given.
var replyKinds = []string{"message", "template", "interactive", "media", "location", "reaction", "contacts"}

// rp builds one reply's message.
type rp struct {
	p    *parser
	node *Node
}

// str reads the string scalar v at path, compiles its {{ }} expressions, checks the limits
// of a literal value, and records a templated one to render at send time.
func (r *rp) str(v *yaml.Node, path string, max int, required bool, ref func(*whatsapp.Message) *string) string {
	if v == nil {
		if required {
			r.p.errf(r.p.lastMap, path, "missing %s", lastKey(path))
		}
		return ""
	}
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		r.p.errf(v, path, "%s must be text, not %s", lastKey(path), kindName(v))
		return ""
	}
	s := v.Value
	var t *tmpl
	var errs []templateError
	if !r.p.literal {
		t, errs = parseTemplate(s)
	}
	for _, e := range errs {
		r.p.errAt(r.p.stringPos(v, e.off), path, "%s", templateMessage(e.msg))
	}
	r.p.noteRefs(v, path, t)
	if t != nil {
		if len(errs) == 0 {
			r.node.fields = append(r.node.fields, field{ref: ref, t: t, path: path, max: max, required: required})
		}
		return s
	}
	if required && strings.TrimSpace(s) == "" {
		r.p.errf(v, path, "empty %s: write the text to send", lastKey(path))
	}
	if max > 0 && utf8.RuneCountInString(s) > max {
		r.p.errf(v, path, "%s is %d characters, the Cloud API allows %d: shorten it", lastKey(path), utf8.RuneCountInString(s), max)
	}
	return s
}

func templateMessage(msg string) string {
	if strings.HasPrefix(msg, "unknown name") {
		return msg + ": known names are " + knownNames() + " and any variable"
	}
	return msg
}

// link reads a media link: an absolute http(s) URL (or a template rendering to one).
func (r *rp) link(v *yaml.Node, path string, ref func(*whatsapp.Message) *string) string {
	s := r.str(v, path, 0, true, ref)
	if v == nil || s == "" {
		return s
	}
	if !r.p.literal && strings.Contains(s, "{{") {
		if n := len(r.node.fields); n > 0 && r.node.fields[n-1].path == path {
			r.node.fields[n-1].url = true
		}
		return s
	}
	if err := checkURL(s); err != nil {
		r.p.errf(v, path, "%v", err)
	}
	return s
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("bad link %q: use an absolute http(s) URL like https://example.com/file.pdf", s)
	}
	return nil
}

func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func (p *parser) reply(node *Node, cfg *yaml.Node, path string) {
	known := append(append([]string{}, replyKinds...), "preview_url", "retry_on_rate_limit", "next")
	m, ok := p.mapping(cfg, path, "a reply config", known...)
	if !ok {
		return
	}
	r := &rp{p: p, node: node}
	node.RetryOnRateLimit = p.boolean(m, "retry_on_rate_limit")
	if next, nn := p.scalar(m, "next", "", false); nn != nil {
		if node.Next != "" {
			p.errf(nn, join(path, "next"), "next is given twice, on the node and in its config: keep one")
		} else {
			node.Next, node.nextPos = next, posOf(nn)
		}
	}
	var kinds []string
	for _, k := range replyKinds {
		if m.has(k) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		p.errf(cfg, path, "a reply needs one of %s", strings.Join(replyKinds, ", "))
		return
	}
	if len(kinds) > 1 {
		p.errf(m.key(kinds[1]), join(path, kinds[1]), "a reply sends one message, but it has both %s and %s: split it into two nodes joined by next", kinds[0], kinds[1])
		return
	}
	if m.has("preview_url") && kinds[0] != "message" {
		p.errf(m.key("preview_url"), join(path, "preview_url"), "preview_url only applies to message")
	}
	msg := &whatsapp.Message{MessagingProduct: whatsapp.MessagingProduct, RecipientType: whatsapp.RecipientIndividual}
	node.msg = msg
	kp := join(path, kinds[0])
	v := m.val(kinds[0])
	switch kinds[0] {
	case "message":
		msg.Type = whatsapp.TypeText
		msg.Text = &whatsapp.Text{PreviewURL: p.boolean(m, "preview_url")}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			p.errf(v, kp, "message must be the text to send")
			return
		}
		msg.Text.Body = r.str(v, kp, whatsapp.MaxTextBody, true, func(m *whatsapp.Message) *string { return &m.Text.Body })
	case "template":
		msg.Type = whatsapp.TypeTemplate
		msg.Template = r.template(v, kp)
	case "interactive":
		msg.Type = whatsapp.TypeInteractive
		msg.Interactive = r.interactive(v, kp)
	case "media":
		r.media(v, kp, msg)
	case "location":
		msg.Type = whatsapp.TypeLocation
		msg.Location = r.location(v, kp)
	case "reaction":
		msg.Type = whatsapp.TypeReaction
		msg.Reaction = r.reaction(v, kp)
	case "contacts":
		msg.Type = whatsapp.TypeContacts
		msg.Contacts = r.contacts(v, kp)
	}
}

func (r *rp) template(v *yaml.Node, path string) *whatsapp.Template {
	t := &whatsapp.Template{}
	m, ok := r.p.mapping(v, path, "a template", "name", "language", "components")
	if !ok {
		return t
	}
	t.Name, _ = r.p.scalar(m, "name", ": the approved template's name", true)
	lang := m.val("language")
	lp := join(path, "language")
	switch {
	case lang == nil:
		r.p.errf(m.n, lp, "missing language: like language: \"en\"")
	case lang.Kind == yaml.ScalarNode:
		t.Language.Code = lang.Value
		if lang.Value == "" {
			r.p.errf(lang, lp, "empty language: like language: \"en\"")
		}
	default:
		lm, ok := r.p.mapping(lang, lp, "a language", "code", "policy")
		if ok {
			t.Language.Code, _ = r.p.scalar(lm, "code", ": like en or en_US", true)
			t.Language.Policy, _ = r.p.scalar(lm, "policy", "", false)
		}
	}
	cs := m.val("components")
	if cs == nil {
		return t
	}
	items, ok := r.p.seq(cs, join(path, "components"))
	if !ok {
		return t
	}
	for i, c := range items {
		cp := fmt.Sprintf("%s.components[%d]", path, i)
		t.Components = append(t.Components, r.component(c, cp, i))
	}
	return t
}

func (r *rp) component(v *yaml.Node, path string, ci int) whatsapp.Component {
	var c whatsapp.Component
	m, ok := r.p.mapping(v, path, "a template component", "type", "sub_type", "index", "parameters")
	if !ok {
		return c
	}
	typ, tn := r.p.scalar(m, "type", ": header, body or button", true)
	c.Type = typ
	allowed := map[string][]string{
		"header": {"text", "image", "document", "video", "location"},
		"body":   {"text", "currency", "date_time"},
		"button": {"payload", "text"},
	}
	params, known := allowed[typ]
	if !known && typ != "" {
		r.p.errf(tn, join(path, "type"), "unknown component type %s: use header, body or button", typ)
	}
	if typ == "button" {
		c.SubType, _ = r.p.scalar(m, "sub_type", ": quick_reply or url", true)
		if iv := m.val("index"); iv == nil {
			r.p.errf(m.n, join(path, "index"), "missing index: the button's position, 0 to 9")
		} else if n, err := strconv.Atoi(iv.Value); iv.Kind != yaml.ScalarNode || err != nil || n < 0 || n > 9 {
			r.p.errf(iv, join(path, "index"), "index must be a number from 0 to 9")
		} else {
			s := strconv.Itoa(n)
			c.Index = &s
		}
		switch c.SubType {
		case "quick_reply":
			params = []string{"payload"}
		case "url":
			params = []string{"text"}
		case "flow":
			params = []string{"action"}
		case "", "copy_code", "catalog", "voice_call":
		default:
			r.p.errf(m.val("sub_type"), join(path, "sub_type"), "unknown button sub_type %s: use quick_reply, url or flow", c.SubType)
		}
	} else {
		for _, k := range []string{"sub_type", "index"} {
			if m.has(k) {
				r.p.errf(m.key(k), join(path, k), "%s only applies to button components", k)
			}
		}
	}
	pv := m.val("parameters")
	if pv == nil {
		return c
	}
	items, ok := r.p.seq(pv, join(path, "parameters"))
	if !ok {
		return c
	}
	for j, item := range items {
		pp := fmt.Sprintf("%s.parameters[%d]", path, j)
		c.Parameters = append(c.Parameters, r.parameter(item, pp, ci, j, params))
	}
	return c
}

func (r *rp) parameter(v *yaml.Node, path string, ci, pj int, allowed []string) whatsapp.Parameter {
	var prm whatsapp.Parameter
	m, ok := r.p.mapping(v, path, "a template parameter", "type", "parameter_name", "text", "payload", "image", "document", "video", "currency", "date_time", "action")
	if !ok {
		return prm
	}
	typ, tn := r.p.scalar(m, "type", ": text, image, document, video, payload, currency, date_time or action", true)
	prm.Type = typ
	prm.ParameterName, _ = r.p.scalar(m, "parameter_name", "", false)
	if typ != "" && allowed != nil && !contains(allowed, typ) {
		r.p.errf(tn, join(path, "type"), "a %s parameter cannot go here: use %s", typ, strings.Join(allowed, " or "))
	}
	for _, k := range []string{"text", "payload", "image", "document", "video", "currency", "date_time", "action"} {
		if m.has(k) && k != typ {
			r.p.errf(m.key(k), join(path, k), "%s does not belong to a %s parameter: remove it or set type: %s", k, typ, k)
		}
	}
	param := func(m *whatsapp.Message) *whatsapp.Parameter {
		return &m.Template.Components[ci].Parameters[pj]
	}
	vp := join(path, typ)
	switch typ {
	case "text":
		prm.Text = r.str(m.val("text"), vp, 0, true, func(m *whatsapp.Message) *string { return &param(m).Text })
	case "payload":
		prm.Payload = r.str(m.val("payload"), vp, 0, true, func(m *whatsapp.Message) *string { return &param(m).Payload })
	case "image":
		prm.Image = r.mediaObject(m.val("image"), vp, "image", func(m *whatsapp.Message) *whatsapp.Media { return param(m).Image })
	case "document":
		prm.Document = r.mediaObject(m.val("document"), vp, "document", func(m *whatsapp.Message) *whatsapp.Media { return param(m).Document })
	case "video":
		prm.Video = r.mediaObject(m.val("video"), vp, "video", func(m *whatsapp.Message) *whatsapp.Media { return param(m).Video })
	case "currency":
		prm.Currency = &whatsapp.Currency{}
		cm, ok := r.p.mapping(orEmpty(m.val("currency"), m.n), vp, "a currency", "fallback_value", "code", "amount_1000")
		if ok {
			prm.Currency.FallbackValue = r.str(cm.val("fallback_value"), join(vp, "fallback_value"), 0, true, func(m *whatsapp.Message) *string { return &param(m).Currency.FallbackValue })
			prm.Currency.Code, _ = r.p.scalar(cm, "code", ": an ISO 4217 code like USD", true)
			if a, ok := r.p.number(cm, "amount_1000", true); ok {
				prm.Currency.Amount1000 = int64(a)
			}
		}
	case "date_time":
		prm.DateTime = &whatsapp.DateTime{}
		dm, ok := r.p.mapping(orEmpty(m.val("date_time"), m.n), vp, "a date_time", "fallback_value")
		if ok {
			prm.DateTime.FallbackValue = r.str(dm.val("fallback_value"), join(vp, "fallback_value"), 0, true, func(m *whatsapp.Message) *string { return &param(m).DateTime.FallbackValue })
		}
	case "action":
		if av := m.val("action"); av == nil {
			r.p.errf(m.n, vp, "missing action: {flow_token, flow_action_data} for the FLOW button")
		} else {
			prm.Action = r.templateAction(av, vp, param)
		}
	case "location":
		r.p.errf(tn, join(path, "type"), "location header parameters are not supported in flows yet: use an image, document or video header")
	}
	return prm
}

// orEmpty returns v, or an empty mapping at the position of parent so that a missing
// sub-mapping reports its missing keys.
func orEmpty(v, parent *yaml.Node) *yaml.Node {
	if v != nil {
		return v
	}
	return &yaml.Node{Kind: yaml.MappingNode, Line: parent.Line, Column: parent.Column}
}

// mediaObject reads {link|id, caption?, filename?} for a media message, header or parameter.
func (r *rp) mediaObject(v *yaml.Node, path, kind string, get func(*whatsapp.Message) *whatsapp.Media) *whatsapp.Media {
	md := &whatsapp.Media{}
	if v == nil {
		r.p.errf(r.p.lastMap, path, "missing %s: give it a link", lastKey(path))
		return md
	}
	known := []string{"link", "id", "caption", "filename"}
	if get == nil {
		known = append([]string{"type"}, known...)
	}
	m, ok := r.p.mapping(v, path, "a media object", known...)
	if !ok {
		return md
	}
	if get == nil {
		get = func(msg *whatsapp.Message) *whatsapp.Media { return msg.MediaOf() }
	}
	switch {
	case m.has("link") && m.has("id"):
		r.p.errf(m.key("id"), join(path, "id"), "give link or id, not both")
	case m.has("link"):
		md.Link = r.link(m.val("link"), join(path, "link"), func(msg *whatsapp.Message) *string { return &get(msg).Link })
	case m.has("id"):
		md.ID = r.str(m.val("id"), join(path, "id"), 0, true, func(msg *whatsapp.Message) *string { return &get(msg).ID })
	default:
		r.p.errf(v, path, "%s needs a link (an absolute https URL) or the id of an uploaded media", kind)
	}
	if m.has("caption") {
		if kind == whatsapp.TypeAudio || kind == whatsapp.TypeSticker {
			r.p.errf(m.key("caption"), join(path, "caption"), "%s messages cannot have a caption", kind)
		} else {
			md.Caption = r.str(m.val("caption"), join(path, "caption"), whatsapp.MaxCaption, false, func(msg *whatsapp.Message) *string { return &get(msg).Caption })
		}
	}
	if m.has("filename") {
		if kind != whatsapp.TypeDocument {
			r.p.errf(m.key("filename"), join(path, "filename"), "only documents have a filename")
		} else {
			md.Filename = r.str(m.val("filename"), join(path, "filename"), 240, false, func(msg *whatsapp.Message) *string { return &get(msg).Filename })
		}
	}
	return md
}

func (r *rp) media(v *yaml.Node, path string, msg *whatsapp.Message) {
	if v.Kind != yaml.MappingNode {
		r.p.errf(v, path, "media must be a mapping with type, link or id, caption and filename")
		return
	}
	var typ string
	var tn *yaml.Node
	for i := 0; i+1 < len(v.Content); i += 2 {
		if v.Content[i].Value == "type" {
			typ, tn = v.Content[i+1].Value, v.Content[i+1]
		}
	}
	switch {
	case tn == nil:
		r.p.errf(v, join(path, "type"), "missing type: one of %s", strings.Join(whatsapp.MediaTypes, ", "))
		typ = whatsapp.TypeImage
	case !contains(whatsapp.MediaTypes, typ):
		r.p.errf(tn, join(path, "type"), "unknown media type %s: use one of %s", typ, strings.Join(whatsapp.MediaTypes, ", "))
		typ = whatsapp.TypeImage
	}
	md := &whatsapp.Media{}
	msg.SetMedia(typ, md)
	*md = *r.mediaObject(v, path, typ, nil)
}

func (r *rp) location(v *yaml.Node, path string) *whatsapp.Location {
	loc := &whatsapp.Location{}
	m, ok := r.p.mapping(v, path, "a location", "latitude", "longitude", "name", "address")
	if !ok {
		return loc
	}
	if lat, ok := r.p.number(m, "latitude", true); ok {
		if lat < -90 || lat > 90 {
			r.p.errf(m.val("latitude"), join(path, "latitude"), "latitude %v is out of range: it must be between -90 and 90", lat)
		}
		loc.Latitude = lat
	}
	if lng, ok := r.p.number(m, "longitude", true); ok {
		if lng < -180 || lng > 180 {
			r.p.errf(m.val("longitude"), join(path, "longitude"), "longitude %v is out of range: it must be between -180 and 180", lng)
		}
		loc.Longitude = lng
	}
	if m.has("name") {
		loc.Name = r.str(m.val("name"), join(path, "name"), 1000, false, func(m *whatsapp.Message) *string { return &m.Location.Name })
	}
	if m.has("address") {
		loc.Address = r.str(m.val("address"), join(path, "address"), 1000, false, func(m *whatsapp.Message) *string { return &m.Location.Address })
	}
	return loc
}

func (r *rp) reaction(v *yaml.Node, path string) *whatsapp.Reaction {
	re := &whatsapp.Reaction{}
	m, ok := r.p.mapping(v, path, "a reaction", "message_id", "emoji")
	if !ok {
		return re
	}
	if m.has("message_id") || r.p.literal {
		re.MessageID = r.str(m.val("message_id"), join(path, "message_id"), 0, true, func(m *whatsapp.Message) *string { return &m.Reaction.MessageID })
	} else {
		re.MessageID = "{{message.id}}"
		t, _ := parseTemplate(re.MessageID)
		r.node.fields = append(r.node.fields, field{ref: func(m *whatsapp.Message) *string { return &m.Reaction.MessageID }, t: t, path: join(path, "message_id"), required: true})
	}
	re.Emoji = r.str(m.val("emoji"), join(path, "emoji"), 0, true, func(m *whatsapp.Message) *string { return &m.Reaction.Emoji })
	if m.val("emoji") == nil {
		r.p.errf(v, join(path, "emoji"), "missing emoji: like emoji: \"👍\"")
	}
	return re
}
