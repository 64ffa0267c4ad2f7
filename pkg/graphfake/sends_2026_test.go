package graphfake_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/whatsapp"
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

// statusEvents sends m through a real client to a fake whose status webhooks go to a sink,
// and returns the send's result and the parsed status events.
func statusEvents(t *testing.T, opts graphfake.Options, m *whatsapp.Message) (*whatsapp.SendResult, []whatsapp.Event) {
	t.Helper()
	sink := &hookSink{}
	hs := httptest.NewServer(sink)
	defer hs.Close()
	opts.StatusWebhook.URL, opts.StatusWebhook.AppSecret = hs.URL, "shh"
	s := graphfake.New(opts)
	defer s.Close()
	c := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: s.URL, PhoneNumberID: phone, Token: tok})
	res, err := c.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	s.Flush()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	var evs []whatsapp.Event
	for _, b := range sink.bodies {
		got, err := whatsapp.ParseWebhook(b)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, got...)
	}
	if len(evs) == 0 {
		t.Fatal("no status webhooks")
	}
	return res, evs
}

func TestCallbackDataEchoedInStatuses(t *testing.T) {
	data := whatsapp.Callback{OutboundID: 42, Attempt: 2, Created: 1764489600123}.String()
	_, evs := statusEvents(t, graphfake.Options{}, &whatsapp.Message{To: "+4915112345678", Type: whatsapp.TypeText,
		Text: &whatsapp.Text{Body: "hi"}, BizOpaqueCallbackData: data})
	for _, e := range evs {
		if e.Kind != whatsapp.EventStatus || e.Status.BizOpaqueCallbackData != data {
			t.Errorf("%s status: callback data %q, want %q", e.Status.Status, e.Status.BizOpaqueCallbackData, data)
		}
		if c, ok := whatsapp.ParseCallback(e.Status.BizOpaqueCallbackData); !ok || c.OutboundID != 42 || c.Attempt != 2 || c.Created != 1764489600123 {
			t.Errorf("ParseCallback: %+v %v", c, ok)
		}
	}
}

func TestSendToBSUID(t *testing.T) {
	const bsuid = "US.13491208655302741918"
	res, evs := statusEvents(t, graphfake.Options{}, &whatsapp.Message{To: bsuid, Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: "hi"}})
	if res.UserID != bsuid || res.WaID != "" || res.Input != bsuid {
		t.Errorf("answer %+v", res)
	}
	for _, e := range evs {
		if e.Status.RecipientUserID != bsuid || e.Status.RecipientID != "" {
			t.Errorf("status %+v, want recipient_user_id only", e.Status)
		}
	}
}

// TestWaIDMapping: the recipient → wa_id mapping of countries whose WhatsApp id differs
// from the number people type, in the send's answer and its statuses.
func TestWaIDMapping(t *testing.T) {
	opts := graphfake.Options{WaIDs: map[string]string{"525512345678": "5215512345678", "5511987654321": "551187654321"}}
	for typed, wa := range map[string]string{"+525512345678": "5215512345678", "+5511987654321": "551187654321", "+4915112345678": "4915112345678"} {
		res, evs := statusEvents(t, opts, &whatsapp.Message{To: typed, Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: "hi"}})
		if res.WaID != wa || res.Input != typed || len(res.Contacts) != 1 {
			t.Errorf("%s: answer %+v, want wa_id %s", typed, res, wa)
		}
		if evs[0].Status.RecipientID != wa {
			t.Errorf("%s: status recipient_id %s, want %s", typed, evs[0].Status.RecipientID, wa)
		}
	}
}

func TestStatusPricing(t *testing.T) {
	text := &whatsapp.Message{To: "+4915112345678", Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: "hi"}}
	marketing := &whatsapp.Message{To: "+4915112345678", Type: whatsapp.TypeTemplate, Template: &whatsapp.Template{Name: "follow_up", Language: whatsapp.Language{Code: "en"}}}
	tests := []struct {
		name  string
		model string
		msg   *whatsapp.Message
		want  whatsapp.Pricing
		conv  bool
	}{
		{"CBP service", "", text, whatsapp.Pricing{Billable: true, PricingModel: "CBP", Category: "service"}, true},
		{"CBP marketing template", "CBP", marketing, whatsapp.Pricing{Billable: true, PricingModel: "CBP", Category: "marketing"}, true},
		{"PMP service is free", "PMP", text, whatsapp.Pricing{Billable: false, PricingModel: "PMP", Category: "service", Type: "free_customer_service"}, false},
		{"PMP marketing template", "PMP", marketing, whatsapp.Pricing{Billable: true, PricingModel: "PMP", Category: "marketing", Type: "regular"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, evs := statusEvents(t, graphfake.Options{StatusWebhook: graphfake.StatusWebhook{PricingModel: tt.model}}, tt.msg)
			sent := evs[0].Status
			if sent.Status != "sent" || sent.Pricing == nil || *sent.Pricing != tt.want {
				t.Fatalf("sent status pricing %+v, want %+v", sent.Pricing, tt.want)
			}
			if (sent.Conversation != nil) != tt.conv {
				t.Errorf("conversation %+v, want present=%v", sent.Conversation, tt.conv)
			}
			if read := evs[len(evs)-1].Status; read.Status != "read" || read.Pricing != nil {
				t.Errorf("read status %+v has pricing", read)
			}
		})
	}
}

