package whatsapp

// Readers for the webhook shapes beyond messages and statuses: template lifecycle,
// thread control handovers, and WhatsApp Flows replies.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// parseTemplateUpdate reads a message_template_status_update, template_category_update or
// message_template_quality_update change value.
func parseTemplateUpdate(field string, value json.RawMessage, path string) (*TemplateUpdate, EventKind, error) {
	var w struct {
		ID          flexID `json:"message_template_id"`
		Name        string `json:"message_template_name"`
		Language    string `json:"message_template_language"`
		Event       string `json:"event"`
		Reason      string `json:"reason"`
		Category    string `json:"message_template_category"`
		DisableInfo *struct {
			DisableDate flexID `json:"disable_date"`
		} `json:"disable_info"`
		OtherInfo *struct {
			Title       string `json:"title"`
			Description string `json:"description"`
		} `json:"other_info"`
		PreviousCategory        string  `json:"previous_category"`
		NewCategory             string  `json:"new_category"`
		CorrectCategory         string  `json:"correct_category"`
		CategoryUpdateTimestamp flexInt `json:"category_update_timestamp"`
		PreviousQuality         string  `json:"previous_quality_score"`
		NewQuality              string  `json:"new_quality_score"`
	}
	if err := decode(value, &w, path); err != nil {
		return nil, "", err
	}
	t := &TemplateUpdate{ID: string(w.ID), Name: w.Name, Language: w.Language}
	switch field {
	case "message_template_status_update":
		if w.Event == "" {
			return nil, "", &WebhookError{Path: path + ".event", Msg: "missing template status event"}
		}
		t.Event, t.Reason, t.Category = w.Event, w.Reason, w.Category
		if w.DisableInfo != nil {
			t.DisableDate = string(w.DisableInfo.DisableDate)
		}
		if w.OtherInfo != nil {
			t.OtherInfo = &struct {
				Title       string `json:"title,omitempty"`
				Description string `json:"description,omitempty"`
			}{w.OtherInfo.Title, w.OtherInfo.Description}
		}
		return t, EventTemplateStatus, nil
	case "template_category_update":
		if w.NewCategory == "" {
			return nil, "", &WebhookError{Path: path + ".new_category", Msg: "missing new_category"}
		}
		t.PreviousCategory, t.NewCategory, t.CorrectCategory = w.PreviousCategory, w.NewCategory, w.CorrectCategory
		t.CategoryUpdateTimestamp = int64(w.CategoryUpdateTimestamp)
		return t, EventTemplateCategory, nil
	default: // message_template_quality_update
		if w.NewQuality == "" {
			return nil, "", &WebhookError{Path: path + ".new_quality_score", Msg: "missing new_quality_score"}
		}
		t.PreviousQuality, t.NewQuality = w.PreviousQuality, w.NewQuality
		return t, EventTemplateQuality, nil
	}
}

