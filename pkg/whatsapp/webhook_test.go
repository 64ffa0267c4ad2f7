package whatsapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

// webhookExamples returns the named example payloads of paths./whatsapp/webhooks.post in
// Meta's spec as JSON, or skips the test when the spec is absent.
func webhookExamples(t testing.TB) map[string][]byte {
	t.Helper()
	return metaschema.Require(t).WebhookExamples()
}

func TestParseWebhookMetaExamples(t *testing.T) {
	examples := webhookExamples(t)
	type want struct {
		kind  EventKind
		field string
		typ   string // message type
		id    string // message id prefix
		check func(t *testing.T, e Event)
	}
	tests := map[string]want{
		"Text Message": {kind: EventMessage, field: "messages", typ: "text", id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5",
			check: func(t *testing.T, e Event) {
				m := e.Message
				if m.Text != "Does it come in another color?" || m.From != "16505551234" || m.ContactName != "Sheena Nelson" || m.Timestamp != 1749416383 {
					t.Errorf("text message = %+v", m)
				}
				if e.PhoneNumberID != "106540352242922" || e.WABAID != "419561257915477" || e.DisplayPhoneNumber != "15550783881" {
					t.Errorf("metadata = %q %q %q", e.PhoneNumberID, e.WABAID, e.DisplayPhoneNumber)
				}
			}},
		"Text Message with Context (Product Inquiry)": {kind: EventMessage, field: "messages", typ: "text", id: "wamid.",
			check: func(t *testing.T, e Event) {
				if e.Message.Context == nil || e.Message.Context.ID != "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA" || e.Message.Context.From != "15550783881" {
					t.Errorf("context = %+v", e.Message.Context)
				}
			}},
		"Text Message from Click to WhatsApp Ad": {kind: EventMessage, field: "messages", typ: "text", id: "wamid.",
			check: func(t *testing.T, e Event) {
				if !strings.Contains(string(e.Message.Referral), `"source_type":"ad"`) || e.Message.Text != "Hello! Can I get more info on this?" {
					t.Errorf("referral = %s, text %q", e.Message.Referral, e.Message.Text)
				}
			}},
		"Reaction Message": {kind: EventMessage, field: "messages", typ: "reaction", id: "wamid.",
			check: func(t *testing.T, e Event) {
				r := e.Message.Reaction
				if r == nil || r.Emoji != "👍" || r.MessageID != "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA" {
					t.Errorf("reaction = %+v", r)
				}
			}},
		"Image Message": {kind: EventMessage, field: "messages", typ: "image", id: "wamid.",
			check: func(t *testing.T, e Event) {
				m := e.Message.Media
				if m == nil || m.Type != "image" || m.ID != "1003383421387256" || m.Caption != "Taj Mahal" || m.MimeType != "image/jpeg" || m.SHA256 == "" {
					t.Errorf("media = %+v", m)
				}
			}},
		"Location Message": {kind: EventMessage, field: "messages", typ: "location", id: "wamid.",
			check: func(t *testing.T, e Event) {
				l := e.Message.Location
				if l == nil || l.Latitude != 37.44221496582 || l.Longitude != -122.16165924072 || l.Name != "Philz Coffee" || l.URL != "https://philzcoffee.com/" {
					t.Errorf("location = %+v", l)
				}
			}},
		"Contact Sharing Message": {kind: EventMessage, field: "messages", typ: "contacts", id: "wamid.",
			check: func(t *testing.T, e Event) {
				if len(e.Message.Contacts) != 1 || !strings.Contains(string(e.Message.Contacts[0]), "19835552319") {
					t.Errorf("contacts = %s", e.Message.Contacts)
				}
			}},
		"Unsupported Message": {kind: EventMessage, field: "messages", typ: "unsupported", id: "wamid.",
			check: func(t *testing.T, e Event) {
				errs := e.Message.Errors
				if len(errs) != 1 || errs[0].Code != 131051 || errs[0].Details != "Message type is currently not supported." {
					t.Errorf("errors = %+v", errs)
				}
			}},
		"Button Message": {kind: EventMessage, field: "messages", typ: "button", id: "wamid.",
			check: func(t *testing.T, e Event) {
				b := e.Message.Button
				if b == nil || b.Kind != "quick_reply" || b.ID != "Unsubscribe" || b.Title != "Unsubscribe" {
					t.Errorf("button = %+v", b)
				}
			}},
		"Interactive List Reply Message": {kind: EventMessage, field: "messages", typ: "interactive", id: "wamid.",
			check: func(t *testing.T, e Event) {
				l := e.Message.List
				if l == nil || l.ID != "priority_express" || l.Title != "Priority Mail Express" || l.Description != "Next Day to 2 Days" {
					t.Errorf("list = %+v", l)
				}
			}},
		"Interactive Button Reply Message": {kind: EventMessage, field: "messages", typ: "interactive", id: "wamid.",
			check: func(t *testing.T, e Event) {
				b := e.Message.Button
				if b == nil || b.Kind != "button_reply" || b.ID != "cancel-button" || b.Title != "Cancel" {
					t.Errorf("button = %+v", b)
				}
			}},
		"Order Message": {kind: EventMessage, field: "messages", typ: "order", id: "wamid.",
			check: func(t *testing.T, e Event) {
				if !strings.Contains(string(e.Message.Order), `"catalog_id":"194836987003835"`) {
					t.Errorf("order = %s", e.Message.Order)
				}
			}},
		"System Message": {kind: EventMessage, field: "messages", typ: "system", id: "wamid.",
			check: func(t *testing.T, e Event) {
				if !strings.Contains(string(e.Message.System), "user_changed_number") || e.Message.ContactName != "" {
					t.Errorf("system = %s", e.Message.System)
				}
			}},
		"Group Create Message":      {kind: EventUnknown, field: "group_lifecycle_update"},
		"Group Settings Update":     {kind: EventUnknown, field: "group_settings_update"},
		"Group Remove Participants": {kind: EventUnknown, field: "group_participants_update"},
	}
	if len(examples) != 16 {
		t.Errorf("spec has %d webhook examples, the table expects 16", len(examples))
	}
	for name, body := range examples {
		t.Run(name, func(t *testing.T) {
			w, ok := tests[name]
			if !ok {
				t.Fatalf("no expectation for example %q", name)
			}
			events, err := ParseWebhook(body)
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if len(events) != 1 {
				t.Fatalf("got %d events, want 1: %+v", len(events), events)
			}
			e := events[0]
			if e.Kind != w.kind || e.Field != w.field {
				t.Fatalf("kind/field = %s/%s, want %s/%s", e.Kind, e.Field, w.kind, w.field)
			}
			if len(e.Raw) == 0 || !json.Valid(e.Raw) {
				t.Errorf("Raw not kept: %q", e.Raw)
			}
			if w.kind == EventMessage {
				if e.Message.Type != w.typ || !strings.HasPrefix(e.Message.ID, w.id) {
					t.Errorf("type/id = %s/%s, want %s/%s…", e.Message.Type, e.Message.ID, w.typ, w.id)
				}
				if e.DedupeKey() != "msg:"+e.Message.ID {
					t.Errorf("DedupeKey = %s", e.DedupeKey())
				}
			}
			if w.check != nil {
				w.check(t, e)
			}
		})
	}
}

