package whatsapp

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// sameAsByLevel fails t unless the one-pass reader, when it reads body, gives exactly the
// events of the level-by-level parser.
func sameAsByLevel(t *testing.T, body []byte) (onePass bool) {
	t.Helper()
	fast, ok := parseWebhookOnePass(body)
	slow, err := parseWebhookByLevel(body)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("one pass read a body the level-by-level parser refuses (%v): %q", err, body)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("one pass and by level differ for %q:\n one pass: %+v\n by level: %+v", body, fast, slow)
	}
	return true
}

// TestParseWebhookOnePassReadsCommonBodies: the bodies Meta sends every day take the one
// pass, and give what the level-by-level parser gives.
func TestParseWebhookOnePassReadsCommonBodies(t *testing.T) {
	bodies := map[string][]byte{"text-1": textWebhook(1), "text-100": textWebhook(100), "status-1": statusWebhook()}
	for name, b := range webhookFixtures(t) {
		if name != "batch_odd.json" { // odd on purpose: entries and changes that are not objects
			bodies[name] = b
		}
	}
	if spec := metaExamplesIfPresent(t); spec != nil {
		for name, b := range spec {
			bodies["meta "+name] = b
		}
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			if !sameAsByLevel(t, body) {
				t.Fatalf("the one-pass reader gave up on %s", name)
			}
		})
	}
}

// metaExamplesIfPresent is webhookExamples, or nil when the spec is absent.
func metaExamplesIfPresent(t *testing.T) (examples map[string][]byte) {
	t.Helper()
	t.Run("spec", func(t *testing.T) { examples = webhookExamples(t) })
	return examples
}