// parseHandover reads a messaging_handovers change value: its type (control_passed or
// control_taken) names the object that carries the owners. Owners are read whether Meta
// names them by role or by app id. It returns nil (kept as unknown) when the value says
// neither which handover it is nor who owns the thread.
func parseHandover(value json.RawMessage, path string) (*Handover, error) {
	type control struct {
		PreviousOwner json.RawMessage `json:"previous_owner"`
		NewOwner      json.RawMessage `json:"new_owner"`
		PreviousApp   json.RawMessage `json:"previous_owner_app_id"`
		NewApp        json.RawMessage `json:"new_owner_app_id"`
		Metadata      string          `json:"metadata"`
	}
	var w struct {
		Type          string   `json:"type"`
		Timestamp     flexInt  `json:"timestamp"`
		ControlPassed *control `json:"control_passed"`
		ControlTaken  *control `json:"control_taken"`
		WaID          string   `json:"wa_id"`
		UserID        string   `json:"user_id"`
		Contacts      []struct {
			WaID   string `json:"wa_id"`
			UserID string `json:"user_id"`
		} `json:"contacts"`
		Sender *struct {
			ID          string `json:"id"`
			WaID        string `json:"wa_id"`
			UserID      string `json:"user_id"`
			PhoneNumber string `json:"phone_number"`
		} `json:"sender"`
	}
	if err := decode(value, &w, path); err != nil {
		return nil, err
	}
	h := &Handover{Type: w.Type, Timestamp: int64(w.Timestamp), WaID: w.WaID, UserID: w.UserID}
	c := w.ControlPassed
	switch {
	case h.Type == "control_taken" || (h.Type == "" && c == nil && w.ControlTaken != nil):
		c = w.ControlTaken
		h.Type = "control_taken"
	case h.Type == "" && c != nil:
		h.Type = "control_passed"
	}
	if c != nil {
		h.PreviousOwner = owner(c.PreviousOwner, c.PreviousApp)
		h.NewOwner = owner(c.NewOwner, c.NewApp)
		h.Metadata = c.Metadata
	}
	for _, ct := range w.Contacts {
		h.WaID, h.UserID = firstNonEmpty(h.WaID, ct.WaID), firstNonEmpty(h.UserID, ct.UserID)
	}
	if sd := w.Sender; sd != nil {
		h.WaID = firstNonEmpty(h.WaID, sd.WaID, sd.PhoneNumber)
		h.UserID = firstNonEmpty(h.UserID, sd.UserID)
		if h.WaID == "" && h.UserID == "" {
			if IsBSUID(sd.ID) {
				h.UserID = sd.ID
			} else {
				h.WaID = sd.ID
			}
		}
	}
	if h.Type == "" && h.PreviousOwner == "" && h.NewOwner == "" {
		return nil, nil
	}
	return h, nil
}

// owner names a thread owner given as a role or app id string, a number, or an object
// with a role, app_id or id.
func owner(raws ...json.RawMessage) string {
	for _, raw := range raws {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
		var o struct {
			Role  string      `json:"role"`
			AppID json.Number `json:"app_id"`
			ID    json.Number `json:"id"`
		}
		if json.Unmarshal(raw, &o) == nil {
			if v := firstNonEmpty(o.Role, o.AppID.String(), o.ID.String()); v != "" {
				return v
			}
		}
	}
	return ""
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseFlowReply reads interactive.nfm_reply. response_json is a JSON object in a string;
// when it is not one, the reply is still kept, with ResponseError saying why.
func parseFlowReply(raw json.RawMessage, path string) (*FlowReply, error) {
	var w struct {
		Name         string          `json:"name"`
		Body         string          `json:"body"`
		ResponseJSON json.RawMessage `json:"response_json"`
	}
	if err := decode(raw, &w, path); err != nil {
		return nil, err
	}
	fr := &FlowReply{Name: w.Name, Body: w.Body}
	text := bytes.TrimSpace(w.ResponseJSON)
	if len(text) > 0 && text[0] == '"' {
		if err := json.Unmarshal(text, &fr.ResponseJSON); err != nil {
			return nil, &WebhookError{Path: path + ".response_json", Msg: err.Error()}
		}
	} else if len(text) > 0 && string(text) != "null" {
		fr.ResponseJSON = string(text) // an object sent as is, not in a string
	}
	if fr.ResponseJSON != "" {
		var resp map[string]any
		dec := json.NewDecoder(bytes.NewReader([]byte(fr.ResponseJSON)))
		dec.UseNumber()
		if err := dec.Decode(&resp); err != nil || resp == nil {
			fr.ResponseError = fmt.Sprintf("response_json is not a JSON object: %s", truncate(fr.ResponseJSON, 60))
		} else {
			fr.Response = resp
			if tok, ok := resp["flow_token"].(string); ok {
				fr.FlowToken = tok
			}
		}
	}
	return fr, nil
}

// flexID is an id Meta sends as a number (message_template_id) or a string.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if s, err := strconv.Unquote(string(b)); err == nil {
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return &flexError{msg: fmt.Sprintf("id %s is neither a number nor a string", truncate(string(b), 40))}
	}
	*f = flexID(n.String())
	return nil
}