func TestParseWebhookFixtures(t *testing.T) {
	tests := []struct {
		file  string
		kinds []EventKind
		check func(t *testing.T, evs []Event)
	}{
		{"batch_mixed.json", []EventKind{EventMessage, EventMessage, EventStatus, EventStatus, EventError, EventMessage, EventPreference, EventUnknown},
			func(t *testing.T, evs []Event) {
				if evs[1].Message.FromUser != "US.13491208655302741918" || evs[1].Message.From != "" || evs[1].Message.ContactKey() != "US.13491208655302741918" || evs[1].Message.ContactName != "Pablo" {
					t.Errorf("user-id message = %+v", evs[1].Message)
				}
				s := evs[3].Status
				if s.Status != "failed" || len(s.Errors) != 1 || s.Errors[0].Code != 131026 || s.Timestamp != 1750000002 {
					t.Errorf("failed status = %+v", s)
				}
				if evs[2].DedupeKey() != "status:wamid.OUT1:sent" {
					t.Errorf("status dedupe key = %s", evs[2].DedupeKey())
				}
				if evs[4].Error.Code != 131000 || evs[4].Error.Details != "retry later" {
					t.Errorf("value error = %+v", evs[4].Error)
				}
				if evs[5].PhoneNumberID != "222" || evs[5].WABAID != "WABA2" || evs[5].Message.Media.Type != "audio" || !evs[5].Message.Media.Voice {
					t.Errorf("second entry = %+v %+v", evs[5], evs[5].Message.Media)
				}
				p := evs[6].Preference
				if p.WaID != "16505551234" || p.Value != "stop" || p.Category != "marketing_messages" || p.Timestamp != 1750000003 {
					t.Errorf("preference = %+v", p)
				}
				if evs[7].Field != "messages" || evs[7].Message != nil {
					t.Errorf("unknown = %+v", evs[7])
				}
			}},
		{"nfm_reply.json", []EventKind{EventMessage}, func(t *testing.T, evs []Event) {
			if !strings.Contains(string(evs[0].Message.NFMReply), "response_json") {
				t.Errorf("nfm_reply = %s", evs[0].Message.NFMReply)
			}
		}},
		{"future_type.json", []EventKind{EventMessage}, func(t *testing.T, evs []Event) {
			if evs[0].Message.Type != "hologram" || !strings.Contains(string(evs[0].Raw), "hologram") {
				t.Errorf("future type = %+v raw %s", evs[0].Message, evs[0].Raw)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("../../testdata/webhooks", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			evs, err := ParseWebhook(body)
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			var got []EventKind
			for _, e := range evs {
				got = append(got, e.Kind)
			}
			if strings.Join(kindStrings(got), ",") != strings.Join(kindStrings(tt.kinds), ",") {
				t.Fatalf("kinds = %v, want %v", got, tt.kinds)
			}
			tt.check(t, evs)
		})
	}
}

func kindStrings(ks []EventKind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

// TestParseWebhookKeepsOddParts: one odd message, status, change or entry does not fail the
// whole body (Meta would retry it for days and then drop the good messages with it): each
// odd part becomes an unknown event with its raw JSON and a reason naming its JSON path.
func TestParseWebhookKeepsOddParts(t *testing.T) {
	body, err := os.ReadFile("testdata/webhooks/batch_odd.json")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := ParseWebhook(body)
	if err != nil {
		t.Fatalf("ParseWebhook: %v", err)
	}
	type want struct {
		kind   EventKind
		id     string // message or status id
		reason string // part of the reason of an unknown event
		raw    string // part of its raw JSON
	}
	wants := []want{
		{EventMessage, "wamid.GOOD1", "", ""},
		{EventUnknown, "", "entry[0].changes[0].value.messages[1].id: missing message id", `"no id"`},
		{EventUnknown, "", "entry[0].changes[0].value.messages[2]: timestamp \"1.7e9\"", `wamid.EXP`},
		{EventUnknown, "", "entry[0].changes[0].value.messages[3].text.body: is a JSON number", `wamid.ODDTYPE`},
		{EventUnknown, "", "entry[0].changes[0].value.messages[4]", `"not an object"`},
		{EventMessage, "wamid.GOOD2", "", ""},
		{EventStatus, "wamid.OUT1", "", ""},
		{EventUnknown, "", "entry[0].changes[0].value.statuses[1].id: missing status id", `"read"`},
		{EventUnknown, "", "entry[0].changes[1].value", `"odd"`},
		{EventUnknown, "", "entry[0].changes[2].value: missing change value", `"messages"`},
		{EventUnknown, "", "entry[0].changes[3]", `"not a change"`},
		{EventUnknown, "", "entry[1]", `"not an entry"`},
		{EventMessage, "wamid.GOOD3", "", ""},
	}
	if len(evs) != len(wants) {
		for i, e := range evs {
			t.Logf("%d: %s %s %s", i, e.Kind, e.Reason, e.Raw)
		}
		t.Fatalf("%d events, want %d", len(evs), len(wants))
	}
	for i, w := range wants {
		e := evs[i]
		if e.Kind != w.kind {
			t.Errorf("event %d: kind %s, want %s (reason %q)", i, e.Kind, w.kind, e.Reason)
			continue
		}
		switch w.kind {
		case EventMessage:
			if e.Message.ID != w.id {
				t.Errorf("event %d: message %s, want %s", i, e.Message.ID, w.id)
			}
		case EventStatus:
			if e.Status.ID != w.id {
				t.Errorf("event %d: status %s, want %s", i, e.Status.ID, w.id)
			}
		case EventUnknown:
			if !strings.Contains(e.Reason, w.reason) || !strings.Contains(string(e.Raw), w.raw) {
				t.Errorf("event %d: reason %q raw %s, want reason containing %q and raw containing %s", i, e.Reason, e.Raw, w.reason, w.raw)
			}
			if e.DedupeKey() == "" {
				t.Errorf("event %d: unknown event without a dedupe key", i)
			}
		}
	}
	if evs[0].Message.ContactName != "Sheena" || evs[0].PhoneNumberID != "111" || evs[1].PhoneNumberID != "111" || evs[12].WABAID != "WABA2" {
		t.Errorf("context lost: %+v / %+v / %+v", evs[0], evs[1], evs[12])
	}
}

// TestParseWebhookErrors: only a body that is not a WhatsApp webhook at all is refused.
func TestParseWebhookErrors(t *testing.T) {
	tests := []struct {
		name, body, wantPath, wantMsg string
	}{
		{"not json", `{"object":`, "", "invalid JSON"},
		{"empty", ``, "", "invalid JSON"},
		{"empty object", `{}`, "object", `want "whatsapp_business_account"`},
		{"array", `[]`, "", "want an object"},
		{"wrong object", `{"object":"page","entry":[]}`, "object", `want "whatsapp_business_account"`},
		{"entry not array", `{"object":"whatsapp_business_account","entry":{}}`, "entry", "want an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWebhook([]byte(tt.body))
			var we *WebhookError
			if !errors.As(err, &we) {
				t.Fatalf("err = %v, want *WebhookError", err)
			}
			if we.Path != tt.wantPath || !strings.Contains(we.Msg, tt.wantMsg) {
				t.Errorf("got path %q msg %q, want path %q msg containing %q", we.Path, we.Msg, tt.wantPath, tt.wantMsg)
			}
		})
	}
}

// TestParseWebhookOddPartsAreUnknown: what used to fail the whole body is now an unknown
// event with the path in its reason.
func TestParseWebhookOddPartsAreUnknown(t *testing.T) {
	tests := []struct {
		name, body, wantReason string
	}{
		{"changes wrong", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":"x"}]}`, "entry[0].changes: is a JSON string, want an array"},
		{"missing value", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages"}]}]}`, "entry[0].changes[0].value: missing change value"},
		{"message id missing", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"from":"1","type":"text"}]}}]}]}`,
			"entry[0].changes[0].value.messages[0].id: missing message id"},
		{"bad timestamp", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"id":"a","from":"1","timestamp":"soon"}]}}]}]}`,
			"entry[0].changes[0].value.messages[0]: timestamp"},
		{"text body number", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"id":"a","from":"1","type":"text","text":{"body":5}}]}}]}]}`,
			"entry[0].changes[0].value.messages[0].text.body: is a JSON number, want a string"},
		{"status without id", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[{"status":"sent"}]}}]}]}`,
			"entry[0].changes[0].value.statuses[0].id: missing status id"},
		{"bad metadata", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":[]}}]}]}`,
			"entry[0].changes[0].value.metadata: is a JSON array, want an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := ParseWebhook([]byte(tt.body))
			if err != nil {
				t.Fatalf("err = %v, want an unknown event", err)
			}
			if len(evs) != 1 || evs[0].Kind != EventUnknown || !strings.Contains(evs[0].Reason, tt.wantReason) {
				t.Fatalf("events = %+v, want one unknown event with reason containing %q", evs, tt.wantReason)
			}
		})
	}
}