// TestParseWebhookOnePassGivesUp: a frame the one pass does not read exactly as
// encoding/json would is left to the level-by-level parser, and ParseWebhook's answer is
// the same either way.
func TestParseWebhookOnePassGivesUp(t *testing.T) {
	const msg = `{"from":"1","id":"wamid.A","type":"text","text":{"body":"hi"}}`
	tests := map[string]string{
		"case-folded key":      `{"object":"whatsapp_business_account","Entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[` + msg + `]}}]}]}`,
		"escaped key":          `{"object":"whatsapp_business_account","entr\u0079":[{"id":"1","changes":[{"field":"messages","value":{"messages":[` + msg + `]}}]}]}`,
		"folding key":          `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"meſſages":[` + msg + `]}}]}]}`,
		"duplicate metadata":   `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"9"},"metadata":{"display_phone_number":"2"},"messages":[` + msg + `]}}]}]}`,
		"duplicate messages":   `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[` + msg + `],"messages":[]}}]}]}`,
		"change without value": `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages"}]}]}`,
		"null value":           `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":null}]}]}`,
		"value not an object":  `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":"odd"}]}]}`,
		"entry not an object":  `{"object":"whatsapp_business_account","entry":["odd",{"id":"2","changes":[{"field":"messages","value":{"messages":[` + msg + `]}}]}]}`,
		"numeric waba id":      `{"object":"whatsapp_business_account","entry":[{"id":1,"changes":[{"field":"messages","value":{"messages":[` + msg + `]}}]}]}`,
		"metadata array":       `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":[]}}]}]}`,
		"invalid JSON deep":    `{"object":"whatsapp_business_account","entry":[{"id":"1","x":{"y":[1,2,}],"changes":[]}]}`,
		"trailing garbage":     `{"object":"whatsapp_business_account","entry":[]} x`,
		"other object":         `{"object":"page","entry":[]}`,
		"deep nesting":         `{"object":"whatsapp_business_account","entry":[],"x":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			if sameAsByLevel(t, []byte(body)) {
				t.Errorf("the one-pass reader read %s", name)
			}
			got, gotErr := ParseWebhook([]byte(body))
			want, wantErr := parseWebhookByLevel([]byte(body))
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotErr, wantErr) {
				t.Errorf("ParseWebhook = %+v, %v; by level %+v, %v", got, gotErr, want, wantErr)
			}
		})
	}
	// What the one pass does read: unknown keys anywhere, null lists, escapes and odd
	// bytes in values, whitespace, odd messages inside a good frame.
	read := map[string]string{
		"unknown keys":       `{"object":"whatsapp_business_account","x":{"a":[1,-2.5e+3,true,false,null,"\u00e9\n"]},"entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","messages":[` + msg + `]}}]}]}`,
		"nulls":              `{"object":"whatsapp_business_account","entry":[{"id":null,"time":null,"changes":[{"field":"messages","value":{"metadata":null,"contacts":null,"messages":[` + msg + `],"statuses":null}}]}]}`,
		"escaped values":     "{\"object\":\"whatsapp_\\u0062usiness_account\",\"entry\":[{\"id\":\"W\\u00c9\xff\",\"changes\":[{\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"1\\/2\"},\"messages\":[" + msg + "]}}]}]}",
		"whitespace":         " \n{ \"object\" : \"whatsapp_business_account\" ,\t\"entry\" : [ { \"changes\" : [ { \"value\" : { \"messages\" : [ " + msg + " ] } , \"field\" : \"messages\" } ] , \"id\" : \"1\" , \"time\" : \"17\" } ] }\r\n",
		"odd message":        `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"id":5},"x",null,` + msg + `],"statuses":[{"id":"s"}],"errors":[{"code":"x"}]}}]}]}`,
		"empty":              `{"object":"whatsapp_business_account","entry":[]}`,
		"no entry":           `{"object":"whatsapp_business_account"}`,
		"unknown field":      `{"object":"whatsapp_business_account","entry":[{"id":"1","time":1750000000,"changes":[{"field":"account_update","value":{"event":"X"}},{"field":"messages","value":{}}]}]}`,
		"template and prefs": `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"message_template_status_update","value":{"event":"APPROVED","message_template_id":1}},{"field":"user_preferences","value":{"user_preferences":[{"wa_id":"1","value":"stop","timestamp":"x"}]}}]}]}`,
	}
	for name, body := range read {
		t.Run("reads "+name, func(t *testing.T) {
			if !sameAsByLevel(t, []byte(body)) {
				t.Errorf("the one-pass reader gave up on %s", name)
			}
		})
	}
}

// TestParseWebhookEventsOwnTheirBytes: events do not alias the body, so a caller may reuse
// its buffer, and appending to one event's Raw does not write into another's.
func TestParseWebhookEventsOwnTheirBytes(t *testing.T) {
	body := textWebhook(3)
	evs, err := ParseWebhook(body)
	if err != nil || len(evs) != 3 {
		t.Fatalf("ParseWebhook: %v, %d events", err, len(evs))
	}
	want := make([]string, len(evs))
	for i, e := range evs {
		want[i] = string(e.Raw)
	}
	for i := range body {
		body[i] = 'x'
	}
	_ = append(evs[0].Raw, "garbage"...)
	for i, e := range evs {
		if string(e.Raw) != want[i] {
			t.Errorf("event %d Raw changed to %q", i, e.Raw)
		}
	}
}

// FuzzParseWebhookOnePass: whatever the body, the one pass either gives up or gives the
// level-by-level parser's events, and its scanner accepts only valid JSON.
func FuzzParseWebhookOnePass(f *testing.F) {
	for _, b := range webhookFixtures(f) {
		f.Add(b)
	}
	f.Add(textWebhook(2))
	f.Add(statusWebhook())
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"Messages":[{"id":"a","from":"1"}],"metadata":{"phone_number_id":"\u0031"}}}]}]}`))
	f.Add([]byte(`[1,{"a":"\ud800"},-0.5E-7,"\"",true]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		sameAsByLevel(t, body)
		s := scanner{b: body}
		s.ws()
		valid := s.skip()
		s.ws()
		valid = valid && s.i == len(body)
		if std := json.Valid(body); valid && !std {
			t.Fatalf("scanner accepts invalid JSON %q", body)
		} else if std && !valid && len(body) < maxScanDepth {
			t.Fatalf("scanner refuses valid JSON %q", body)
		}
	})
}

// TestQuickDecodersReadCommonParts: the common messages and contacts take the quick
// decoders, which give what json.Unmarshal gives; the others are left to json.Unmarshal.
func TestQuickDecodersReadCommonParts(t *testing.T) {
	messages := map[string]bool{ // raw → read by quickMessage
		`{"from":"1","id":"wamid.A","timestamp":"1749416383","type":"text","text":{"body":"hi \u00e9\n"}}`:                                                                                   true,
		`{"from_user_id":"US.1","from_parent_user_id":"US.ENT.2","id":"a","timestamp":17,"type":"text","text":{"body":"x"}}`:                                                                 true,
		`{"context":{"from":"155","id":"wamid.C","forwarded":true},"from":"1","id":"a","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"b1","title":"Yes"}}}`: true,
		`{"from":"1","id":"a","type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"r","title":"T","description":"D"}}}`:                                               true,
		`{"from":"1","id":"a","type":"button","button":{"payload":"P","text":"T"},"context":{"from":"2","id":"c","forwarded":null}}`:                                                         true,
		`{"from":null,"id":"a","extra":{"x":[1]}}`:                                                                  true,
		`{"from":"1","id":"a","type":"image","image":{"id":"m"}}`:                                                   false,
		`{"from":"1","id":"a","type":"interactive","interactive":{"type":"nfm_reply","nfm_reply":{"name":"flow"}}}`: false,
		`{"from":"1","id":"a","text":null}`:                                                                         false,
		`{"from":"1","id":"a","text":{"body":5}}`:                                                                   false,
		`{"from":"1","id":"a","timestamp":"1.7e9"}`:                                                                 false,
		`{"from":"1","id":"a","ID":"b"}`:                                                                            false,
		`{"from":"1","id":"a","text":{"body":"x","Body":"y"}}`:                                                      false,
		`{"from":"1","id":"a","text":{"body":"x"},"text":{}}`:                                                       false,
		`"not an object"`: false,
	}
	for _, raw := range []string{`{"profile":{"name":"Sheena"},"wa_id":"16505551234"}`, `{"profile":{"name":"Pablo","username":"pablo.m"},"user_id":"US.1","parent_user_id":"US.ENT.1"}`} {
		var c wireContact
		if !quickContact([]byte(raw), &c) {
			t.Errorf("quickContact gave up on %s", raw)
		}
		sameAsUnmarshal(t, []byte(raw))
	}
	statuses := map[string]bool{ // raw → read by quickStatus
		`{"id":"wamid.S","status":"delivered","timestamp":"1750263773","recipient_id":"1","pricing":{"billable":true,"pricing_model":"PMP","category":"utility","type":"regular"}}`:                                                                                            true,
		`{"id":"s","status":"sent","timestamp":1,"recipient_user_id":"US.1","recipient_parent_user_id":"US.ENT.1","biz_opaque_callback_data":"gtc:1:2","conversation":{"id":"c","expiration_timestamp":"1750086400","origin":{"type":"utility"}},"pricing":{"billable":null}}`: true,
		`{"id":"s","status":"failed","errors":[{"code":131026}]}`:   false,
		`{"id":"s","status":"read","pricing":{"billable":"yes"}}`:   false,
		`{"id":"s","status":"read","conversation":null}`:            false,
		`{"id":"s","status":"read","conversation":{"origin":null}}`: false,
	}
	for raw, quick := range statuses {
		var w wireStatus
		if got := quickStatus([]byte(raw), &w); got != quick {
			t.Errorf("quickStatus read %s: %v, want %v", raw, got, quick)
		}
		sameAsUnmarshal(t, []byte(raw))
	}
	for raw, quick := range messages {
		if got := sameAsUnmarshal(t, []byte(raw)); got != quick {
			t.Errorf("quick decoders read %s: %v, want %v", raw, got, quick)
		}
	}
}

// sameAsUnmarshal fails t unless quickMessage, quickStatus and quickContact, when they read raw, give
// what json.Unmarshal gives.
func sameAsUnmarshal(t *testing.T, raw []byte) (quick bool) {
	t.Helper()
	var qm, m wireMessage
	if quickMessage(raw, &qm) {
		quick = true
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("quickMessage read what json.Unmarshal refuses (%v): %q", err, raw)
		}
		if !reflect.DeepEqual(qm, m) {
			t.Fatalf("quickMessage(%q) = %+v, json.Unmarshal %+v", raw, qm, m)
		}
	}
	var qs, st wireStatus
	if quickStatus(raw, &qs) {
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatalf("quickStatus read what json.Unmarshal refuses (%v): %q", err, raw)
		}
		if !reflect.DeepEqual(qs, st) {
			t.Fatalf("quickStatus(%q) = %+v, json.Unmarshal %+v", raw, qs, st)
		}
	}
	var qc, c wireContact
	if quickContact(raw, &qc) {
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatalf("quickContact read what json.Unmarshal refuses (%v): %q", err, raw)
		}
		if qc != c {
			t.Fatalf("quickContact(%q) = %+v, json.Unmarshal %+v", raw, qc, c)
		}
	}
	return quick
}

