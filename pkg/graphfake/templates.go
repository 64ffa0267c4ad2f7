package graphfake

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// Template is a message template of the account, in the shape GET message_templates returns.
type Template struct {
	ID         string              `json:"id"`
	Name       string              `json:"name"`
	Language   string              `json:"language"`
	Status     string              `json:"status"`   // APPROVED, PENDING, REJECTED, PAUSED, DISABLED
	Category   string              `json:"category"` // MARKETING, UTILITY, AUTHENTICATION
	Components []TemplateComponent `json:"components"`
	// Quality is the quality score (GREEN, YELLOW, RED, UNKNOWN), listed as
	// quality_score.score; "" lists none. TemplateQuality sets it.
	Quality string `json:"-"`
	// RejectedReason is listed as rejected_reason ("NONE" when empty); TemplateStatus sets
	// it from the webhook's reason.
	RejectedReason string `json:"rejected_reason,omitempty"`
}

// TemplateComponent is one part of a template definition.
type TemplateComponent struct {
	Type    string           `json:"type"`             // HEADER, BODY, FOOTER, BUTTONS
	Format  string           `json:"format,omitempty"` // HEADER: TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION
	Text    string           `json:"text,omitempty"`   // with {{1}}.. placeholders
	Buttons []TemplateButton `json:"buttons,omitempty"`
}

// TemplateButton is one button of a BUTTONS component.
type TemplateButton struct {
	Type string `json:"type"` // QUICK_REPLY, URL, PHONE_NUMBER
	Text string `json:"text"`
	URL  string `json:"url,omitempty"` // may end in {{1}}
}

// DefaultTemplates is the template list a fake starts with.
func DefaultTemplates() []Template {
	return []Template{
		{ID: "1000000000000001", Name: "order_confirmation", Language: "en", Status: "APPROVED", Category: "UTILITY",
			Components: []TemplateComponent{
				{Type: "BODY", Text: "Hi {{1}}, your order {{2}} is confirmed."},
			}},
		{ID: "1000000000000002", Name: "appointment_reminder", Language: "en", Status: "APPROVED", Category: "UTILITY",
			Components: []TemplateComponent{
				{Type: "HEADER", Format: "IMAGE"},
				{Type: "BODY", Text: "Reminder: {{1}}, your appointment is on {{2}}."},
				{Type: "BUTTONS", Buttons: []TemplateButton{{Type: "QUICK_REPLY", Text: "Confirm"}, {Type: "QUICK_REPLY", Text: "Reschedule"}}},
			}},
		{ID: "1000000000000003", Name: "follow_up", Language: "en", Status: "APPROVED", Category: "MARKETING",
			Components: []TemplateComponent{
				{Type: "BODY", Text: "Hi! We have not heard from you in a while. Reply to continue our conversation."},
			}},
		{ID: "1000000000000004", Name: "hello_world", Language: "en_US", Status: "APPROVED", Category: "UTILITY",
			Components: []TemplateComponent{
				{Type: "HEADER", Format: "TEXT", Text: "Hello World"},
				{Type: "BODY", Text: "Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta."},
				{Type: "FOOTER", Text: "WhatsApp Business Platform sample message"},
			}},
	}
}

var placeholderRe = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// Params is the number of distinct placeholders in text.
func Params(text string) int {
	seen := map[string]bool{}
	for _, m := range placeholderRe.FindAllStringSubmatch(text, -1) {
		seen[m[1]] = true
	}
	return len(seen)
}

