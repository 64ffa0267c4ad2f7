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
