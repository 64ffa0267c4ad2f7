package flow

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/greentic/gtc/pkg/whatsapp"
)

func (r *rp) interactive(v *yaml.Node, path string) *whatsapp.Interactive {
	in := &whatsapp.Interactive{}
	m, ok := r.p.mapping(v, path, "an interactive message", "type", "header", "body", "footer", "action")
	if !ok {
		return in
	}
	typ, tn := r.p.scalar(m, "type", ": button, list, cta_url or flow", true)
	in.Type = typ
	switch typ {
	case "button", "list", "cta_url", "flow", "":
	default:
		r.p.errf(tn, join(path, "type"), "unknown interactive type %s: use button, list, cta_url or flow", typ)
		return in
	}
	if h := m.val("header"); h != nil {
		in.Header = r.header(h, join(path, "header"))
		if typ == "list" && in.Header.Type != "" && in.Header.Type != "text" {
			r.p.errf(h, join(path, "header.type"), "a list's header can only be text")
		}
	}
	bodyMax := whatsapp.MaxInteractiveBody
	if typ == "list" {
		bodyMax = whatsapp.MaxTextBody
	}
	if b := m.val("body"); b == nil {
		r.p.errf(m.n, join(path, "body"), "missing body: the text above the %s, like body: {text: \"What would you like to do?\"}", choiceName(typ))
	} else if bm, ok := r.p.mapping(b, join(path, "body"), "a body", "text"); ok {
		in.Body = &whatsapp.InteractiveText{}
		in.Body.Text = r.str(bm.val("text"), join(path, "body.text"), bodyMax, true, func(m *whatsapp.Message) *string { return &m.Interactive.Body.Text })
	}
	if f := m.val("footer"); f != nil {
		if fm, ok := r.p.mapping(f, join(path, "footer"), "a footer", "text"); ok {
			in.Footer = &whatsapp.InteractiveText{}
			in.Footer.Text = r.str(fm.val("text"), join(path, "footer.text"), whatsapp.MaxFooterText, true, func(m *whatsapp.Message) *string { return &m.Interactive.Footer.Text })
		}
	}
	a := m.val("action")
	ap := join(path, "action")
	if a == nil {
		r.p.errf(m.n, ap, "missing action: the %s", choiceName(typ))
		return in
	}
	switch typ {
	case "button":
		r.buttons(a, ap, in)
	case "list":
		r.list(a, ap, in)
	case "cta_url":
		r.ctaURL(a, ap, in)
	case "flow":
		r.flowAction(a, ap, in)
	}
	return in
}

func choiceName(typ string) string {
	switch typ {
	case "list":
		return "list"
	case "cta_url":
		return "link button"
	case "flow":
		return "Flow button"
	}
	return "buttons"
}

func (r *rp) header(v *yaml.Node, path string) *whatsapp.InteractiveHeader {
	h := &whatsapp.InteractiveHeader{}
	m, ok := r.p.mapping(v, path, "a header", "type", "text", "image", "video", "document")
	if !ok {
		return h
	}
	typ, tn := r.p.scalar(m, "type", ": text, image, video or document", true)
	h.Type = typ
	for _, k := range []string{"text", "image", "video", "document"} {
		if m.has(k) && k != typ {
			r.p.errf(m.key(k), join(path, k), "%s does not belong to a %s header: remove it or set type: %s", k, typ, k)
		}
	}
	hdr := func(m *whatsapp.Message) *whatsapp.InteractiveHeader { return m.Interactive.Header }
	switch typ {
	case "text":
		h.Text = r.str(m.val("text"), join(path, "text"), whatsapp.MaxHeaderText, true, func(m *whatsapp.Message) *string { return &hdr(m).Text })
	case "image":
		h.Image = r.mediaObject(m.val("image"), join(path, "image"), "image", func(m *whatsapp.Message) *whatsapp.Media { return hdr(m).Image })
	case "video":
		h.Video = r.mediaObject(m.val("video"), join(path, "video"), "video", func(m *whatsapp.Message) *whatsapp.Media { return hdr(m).Video })
	case "document":
		h.Document = r.mediaObject(m.val("document"), join(path, "document"), "document", func(m *whatsapp.Message) *whatsapp.Media { return hdr(m).Document })
	case "":
	default:
		r.p.errf(tn, join(path, "type"), "unknown header type %s: use text, image, video or document", typ)
	}
	return h
}

