package flow

import (
	"errors"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/whatsapp"
)

func seedSet(t testing.TB) *Set {
	t.Helper()
	s, err := LoadFiles(seedFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func textEv(s string) Event {
	return Event{Type: "text", Text: s, MessageID: "wamid.1", From: "4915112345678"}
}

func TestHandleSeed(t *testing.T) {
	s := seedSet(t)
	tests := []struct {
		name  string
		ev    Event
		flow  string
		nodes []string
	}{
		{"any text greets", textEv("hello"), "greeting", []string{"reply", "ask_action"}},
		{"keyword beats plain text", textEv("  MENU "), "menu", []string{"show_menu"}},
		{"keyword is the whole message", textEv("show me the menu"), "greeting", []string{"reply", "ask_action"}},
		{"media keyword", textEv("invoice"), "media", []string{"send_document"}},
		{"location keyword", textEv("office"), "location", []string{"send_location"}},
		{"button help", Event{Type: "interactive", Button: &whatsapp.ButtonReply{Kind: "button_reply", ID: "help"}}, "handle_button", []string{"show_help"}},
		{"button status", Event{Type: "interactive", Button: &whatsapp.ButtonReply{Kind: "button_reply", ID: "status"}}, "check_status", []string{"ask_order"}},
		{"button human", Event{Type: "interactive", Button: &whatsapp.ButtonReply{Kind: "button_reply", ID: "human"}}, "handle_button", []string{"escalate"}},
		{"button unknown id goes to default", Event{Type: "interactive", Button: &whatsapp.ButtonReply{Kind: "button_reply", ID: "zzz"}}, "handle_button", []string{"unknown"}},
		{"list reply: reply_type beats plain interactive", Event{Type: "interactive", List: &whatsapp.ListReply{ID: "billing"}}, "menu", []string{"billing"}},
		{"list reply default", Event{Type: "interactive", List: &whatsapp.ListReply{ID: "other"}}, "menu", []string{"unknown"}},
		{"template quick reply", Event{Type: "button", ContactName: "Ada", Button: &whatsapp.ButtonReply{Kind: "quick_reply", ID: "confirm"}}, "appointment_reminder", []string{"confirmed"}},
		{"other quick reply", Event{Type: "button", Button: &whatsapp.ButtonReply{Kind: "quick_reply", ID: "cancel"}}, "", nil},
		{"image has no trigger", Event{Type: "image", MediaType: "image"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Handle(tt.ev, Context{To: "4915112345678"})
			if err != nil {
				t.Fatal(err)
			}
			var nodes []string
			for _, r := range got {
				nodes = append(nodes, r.Node)
				if r.Flow != tt.flow {
					t.Errorf("flow = %s, want %s", r.Flow, tt.flow)
				}
				if r.Message.To != "4915112345678" || r.Message.MessagingProduct != "whatsapp" {
					t.Errorf("message = %+v", r.Message)
				}
			}
			if !equal(nodes, tt.nodes) {
				t.Errorf("nodes = %v, want %v", nodes, tt.nodes)
			}
		})
	}
}

func TestHandleRetryAndReplyTo(t *testing.T) {
	got, err := seedSet(t).Handle(textEv("hi"), Context{To: "1", ReplyTo: "wamid.in"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].RetryOnRateLimit || got[1].RetryOnRateLimit {
		t.Fatalf("replies = %+v", got)
	}
	if got[0].Message.Context == nil || got[0].Message.Context.MessageID != "wamid.in" {
		t.Errorf("context = %+v", got[0].Message.Context)
	}
}

func TestStartWindowBranch(t *testing.T) {
	s := seedSet(t)
	tests := []struct {
		name      string
		now, last int64
		node      string
		typ       string
	}{
		{"inside the window", 1_700_050_000, 1_700_000_000, "send_freeform", "text"},
		{"exactly 24h later", 1_700_086_400, 1_700_000_000, "send_template", "template"},
		{"outside the window", 1_800_000_000, 1_700_000_000, "send_template", "template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Start("follow_up", "", Context{To: "1", Now: tt.now, LastMessageTime: tt.last})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Node != tt.node || got[0].Message.Type != tt.typ {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestStartTemplateVars(t *testing.T) {
	s := seedSet(t)
	got, err := s.Start("order_confirmation", "", Context{To: "1", Vars: map[string]any{"order_id": 1001, "customer_name": "Ada"}})
	if err != nil {
		t.Fatal(err)
	}
	ps := got[0].Message.Template.Components[0].Parameters
	if ps[0].Text != "1001" || ps[1].Text != "Ada" || got[0].Message.Template.Language.Code != "en" {
		t.Errorf("template = %+v", got[0].Message.Template)
	}
	// The prototype is untouched by rendering.
	if n, _ := s.byName["order_confirmation"].Node("send_template"); n.Message().Template.Components[0].Parameters[0].Text != "{{order_id}}" {
		t.Error("rendering changed the node's message")
	}
	_, err = s.Start("order_confirmation", "", Context{To: "1", Vars: map[string]any{"order_id": "A"}})
	if !errors.Is(err, ErrMissingVar) || !strings.Contains(err.Error(), "node send_template") || !strings.Contains(err.Error(), "customer_name") {
		t.Errorf("err = %v, want a missing variable naming the node and customer_name", err)
	}
	if _, err := s.Start("nope", "", Context{}); err == nil || !strings.Contains(err.Error(), "flows are") {
		t.Errorf("unknown flow: %v", err)
	}
	if _, err := s.Start("menu", "nope", Context{}); err == nil {
		t.Error("unknown node started")
	}
}

func TestRenderChecks(t *testing.T) {
	src := `name: t
nodes:
  - id: r
    type: reply
    config:
      message: "Hi {{contact.name}}, {{vars.note}} {{upper(team)}}"
    next: img
  - id: img
    type: reply
    config:
      media:
        type: image
        link: "{{url}}"
  - id: btn
    type: reply
    config:
      interactive:
        type: button
        body: {text: pick}
        action:
          buttons:
            - {type: reply, reply: {id: a, title: "{{title}}"}}
triggers:
  - type: text
    target: r
  - type: location
    target: btn
`
	s, err := LoadFiles([]string{writeFlow(t, t.TempDir(), "t.ygtc", src)})
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{Type: "text", Text: "x", ContactName: "Ada"}
	got, err := s.Handle(ev, Context{To: "1", Team: "sales", Vars: map[string]any{"note": "ok", "url": "https://example.com/a.png"}})
	if err != nil {
		t.Fatal(err)
	}
	if b := got[0].Message.Text.Body; b != "Hi Ada, ok SALES" {
		t.Errorf("body = %q", b)
	}
	if got[1].Message.Image.Link != "https://example.com/a.png" {
		t.Errorf("image = %+v", got[1].Message.Image)
	}
	tests := []struct {
		name string
		ev   Event
		vars map[string]any
		want string
	}{
		{"missing vars.note", ev, map[string]any{"url": "https://x.example"}, "missing variable note"},
		{"bad rendered link", ev, map[string]any{"note": "n", "url": "ftp://x"}, "bad link"},
		{"rendered title too long", Event{Type: "location", Location: &whatsapp.InboundLocation{}}, map[string]any{"title": strings.Repeat("t", 21)}, "rendered to 21 characters, the Cloud API allows 20"},
		{"empty contact name", Event{Type: "text", Text: "x"}, map[string]any{"note": "n", "url": "https://x.example"}, "{{contact.name}} is empty"},
		{"rendered title empty", Event{Type: "location", Location: &whatsapp.InboundLocation{}}, map[string]any{"title": " "}, "{{title}} is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Handle(tt.ev, Context{To: "1", Team: "sales", Vars: tt.vars})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// A branch-only cycle that can reach a reply passes validation; a run that takes it stops.
func TestRunLoopGuard(t *testing.T) {
	src := `name: t
nodes:
  - id: a
    type: branch
    config:
      conditions:
        - expression: "vars.loop == true"
          next: b
      default: r
  - id: b
    type: branch
    config:
      conditions:
        - expression: "vars.loop == true"
          next: a
      default: r
  - id: r
    type: reply
    config: {message: done}
`
	s, err := LoadFiles([]string{writeFlow(t, t.TempDir(), "t.ygtc", src)})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Start("t", "", Context{To: "1"}); err != nil || len(got) != 1 {
		t.Fatalf("no loop: %v %v", got, err)
	}
	if _, err := s.Start("t", "", Context{To: "1", Vars: map[string]any{"loop": true}}); err == nil || !strings.Contains(err.Error(), "loops") {
		t.Fatalf("loop: err = %v", err)
	}
}

func TestTriggerPrecedence(t *testing.T) {
	src := `name: p
nodes:
  - {id: any, type: reply, config: {message: any}}
  - {id: text, type: reply, config: {message: text}}
  - {id: regex, type: reply, config: {message: regex}}
  - {id: kw, type: reply, config: {message: kw}}
  - {id: inter, type: reply, config: {message: inter}}
  - {id: list, type: reply, config: {message: list}}
  - {id: listid, type: reply, config: {message: listid}}
  - {id: quick, type: reply, config: {message: quick}}
  - {id: quickpay, type: reply, config: {message: quickpay}}
  - {id: media, type: reply, config: {message: media}}
  - {id: video, type: reply, config: {message: video}}
  - {id: loc, type: reply, config: {message: loc}}
triggers:
  - {type: message, target: any}
  - {type: text, target: text}
  - {type: text, regex: "^order \\d+$", target: regex}
  - {type: text, keywords: [order 1], target: kw}
  - {type: interactive, target: inter}
  - {type: interactive, reply_type: list, target: list}
  - {type: interactive, reply_type: list, id: x, target: listid}
  - {type: button, target: quick}
  - {type: button, payload: yes, target: quickpay}
  - {type: media, target: media}
  - {type: media, media_type: video, target: video}
  - {type: location, target: loc}
`
	s, err := LoadFiles([]string{writeFlow(t, t.TempDir(), "p.ygtc", src)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ev   Event
		want string
	}{
		{textEv("order 1"), "kw"},
		{textEv("order 2"), "regex"},
		{textEv("hello"), "text"},
		{Event{Type: "interactive", Button: &whatsapp.ButtonReply{ID: "x"}}, "inter"},
		{Event{Type: "interactive", List: &whatsapp.ListReply{ID: "y"}}, "list"},
		{Event{Type: "interactive", List: &whatsapp.ListReply{ID: "x"}}, "listid"},
		{Event{Type: "button", Button: &whatsapp.ButtonReply{ID: "no"}}, "quick"},
		{Event{Type: "button", Button: &whatsapp.ButtonReply{ID: "yes"}}, "quickpay"},
		{Event{Type: "image", MediaType: "image"}, "media"},
		{Event{Type: "video", MediaType: "video"}, "video"},
		{Event{Type: "location", Location: &whatsapp.InboundLocation{}}, "loc"},
		{Event{Type: "reaction"}, "any"},
	}
	for _, tt := range tests {
		t.Run(tt.want+"/"+tt.ev.Type+tt.ev.Text, func(t *testing.T) {
			tr := s.Match(tt.ev)
			if tr == nil || tr.Target != tt.want {
				t.Errorf("matched %+v, want %s", tr, tt.want)
			}
		})
	}
	if s.Match(Event{}) != nil {
		t.Error("an empty event matched")
	}
}

func TestEventFromInbound(t *testing.T) {
	in := &whatsapp.InboundMessage{ID: "wamid.9", Type: "image", From: "49151", Timestamp: 7, ContactName: "Ada",
		Media: &whatsapp.InboundMedia{Type: "image", ID: "m1", Caption: "look"}}
	ev := EventFromInbound(in)
	if ev.Type != "image" || ev.MediaType != "image" || ev.Text != "look" || ev.From != "49151" || ev.MessageID != "wamid.9" || ev.ContactName != "Ada" {
		t.Errorf("event = %+v", ev)
	}
	if (EventFromInbound(nil) != Event{}) {
		t.Error("nil inbound gave a non-empty event")
	}
}