// checkTemplate checks a send against the account's templates, the way Meta does.
func (s *Server) checkTemplate(t *whatsapp.Template) (Fault, bool) {
	s.mu.Lock()
	var found *Template
	otherLangs := []string{}
	for i := range s.templates {
		tp := &s.templates[i]
		if tp.Name != t.Name {
			continue
		}
		if tp.Language == t.Language.Code {
			found = tp
		} else {
			otherLangs = append(otherLangs, tp.Language)
		}
	}
	var tpl Template
	if found != nil {
		tpl = *found
	}
	s.mu.Unlock()

	if found == nil {
		d := fmt.Sprintf("template name (%s) does not exist in %s", t.Name, t.Language.Code)
		if len(otherLangs) > 0 {
			d += " (it exists in " + strings.Join(otherLangs, ", ") + ")"
		}
		return Fault{Code: 132001, Details: d}, false
	}
	switch tpl.Status {
	case "APPROVED":
	case "PAUSED":
		return Fault{Code: 132015, Details: fmt.Sprintf("template %s is paused", t.Name)}, false
	case "DISABLED":
		return Fault{Code: 132016, Details: fmt.Sprintf("template %s is disabled", t.Name)}, false
	default:
		return Fault{Code: 132001, Details: fmt.Sprintf("template %s (%s) is %s, not APPROVED", t.Name, tpl.Language, tpl.Status)}, false
	}

	sent := map[string][]whatsapp.Component{}
	for _, c := range t.Components {
		sent[c.Type] = append(sent[c.Type], c)
	}
	var buttons []TemplateButton
	for _, c := range tpl.Components {
		switch c.Type {
		case "HEADER":
			hdr := sent["header"]
			switch c.Format {
			case "", "TEXT":
				if f, ok := countParams("header", Params(c.Text), hdr); !ok {
					return f, false
				}
			case "IMAGE", "VIDEO", "DOCUMENT":
				want := strings.ToLower(c.Format)
				if len(hdr) == 0 || len(hdr[0].Parameters) != 1 {
					return Fault{Code: 132012, Details: fmt.Sprintf("template %s needs a header component with one %s parameter", t.Name, want)}, false
				}
				if got := hdr[0].Parameters[0].Type; got != want {
					return Fault{Code: 132012, Details: fmt.Sprintf("header parameter is %s, the template's header is %s", got, want)}, false
				}
			}
			delete(sent, "header")
		case "BODY":
			if f, ok := countParams("body", Params(c.Text), sent["body"]); !ok {
				return f, false
			}
			delete(sent, "body")
		case "BUTTONS":
			buttons = c.Buttons
		}
	}
	for typ := range sent {
		if typ == "button" {
			continue
		}
		return Fault{Code: 132000, Details: fmt.Sprintf("template %s has no %s with parameters, but the message sends one", t.Name, typ)}, false
	}
	for _, c := range sent["button"] {
		idx, _ := strconv.Atoi(*c.Index) // shape checked: 0-9
		if idx >= len(buttons) {
			return Fault{Code: 132000, Details: fmt.Sprintf("button index %d: template %s has %d buttons", idx, t.Name, len(buttons))}, false
		}
		b := buttons[idx]
		want := map[string]string{"QUICK_REPLY": "quick_reply", "URL": "url", "PHONE_NUMBER": "phone_number", "COPY_CODE": "copy_code", "FLOW": "flow", "CATALOG": "catalog"}[b.Type]
		if c.SubType != want {
			return Fault{Code: 132012, Details: fmt.Sprintf("button %d is %s in the template, the message says %s", idx, want, c.SubType)}, false
		}
		if b.Type == "URL" && Params(b.URL) != len(c.Parameters) {
			return Fault{Code: 132000, Details: fmt.Sprintf("button %d: the template's url takes %d parameters, got %d", idx, Params(b.URL), len(c.Parameters))}, false
		}
	}
	return Fault{}, true
}

func countParams(part string, want int, comps []whatsapp.Component) (Fault, bool) {
	got := 0
	for _, c := range comps {
		got += len(c.Parameters)
	}
	if got != want {
		return Fault{Code: 132000, Details: fmt.Sprintf("%s: number of localizable_params (%d) does not match the expected number of params (%d)", part, got, want)}, false
	}
	return Fault{}, true
}

var templateFields = map[string]bool{"id": true, "name": true, "language": true, "status": true,
	"category": true, "components": true, "quality_score": true, "rejected_reason": true}