// ids checks that the reply ids of buttons or rows are unique.
type ids map[string]*yaml.Node

func (r *rp) uniqueID(seen ids, v *yaml.Node, path, id string) {
	if v == nil || id == "" || (!r.p.literal && strings.Contains(id, "{{")) {
		return
	}
	if prev, ok := seen[id]; ok {
		r.p.errf(v, path, "duplicate id %s (first at line %d): ids must be unique so replies can be told apart", id, prev.Line)
		return
	}
	seen[id] = v
}

func (r *rp) buttons(v *yaml.Node, path string, in *whatsapp.Interactive) {
	m, ok := r.p.mapping(v, path, "a button action", "buttons")
	if !ok {
		return
	}
	bv := m.val("buttons")
	if bv == nil {
		r.p.errf(v, join(path, "buttons"), "missing buttons: list 1 to %d reply buttons", whatsapp.MaxButtons)
		return
	}
	items, ok := r.p.seq(bv, join(path, "buttons"))
	if !ok {
		return
	}
	if len(items) == 0 || len(items) > whatsapp.MaxButtons {
		r.p.errf(bv, join(path, "buttons"), "%d buttons: the Cloud API allows 1 to %d reply buttons (use a list for more choices)", len(items), whatsapp.MaxButtons)
	}
	seen := ids{}
	for i, b := range items {
		bp := fmt.Sprintf("%s.buttons[%d]", path, i)
		bm, ok := r.p.mapping(b, bp, "a reply button", "type", "reply")
		if !ok {
			continue
		}
		if t, tn := r.p.scalar(bm, "type", "", false); tn != nil && t != "reply" {
			r.p.errf(tn, join(bp, "type"), "button type must be reply")
		}
		i := i
		btn := whatsapp.ReplyButton{Type: "reply"}
		rv := bm.val("reply")
		if rv == nil {
			r.p.errf(b, join(bp, "reply"), "missing reply: {id, title}")
		} else if rm, ok := r.p.mapping(rv, join(bp, "reply"), "a reply", "id", "title"); ok {
			btn.Reply.ID = r.str(rm.val("id"), join(bp, "reply.id"), whatsapp.MaxButtonID, true, func(m *whatsapp.Message) *string { return &m.Interactive.Action.Buttons[i].Reply.ID })
			r.uniqueID(seen, rm.val("id"), join(bp, "reply.id"), btn.Reply.ID)
			btn.Reply.Title = r.str(rm.val("title"), join(bp, "reply.title"), whatsapp.MaxButtonTitle, true, func(m *whatsapp.Message) *string { return &m.Interactive.Action.Buttons[i].Reply.Title })
		}
		in.Action.Buttons = append(in.Action.Buttons, btn)
	}
}