// TestSlowAnswers: Graph accepts the send but answers after the client's timeout: the
// client sees a transient timeout, yet the message was sent and its statuses arrive.
func TestSlowAnswers(t *testing.T) {
	sink := &hookSink{}
	hs := httptest.NewServer(sink)
	defer hs.Close()
	s := graphfake.New(graphfake.Options{StatusWebhook: graphfake.StatusWebhook{URL: hs.URL}})
	defer s.Close()
	s.SlowAnswers(time.Minute)
	c := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: s.URL, PhoneNumberID: phone, Token: tok, Timeout: 100 * time.Millisecond})
	_, err := c.Send(context.Background(), &whatsapp.Message{To: "+4915112345678", Type: whatsapp.TypeText,
		Text: &whatsapp.Text{Body: "hi"}, BizOpaqueCallbackData: whatsapp.Callback{OutboundID: 9, Attempt: 1, Created: 1764489600123}.String()})
	if whatsapp.ClassOf(err) != whatsapp.ClassTransient {
		t.Fatalf("err = %v (class %s), want a transient timeout", err, whatsapp.ClassOf(err))
	}
	if n := len(s.Messages()); n != 1 {
		t.Fatalf("%d messages accepted, want 1: the send happened despite the timeout", n)
	}
	s.Flush()
	sink.mu.Lock()
	n := len(sink.bodies)
	sink.mu.Unlock()
	if n != 3 {
		t.Errorf("%d status webhooks, want sent, delivered, read", n)
	}
	s.SlowAnswers(0)
	if _, err := c.Send(context.Background(), &whatsapp.Message{To: "+4915112345678", Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: "hi"}}); err != nil {
		t.Fatalf("after SlowAnswers(0): %v", err)
	}
}