// FuzzQuickDecoders: quickMessage, quickStatus and quickContact read only what they read exactly as
// json.Unmarshal does.
func FuzzQuickDecoders(f *testing.F) {
	for _, body := range webhookFixtures(f) {
		var top struct {
			Entry []struct {
				Changes []struct {
					Value struct {
						Contacts []json.RawMessage `json:"contacts"`
						Messages []json.RawMessage `json:"messages"`
						Statuses []json.RawMessage `json:"statuses"`
					} `json:"value"`
				} `json:"changes"`
			} `json:"entry"`
		}
		_ = json.Unmarshal(body, &top)
		for _, e := range top.Entry {
			for _, c := range e.Changes {
				for _, raw := range append(append(c.Value.Contacts, c.Value.Messages...), c.Value.Statuses...) {
					f.Add([]byte(raw))
				}
			}
		}
	}
	f.Add([]byte(`{"profile":{"name":"A","username":"a"},"wa_id":"1","user_id":"US.1","parent_user_id":"US.ENT.1"}`))
	f.Add([]byte(`{"context":{"from":"1","id":"c","forwarded":false},"from":"1","id":"a","type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"r","title":"T\ud83d\ude00","description":"D"}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		sameAsUnmarshal(t, raw)
	})
}

// TestQuickKeys: the one-pass reader knows every key encoding/json reads into the wire
// structs, so a field added to one cannot be skipped silently by the quick path (an
// unknown key is passed over; a known one it does not read makes it give up).
func TestQuickKeys(t *testing.T) {
	tests := []struct {
		name string
		typ  reflect.Type
		keys []string
	}{
		{"wireValue", reflect.TypeFor[wireValue](), wireValueKeys},
		{"wireContact", reflect.TypeFor[wireContact](), wireContactKeys},
		{"wireMessage", reflect.TypeFor[wireMessage](), wireMessageKeys},
		{"wireStatus", reflect.TypeFor[wireStatus](), wireStatusKeys},
	}
	for _, tt := range tests {
		var want []string
		for f := range tt.typ.Fields() {
			want = append(want, strings.Split(f.Tag.Get("json"), ",")[0])
		}
		if strings.Join(want, " ") != strings.Join(tt.keys, " ") {
			t.Errorf("%s reads %v, the one-pass reader knows %v", tt.name, want, tt.keys)
		}
	}
}

// TestQuickDecodersReadWholeParts: each nested part the quick decoders read (text,
// context, interactive, button, pricing, conversation, profile, metadata), with every
// field its wire struct has set, is read by them and equals json.Unmarshal: a field added
// to one of these structs fails here until the quick decoder reads it.
func TestQuickDecodersReadWholeParts(t *testing.T) {
	var m wireMessage
	var st wireStatus
	var c wireContact
	var v wireValue
	full := func(p any) any {
		t.Helper()
		fill(reflect.ValueOf(p).Elem())
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var generic any
		if err := json.Unmarshal(b, &generic); err != nil {
			t.Fatal(err)
		}
		return dropNulls(generic)
	}
	enc := func(obj map[string]any) []byte {
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	parts := map[string][]byte{
		"message text":        enc(map[string]any{"id": "a", "from": "1", "text": full(&m.Text)}),
		"message context":     enc(map[string]any{"id": "a", "from": "1", "context": full(&m.Context)}),
		"message interactive": enc(map[string]any{"id": "a", "from": "1", "interactive": full(&m.Interactive)}),
		"message button":      enc(map[string]any{"id": "a", "from": "1", "button": full(&m.Button)}),
		"status pricing":      enc(map[string]any{"id": "s", "status": "sent", "pricing": full(&st.Pricing)}),
		"status conversation": enc(map[string]any{"id": "s", "status": "sent", "conversation": full(&st.Conversation)}),
		"contact profile":     enc(map[string]any{"wa_id": "1", "profile": full(&c.Profile)}),
	}
	for name, raw := range parts {
		var qm wireMessage
		var qs wireStatus
		var qc wireContact
		if !quickMessage(raw, &qm) && !quickStatus(raw, &qs) && !quickContact(raw, &qc) {
			t.Errorf("%s: no quick decoder reads %s", name, raw)
		}
		sameAsUnmarshal(t, raw)
	}
	body := enc(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{"id": "1", "changes": []any{
		map[string]any{"field": "messages", "value": map[string]any{"metadata": full(&v.Metadata)}}}}}})
	if !sameAsByLevel(t, body) {
		t.Errorf("the one-pass reader gave up on %s", body)
	}
}

// fill sets every string, bool, number and struct pointer under v to a non-zero value;
// slices and raw JSON stay nil.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(17)
	case reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Pointer:
		if v.Type().Elem().Kind() == reflect.Struct {
			v.Set(reflect.New(v.Type().Elem()))
			fill(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i))
		}
	}
}

func dropNulls(v any) any {
	if m, ok := v.(map[string]any); ok {
		for k, e := range m {
			if e == nil {
				delete(m, k)
			} else {
				m[k] = dropNulls(e)
			}
		}
	}
	return v
}