func TestVerifySignature(t *testing.T) {
	const secret = "s3cret-app"
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"text":"Grüße / ünïcödé"}]}`)
	good := Sign(body, secret)
	changed := append([]byte(nil), body...)
	changed[len(changed)-3] ^= 1
	tests := []struct {
		name   string
		body   []byte
		header string
		secret string
		want   error
	}{
		{"good non-ASCII body", body, good, secret, nil},
		{"good with spaces", body, "  " + good + " ", secret, nil},
		{"missing", body, "", secret, ErrSignatureMissing},
		{"no prefix", body, strings.TrimPrefix(good, "sha256="), secret, ErrSignatureMalformed},
		{"sha1", body, "sha1=" + strings.TrimPrefix(good, "sha256="), secret, ErrSignatureMalformed},
		{"not hex", body, "sha256=" + strings.Repeat("zz", 32), secret, ErrSignatureMalformed},
		{"wrong secret", body, Sign(body, "other"), secret, ErrSignatureMismatch},
		{"body changed by one byte", changed, good, secret, ErrSignatureMismatch},
		{"no app secret", body, good, "", ErrNoAppSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.body, tt.header, tt.secret)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(good, "sha256=")) {
				t.Errorf("error echoes the expected MAC: %v", err)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestVerifyHandshake(t *testing.T) {
	tests := []struct {
		name, mode, token, configured string
		want                          error
	}{
		{"good", "subscribe", "vt", "vt", nil},
		{"wrong token", "subscribe", "nope", "vt", ErrHandshakeToken},
		{"wrong mode", "unsubscribe", "vt", "vt", ErrHandshakeMode},
		{"empty configured", "subscribe", "", "", ErrHandshakeNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyHandshake(tt.mode, tt.token, "ch4llenge", tt.configured)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && got != "ch4llenge" {
				t.Errorf("challenge = %q", got)
			}
			if err != nil && strings.Contains(err.Error(), tt.configured) && tt.configured != "" {
				t.Errorf("error shows the verify token: %v", err)
			}
		})
	}
}

func FuzzParseWebhook(f *testing.F) {
	entries, _ := os.ReadDir("../../testdata/webhooks")
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join("../../testdata/webhooks", e.Name())); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"1","from":"2","timestamp":3}]}}]}]}`))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"user_preferences","value":{"user_preferences":[{"timestamp":"x"}]}}]}]}`))
	for _, name := range []string{"testdata/webhooks/batch_odd.json", "testdata/webhooks/shapes_2026.json"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := ParseWebhook(body)
		if err != nil {
			var we *WebhookError
			if !errors.As(err, &we) {
				t.Fatalf("error is %T, want *WebhookError: %v", err, err)
			}
			return
		}
		for _, e := range events {
			switch e.Kind {
			case EventMessage:
				if e.Message == nil || e.Message.ID == "" || e.Message.ContactKey() == "" {
					t.Fatalf("message event without id or sender: %+v", e)
				}
			case EventStatus:
				if e.Status == nil || e.Status.ID == "" {
					t.Fatalf("status event without id: %+v", e)
				}
			case EventError:
				if e.Error == nil {
					t.Fatal("error event without error")
				}
			case EventPreference:
				if e.Preference == nil {
					t.Fatal("preference event without preference")
				}
			case EventTemplateStatus, EventTemplateCategory, EventTemplateQuality:
				if e.Template == nil {
					t.Fatal("template event without template")
				}
			case EventHandover:
				if e.Handover == nil {
					t.Fatal("handover event without handover")
				}
			case EventStandby:
				if (e.Message == nil) == (e.Status == nil) {
					t.Fatalf("standby event with neither or both of message and status: %+v", e)
				}
			case EventUnknown:
			default:
				t.Fatalf("unexpected kind %q", e.Kind)
			}
		}
	})
}

// TestDedupeKeyWithoutID: events without an id (template status, account updates, errors,
// preferences) are keyed on their content with their entry (business account and time),
// so only a true redelivery shares a key: APPROVED → PAUSED → APPROVED keeps all three,
// and the same change from another business account is not dropped.
func TestDedupeKeyWithoutID(t *testing.T) {
	status := func(waba string, at int64, event string) []byte {
		return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":%q,"time":%d,"changes":[{"field":"message_template_status_update",
			"value":{"event":%q,"message_template_id":594425479261596,"message_template_name":"order_ready","message_template_language":"en_US","reason":"NONE"}}]}]}`,
			waba, at, event))
	}
	key := func(body []byte) string {
		t.Helper()
		evs, err := ParseWebhook(body)
		if err != nil || len(evs) != 1 {
			t.Fatalf("ParseWebhook: %v, %d events", err, len(evs))
		}
		k := evs[0].DedupeKey()
		if k == "" {
			t.Fatalf("no dedupe key for %s", body)
		}
		return k
	}
	approved := key(status("WABA1", 1750000000, "APPROVED"))
	paused := key(status("WABA1", 1750000100, "PAUSED"))
	again := key(status("WABA1", 1750000200, "APPROVED"))
	other := key(status("WABA2", 1750000000, "APPROVED"))
	redelivered := key(status("WABA1", 1750000000, "APPROVED"))
	if approved == paused || approved == again || paused == again {
		t.Errorf("APPROVED → PAUSED → APPROVED share keys: %s %s %s", approved, paused, again)
	}
	if approved == other {
		t.Errorf("the same change from another business account shares the key %s", other)
	}
	if approved != redelivered {
		t.Errorf("a redelivery has another key: %s, %s", approved, redelivered)
	}
	// An error without entry time: the same bytes again are a redelivery.
	errBody := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{"errors":[{"code":131000,"title":"x"}]}}]}]}`)
	if key(errBody) != key(errBody) {
		t.Error("redelivered error has another key")
	}
}