func TestRecipientChecks(t *testing.T) {
	s := graphfake.New(graphfake.Options{})
	defer s.Close()
	tests := []struct {
		name, body string
		code       int
	}{
		{"recipient BSUID", `{"messaging_product":"whatsapp","recipient":"US.13491208655302741918","type":"text","text":{"body":"hi"}}`, 200},
		{"recipient not a BSUID", `{"messaging_product":"whatsapp","recipient":"+4915112345678","type":"text","text":{"body":"hi"}}`, 400},
		{"neither", `{"messaging_product":"whatsapp","type":"text","text":{"body":"hi"}}`, 400},
		{"callback data too long", `{"messaging_product":"whatsapp","to":"+4915112345678","type":"text","text":{"body":"hi"},"biz_opaque_callback_data":"` + strings.Repeat("x", 513) + `"}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, b := send(t, s, tt.body)
			if st != tt.code {
				t.Fatalf("%d %s, want %d", st, b, tt.code)
			}
			if st == 200 {
				var ans struct{ Contacts []map[string]string }
				_ = json.Unmarshal(b, &ans)
				if len(ans.Contacts) != 1 || ans.Contacts[0]["user_id"] == "" {
					t.Errorf("answer %s", b)
				}
			}
		})
	}
}

// TestMarketingMessagesAPI: with MarketingMessages, marketing templates go to
// /marketing_messages (answered with message_status); everything else to /messages.
func TestMarketingMessagesAPI(t *testing.T) {
	s := graphfake.New(graphfake.Options{})
	defer s.Close()
	c := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: s.URL, PhoneNumberID: phone, Token: tok, MarketingMessages: true})
	tpl := func(name string, marketing bool) *whatsapp.Message {
		return &whatsapp.Message{To: "+4915112345678", Type: whatsapp.TypeTemplate, Marketing: marketing,
			Template: &whatsapp.Template{Name: name, Language: whatsapp.Language{Code: "en"}}}
	}
	tests := []struct {
		name     string
		client   *whatsapp.Client
		msg      *whatsapp.Message
		endpoint string
		status   string
	}{
		{"marketing template", c, tpl("follow_up", true), graphfake.EndpointMarketing, "accepted"},
		{"utility template", c, tpl("order_confirmation", false), graphfake.EndpointMessages, ""},
		{"text", c, &whatsapp.Message{To: "+4915112345678", Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: "hi"}, Marketing: true}, graphfake.EndpointMessages, ""},
		{"client without the option", whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: s.URL, PhoneNumberID: phone, Token: tok}),
			tpl("follow_up", true), graphfake.EndpointMessages, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Reset()
			if tt.msg.Type == whatsapp.TypeTemplate && tt.msg.Template.Name == "order_confirmation" {
				tt.msg.Template.Components = []whatsapp.Component{{Type: "body", Parameters: []whatsapp.Parameter{{Type: "text", Text: "Ada"}, {Type: "text", Text: "A-1"}}}}
			}
			res, err := tt.client.Send(context.Background(), tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			calls := s.Calls()
			if len(calls) != 1 || calls[0].Endpoint != tt.endpoint || res.MessageStatus != tt.status {
				t.Fatalf("calls %+v, result %+v; want endpoint %s", calls, res, tt.endpoint)
			}
		})
	}
	// The Marketing Messages API takes marketing templates only.
	st, b := do(t, "POST", s.URL+"/v23.0/"+phone+"/marketing_messages", tok, "application/json", []byte(textMsg))
	if st != 400 || decodeErr(t, b).Error.Code != 131009 {
		t.Fatalf("text to marketing_messages: %d %s", st, b)
	}
}

// A fake started before its receiver gets the receiver later: sends before post nothing,
// sends after post signed statuses with the new settings (here per-message pricing).
func TestSetStatusWebhook(t *testing.T) {
	sink := &hookSink{}
	hs := httptest.NewServer(sink)
	defer hs.Close()
	s := graphfake.New(graphfake.Options{})
	defer s.Close()
	c := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: s.URL, PhoneNumberID: phone, Token: tok})
	text := &whatsapp.Message{To: "+4915112345678", Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: "hi"}}
	if _, err := c.Send(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	s.Flush()
	if n := len(s.Webhooks()); n != 0 {
		t.Fatalf("%d webhooks before a receiver was set", n)
	}
	s.SetStatusWebhook(graphfake.StatusWebhook{URL: hs.URL, AppSecret: "shh", PricingModel: "PMP", Statuses: []string{"sent", "delivered"}})
	if _, err := c.Send(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	s.Flush()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.bodies) != 2 {
		t.Fatalf("%d webhooks, want sent and delivered", len(sink.bodies))
	}
	evs, err := whatsapp.ParseWebhook(sink.bodies[1])
	if err != nil {
		t.Fatal(err)
	}
	if p := evs[0].Status.Pricing; p == nil || p.PricingModel != "PMP" || p.Category != "service" || p.Type != "free_customer_service" {
		t.Fatalf("pricing %+v", p)
	}
	for _, w := range s.Webhooks() {
		if w.HTTPStatus != 200 {
			t.Errorf("%s answered %d", w.Status, w.HTTPStatus)
		}
	}
}

// With Meta's schema, a marketing_messages body is checked against the Marketing Messages
// API's own payload: a reply context, which /messages takes, is refused there; what gtc
// sends (with biz_opaque_callback_data, or a BSUID in recipient) passes.
func TestMarketingMessagesSchema(t *testing.T) {
	v := metaschema.Require(t)
	s := graphfake.New(graphfake.Options{Schema: v})
	defer s.Close()
	c := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: s.URL, PhoneNumberID: phone, Token: tok, MarketingMessages: true})
	for _, to := range []string{"+4915112345678", "US.13491208655302741918"} {
		// A flow's reply carries the customer's message as context: the client leaves it out.
		m := &whatsapp.Message{To: to, Type: whatsapp.TypeTemplate, Marketing: true, BizOpaqueCallbackData: "gtc:7:1",
			Context:  &whatsapp.Context{MessageID: "wamid.IN"},
			Template: &whatsapp.Template{Name: "follow_up", Language: whatsapp.Language{Code: "en"}}}
		if _, err := c.Send(context.Background(), m); err != nil {
			t.Fatalf("to %s: %v", to, err)
		}
		if m.Context == nil {
			t.Fatal("Send changed the caller's message")
		}
	}
	for _, call := range s.Calls() {
		if call.Endpoint != graphfake.EndpointMarketing || strings.Contains(string(call.Body), "context") {
			t.Fatalf("call %s %s", call.Endpoint, call.Body)
		}
	}
	body := []byte(`{"messaging_product":"whatsapp","to":"4915112345678","type":"template","context":{"message_id":"wamid.X"},` +
		`"template":{"name":"follow_up","language":{"code":"en"}}}`)
	if st, b := do(t, "POST", s.URL+"/v23.0/"+phone+"/messages", tok, "application/json", body); st != 200 {
		t.Fatalf("/messages with a context: %d %s", st, b)
	}
	st, b := do(t, "POST", s.URL+"/v23.0/"+phone+"/marketing_messages", tok, "application/json", body)
	if st != 400 || !strings.Contains(string(b), "Meta's schema") || !strings.Contains(string(b), "context") {
		t.Fatalf("marketing_messages with a context: %d %s", st, b)
	}
}