func (r *rp) list(v *yaml.Node, path string, in *whatsapp.Interactive) {
	m, ok := r.p.mapping(v, path, "a list action", "button", "sections")
	if !ok {
		return
	}
	in.Action.Button = r.str(m.val("button"), join(path, "button"), whatsapp.MaxListButton, true, func(m *whatsapp.Message) *string { return &m.Interactive.Action.Button })
	sv := m.val("sections")
	if sv == nil {
		r.p.errf(v, join(path, "sections"), "missing sections: list 1 to %d sections with rows", whatsapp.MaxSections)
		return
	}
	items, ok := r.p.seq(sv, join(path, "sections"))
	if !ok {
		return
	}
	if len(items) == 0 || len(items) > whatsapp.MaxSections {
		r.p.errf(sv, join(path, "sections"), "%d sections: the Cloud API allows 1 to %d", len(items), whatsapp.MaxSections)
	}
	seen := ids{}
	rows := 0
	for i, s := range items {
		sp := fmt.Sprintf("%s.sections[%d]", path, i)
		sm, ok := r.p.mapping(s, sp, "a section", "title", "rows")
		if !ok {
			continue
		}
		i := i
		var sec whatsapp.Section
		if sm.has("title") {
			sec.Title = r.str(sm.val("title"), join(sp, "title"), whatsapp.MaxSectionTitle, true, func(m *whatsapp.Message) *string { return &m.Interactive.Action.Sections[i].Title })
		} else if len(items) > 1 {
			r.p.errf(s, join(sp, "title"), "missing title: a list with several sections needs a title on each")
		}
		rv := sm.val("rows")
		if rv == nil {
			r.p.errf(s, join(sp, "rows"), "missing rows: list the choices, each with id and title")
			in.Action.Sections = append(in.Action.Sections, sec)
			continue
		}
		ritems, ok := r.p.seq(rv, join(sp, "rows"))
		if ok && len(ritems) == 0 {
			r.p.errf(rv, join(sp, "rows"), "empty rows: list at least one choice")
		}
		for j, row := range ritems {
			rp := fmt.Sprintf("%s.rows[%d]", sp, j)
			rows++
			if rows == whatsapp.MaxRowsTotal+1 {
				r.p.errf(row, rp, "more than %d rows: the Cloud API allows %d rows across all sections", whatsapp.MaxRowsTotal, whatsapp.MaxRowsTotal)
			}
			rm, ok := r.p.mapping(row, rp, "a row", "id", "title", "description")
			if !ok {
				continue
			}
			j := j
			var w whatsapp.Row
			w.ID = r.str(rm.val("id"), join(rp, "id"), whatsapp.MaxRowID, true, func(m *whatsapp.Message) *string { return &m.Interactive.Action.Sections[i].Rows[j].ID })
			r.uniqueID(seen, rm.val("id"), join(rp, "id"), w.ID)
			w.Title = r.str(rm.val("title"), join(rp, "title"), whatsapp.MaxRowTitle, true, func(m *whatsapp.Message) *string { return &m.Interactive.Action.Sections[i].Rows[j].Title })
			if rm.has("description") {
				w.Description = r.str(rm.val("description"), join(rp, "description"), whatsapp.MaxRowDescription, false, func(m *whatsapp.Message) *string { return &m.Interactive.Action.Sections[i].Rows[j].Description })
			}
			sec.Rows = append(sec.Rows, w)
		}
		in.Action.Sections = append(in.Action.Sections, sec)
	}
}

func (r *rp) ctaURL(v *yaml.Node, path string, in *whatsapp.Interactive) {
	m, ok := r.p.mapping(v, path, "a cta_url action", "name", "parameters")
	if !ok {
		return
	}
	if n, nn := r.p.scalar(m, "name", "", false); nn != nil && n != "cta_url" {
		r.p.errf(nn, join(path, "name"), "name must be cta_url")
	}
	in.Action.Name = "cta_url"
	in.Action.Parameters = &whatsapp.CTAParameters{}
	pv := m.val("parameters")
	if pv == nil {
		r.p.errf(v, join(path, "parameters"), "missing parameters: {display_text, url}")
		return
	}
	pm, ok := r.p.mapping(pv, join(path, "parameters"), "cta_url parameters", "display_text", "url")
	if !ok {
		return
	}
	in.Action.Parameters.DisplayText = r.str(pm.val("display_text"), join(path, "parameters.display_text"), whatsapp.MaxCTADisplayText, true, func(m *whatsapp.Message) *string { return &m.Interactive.Action.Parameters.DisplayText })
	in.Action.Parameters.URL = r.link(pm.val("url"), join(path, "parameters.url"), func(m *whatsapp.Message) *string { return &m.Interactive.Action.Parameters.URL })
}
