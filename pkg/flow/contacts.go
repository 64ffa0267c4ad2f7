package flow

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// contacts reads a list of contact cards.
func (r *rp) contacts(v *yaml.Node, path string) []whatsapp.Contact {
	items, ok := r.p.seq(v, path)
	if !ok {
		return nil
	}
	if len(items) == 0 || len(items) > whatsapp.MaxContacts {
		r.p.errf(v, path, "%d contacts: send 1 to %d", len(items), whatsapp.MaxContacts)
	}
	var out []whatsapp.Contact
	for i, item := range items {
		cp := fmt.Sprintf("%s[%d]", path, i)
		m, ok := r.p.mapping(item, cp, "a contact card", "name", "phones", "emails", "org", "urls")
		if !ok {
			out = append(out, whatsapp.Contact{})
			continue
		}
		card := func(msg *whatsapp.Message) *whatsapp.Contact { return &msg.Contacts[i] }
		var c whatsapp.Contact
		if nv := m.val("name"); nv == nil {
			r.p.errf(item, join(cp, "name"), "missing name: {formatted_name: \"Ada Lovelace\"}")
		} else if nm, ok := r.p.mapping(nv, join(cp, "name"), "a contact name", "formatted_name", "first_name", "last_name"); ok {
			c.Name.FormattedName = r.str(nm.val("formatted_name"), join(cp, "name.formatted_name"), 0, true, func(msg *whatsapp.Message) *string { return &card(msg).Name.FormattedName })
			if nm.has("first_name") {
				c.Name.FirstName = r.str(nm.val("first_name"), join(cp, "name.first_name"), 0, false, func(msg *whatsapp.Message) *string { return &card(msg).Name.FirstName })
			}
			if nm.has("last_name") {
				c.Name.LastName = r.str(nm.val("last_name"), join(cp, "name.last_name"), 0, false, func(msg *whatsapp.Message) *string { return &card(msg).Name.LastName })
			}
		}
		each := func(key, what string, known []string, fn func(j int, m *mapNode, p string)) {
			lv := m.val(key)
			if lv == nil {
				return
			}
			list, ok := r.p.seq(lv, join(cp, key))
			if !ok {
				return
			}
			for j, e := range list {
				ep := fmt.Sprintf("%s.%s[%d]", cp, key, j)
				if em, ok := r.p.mapping(e, ep, what, known...); ok {
					fn(j, em, ep)
				}
			}
		}
		each("phones", "a phone", []string{"phone", "type", "wa_id"}, func(j int, em *mapNode, ep string) {
			ph := whatsapp.ContactPhone{}
			ph.Phone = r.str(em.val("phone"), join(ep, "phone"), 0, true, func(msg *whatsapp.Message) *string { return &card(msg).Phones[j].Phone })
			ph.Type, _ = r.p.scalar(em, "type", "", false)
			ph.WaID, _ = r.p.scalar(em, "wa_id", "", false)
			c.Phones = append(c.Phones, ph)
		})
		each("emails", "an email", []string{"email", "type"}, func(j int, em *mapNode, ep string) {
			e := whatsapp.ContactEmail{}
			e.Email = r.str(em.val("email"), join(ep, "email"), 0, true, func(msg *whatsapp.Message) *string { return &card(msg).Emails[j].Email })
			e.Type, _ = r.p.scalar(em, "type", "", false)
			c.Emails = append(c.Emails, e)
		})
		each("urls", "a url", []string{"url", "type"}, func(j int, em *mapNode, ep string) {
			u := whatsapp.ContactURL{}
			u.URL = r.link(em.val("url"), join(ep, "url"), func(msg *whatsapp.Message) *string { return &card(msg).URLs[j].URL })
			u.Type, _ = r.p.scalar(em, "type", "", false)
			c.URLs = append(c.URLs, u)
		})
		if ov := m.val("org"); ov != nil {
			if om, ok := r.p.mapping(ov, join(cp, "org"), "an org", "company", "department", "title"); ok {
				c.Org = &whatsapp.ContactOrg{}
				c.Org.Company, _ = r.p.scalar(om, "company", "", false)
				c.Org.Department, _ = r.p.scalar(om, "department", "", false)
				c.Org.Title, _ = r.p.scalar(om, "title", "", false)
			}
		}
		out = append(out, c)
	}
	return out
}