func (s *Server) serveTemplates(rec *recorder, r *http.Request, call *Call) {
	q := r.URL.Query()
	limit := 25
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.fault(rec, call, badParam(100, "limit", fmt.Sprintf("%q must be an integer from 1 to 1000", v)))
			return
		}
		limit = n
	}
	fields := []string{"id", "name", "language", "status", "category", "components"}
	if v := q.Get("fields"); v != "" {
		fields = []string{"id"}
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if !templateFields[f] {
				s.fault(rec, call, Fault{Code: 100, Message: fmt.Sprintf("(#100) Tried accessing nonexisting field (%s) on node type (WhatsAppBusinessHSM)", f)})
				return
			}
			if f != "id" {
				fields = append(fields, f)
			}
		}
	}
	if f, ok := s.takeFault(EndpointTemplates, ""); ok {
		s.fault(rec, call, f)
		return
	}
	s.mu.Lock()
	all := append([]Template(nil), s.templates...)
	s.mu.Unlock()

	start := 0
	if after := q.Get("after"); after != "" {
		n, ok := decodeCursor(after)
		if !ok || n >= len(all) {
			s.fault(rec, call, badParam(100, "after", "is not a valid cursor"))
			return
		}
		start = n + 1
	} else if before := q.Get("before"); before != "" {
		n, ok := decodeCursor(before)
		if !ok || n > len(all) {
			s.fault(rec, call, badParam(100, "before", "is not a valid cursor"))
			return
		}
		start = max(0, n-limit)
	}
	end := min(len(all), start+limit)
	data := make([]map[string]any, 0, end-start)
	for _, t := range all[start:end] {
		full := map[string]any{"id": t.ID, "name": t.Name, "language": t.Language, "status": t.Status,
			"category": t.Category, "components": t.Components, "rejected_reason": "NONE"}
		if t.RejectedReason != "" {
			full["rejected_reason"] = t.RejectedReason
		}
		if t.Quality != "" {
			full["quality_score"] = map[string]string{"score": t.Quality}
		}
		item := map[string]any{}
		for _, f := range fields {
			if v, ok := full[f]; ok {
				item[f] = v
			}
		}
		data = append(data, item)
	}
	resp := map[string]any{"data": data}
	if len(data) > 0 {
		paging := map[string]any{"cursors": map[string]string{
			"before": encodeCursor(start), "after": encodeCursor(end - 1)}}
		if end < len(all) {
			nq := r.URL.Query()
			nq.Del("before")
			nq.Set("after", encodeCursor(end-1))
			nq.Del("access_token")
			paging["next"] = s.URL + "/" + call.Version + call.Path + "?" + nq.Encode()
		}
		if start > 0 {
			pq := r.URL.Query()
			pq.Del("after")
			pq.Set("before", encodeCursor(start))
			pq.Del("access_token")
			paging["previous"] = s.URL + "/" + call.Version + call.Path + "?" + pq.Encode()
		}
		resp["paging"] = paging
	}
	s.ok(rec, resp)
}

func encodeCursor(i int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("tpl:" + strconv.Itoa(i)))
}

func decodeCursor(c string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "tpl:"))
	if err != nil || !strings.HasPrefix(string(b), "tpl:") || n < 0 {
		return 0, false
	}
	return n, true
}

var phoneFields = map[string]bool{"id": true, "display_phone_number": true, "verified_name": true,
	"quality_rating": true, "throughput": true, "code_verification_status": true,
	"platform_type": true, "messaging_limit_tier": true, "name_status": true, "webhook_configuration": true,
	"whatsapp_business_manager_messaging_limit": true}

func (s *Server) servePhone(rec *recorder, r *http.Request, call *Call) {
	full := map[string]any{
		"id":                       s.opts.PhoneNumberID,
		"display_phone_number":     formatDisplay(s.opts.DisplayPhoneNumber),
		"verified_name":            s.opts.VerifiedName,
		"quality_rating":           "GREEN",
		"throughput":               map[string]string{"level": "STANDARD"},
		"code_verification_status": "VERIFIED",
		"platform_type":            "CLOUD_API",
		"messaging_limit_tier":     "TIER_1K",
		"whatsapp_business_manager_messaging_limit": s.opts.MessagingLimit,
		"name_status":           "APPROVED",
		"webhook_configuration": s.webhookConfiguration(),
	}
	fields := []string{"id", "display_phone_number", "verified_name", "quality_rating"}
	if v := r.URL.Query().Get("fields"); v != "" {
		fields = []string{"id"}
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if !phoneFields[f] {
				s.fault(rec, call, Fault{Code: 100, Message: fmt.Sprintf("(#100) Tried accessing nonexisting field (%s) on node type (WhatsAppBusinessPhoneNumber)", f)})
				return
			}
			if f != "id" {
				fields = append(fields, f)
			}
		}
	}
	if f, ok := s.takeFault(EndpointPhone, ""); ok {
		s.fault(rec, call, f)
		return
	}
	out := map[string]any{}
	for _, f := range fields {
		out[f] = full[f]
	}
	s.ok(rec, out)
}

// formatDisplay renders 15550783881 as "+1 555-078-3881" (NANP) or "+<digits>".
func formatDisplay(d string) string {
	if len(d) == 11 && d[0] == '1' {
		return "+1 " + d[1:4] + "-" + d[4:7] + "-" + d[7:]
	}
	return "+" + d
}
