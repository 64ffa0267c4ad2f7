package flow

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/whatsapp"
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

// formEvent is a submitted WhatsApp Flow as the webhook brings it: an nfm_reply whose
// response_json is the given text, read by whatsapp.ParseWebhook, then EventFromInbound.
func formEvent(responseJSON string) (Event, error) {
	rj, _ := json.Marshal(responseJSON)
	body := `{"object":"whatsapp_business_account","entry":[{"id":"WABA1","changes":[{"field":"messages","value":{` +
		`"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001234","phone_number_id":"111"},` +
		`"contacts":[{"profile":{"name":"Ada"},"wa_id":"4915112345678"}],` +
		`"messages":[{"from":"4915112345678","id":"wamid.FORM","timestamp":"1800000000","type":"interactive",` +
		`"interactive":{"type":"nfm_reply","nfm_reply":{"name":"flow","body":"Sent","response_json":` + string(rj) + `}}}]}}]}]}`
	evs, err := whatsapp.ParseWebhook([]byte(body))
	if err != nil {
		return Event{}, err
	}
	for _, e := range evs {
		if e.Message != nil {
			return EventFromInbound(e.Message), nil
		}
	}
	return Event{}, errors.New("no message in the webhook")
}

func (c *chat) form(responseJSON string) Outcome {
	c.t.Helper()
	ev, err := formEvent(responseJSON)
	if err != nil {
		c.t.Fatalf("form %s: %v", responseJSON, err)
	}
	return c.step(MessageInput(ev))
}

// flowReply wraps the parameters of an interactive flow message (indented 12 spaces, from
// line 11) and extra interactive keys (indented 8) into a reply flow.
func flowReply(params, extra string) string {
	return reply("      interactive:\n        type: flow\n        body: {text: \"Sign up?\"}\n        action:\n          parameters:\n" + params + extra)
}

func TestFlowMessageValidation(t *testing.T) {
	const id = "            flow_id: \"123\"\n"
	const cta = "            flow_cta: Sign up\n"
	tests := []struct {
		name  string
		src   string
		wants []want
	}{
		{"by id", flowReply(id+cta+"            flow_token: \"t-{{contact.wa_id}}\"\n            flow_action_payload:\n              screen: DETAILS\n              data: {name: \"{{contact.name}}\", n: 1}\n", "        header: {type: text, text: Join}\n        footer: {text: Thanks}\n"), nil},
		{"by name, data_exchange, draft", flowReply("            flow_name: signup\n"+cta+"            flow_action: data_exchange\n            mode: draft\n            flow_message_version: \"3\"\n", ""), nil},
		{"name flow", reply("      interactive:\n        type: flow\n        body: {text: Go}\n        action:\n          name: flow\n          parameters: {flow_id: \"1\", flow_cta: Go}\n"), nil},
		{"no flow", flowReply(cta, ""), []want{{11, 13, "missing flow_id or flow_name"}}},
		{"id and name", flowReply(id+"            flow_name: signup\n"+cta, ""), []want{{12, 13, "give flow_id or flow_name, not both"}}},
		{"empty id", flowReply("            flow_id: \"\"\n"+cta, ""), []want{{11, 22, "empty flow_id"}}},
		{"templated id", flowReply("            flow_id: \"{{vars.f}}\"\n"+cta, ""), []want{{11, 22, "flow_id cannot use {{ }}"}}},
		{"missing cta", flowReply(id, ""), []want{{11, 13, "missing flow_cta"}}},
		{"long cta", flowReply(id+"            flow_cta: "+strings.Repeat("x", 31)+"\n", ""), []want{{12, 23, "flow_cta is 31 characters, the Cloud API allows 30"}}},
		{"emoji cta", flowReply(id+"            flow_cta: \"Go 🚀\"\n", ""), []want{{12, 23, "flow_cta has an emoji"}}},
		{"unknown mode", flowReply(id+cta+"            mode: test\n", ""), []want{{13, 19, "unknown mode test: use draft"}}},
		{"unknown action", flowReply(id+cta+"            flow_action: open\n", ""), []want{{13, 26, "unknown flow_action open"}}},
		{"payload with data_exchange", flowReply(id+cta+"            flow_action: data_exchange\n            flow_action_payload: {screen: A}\n", ""), []want{{14, 13, "flow_action_payload is for flow_action navigate only"}}},
		{"payload without screen", flowReply(id+cta+"            flow_action_payload: {data: {a: 1}}\n", ""), []want{{13, 34, "missing screen"}}},
		{"empty data", flowReply(id+cta+"            flow_action_payload: {screen: A, data: {}}\n", ""), []want{{13, 52, "empty data: the Cloud API wants a non-empty object"}}},
		{"data not a mapping", flowReply(id+cta+"            flow_action_payload: {screen: A, data: [1]}\n", ""), []want{{13, 52, "data must be a mapping"}}},
		{"bad template in data", flowReply(id+cta+"            flow_action_payload: {screen: A, data: {n: \"{{vars.x\"}}\n", ""), []want{{13, 57, "unclosed {{"}}},
		{"secret in token", flowReply(id+cta+"            flow_token: \"{{secrets.KEY}}\"\n", ""), []want{{13, 28, "secrets can only be read in http and ai configs"}}},
		{"secret in data", flowReply(id+cta+"            flow_action_payload:\n              screen: A\n              data: {k: \"{{secrets.KEY}}\"}\n", ""), []want{{15, 28, "secrets can only be read"}}},
		{"empty token", flowReply(id+cta+"            flow_token: \"\"\n", ""), []want{{13, 25, "empty flow_token"}}},
		{"unknown parameter", flowReply(id+cta+"            flow_tokn: x\n", ""), []want{{13, 13, "unknown key flow_tokn, did you mean flow_token?"}}},
		{"version", flowReply(id+cta+"            flow_message_version: \"2\"\n", ""), []want{{13, 35, `flow_message_version must be "3"`}}},
		{"name not flow", reply("      interactive:\n        type: flow\n        body: {text: Go}\n        action:\n          name: cta_url\n          parameters: {flow_id: \"1\", flow_cta: Go}\n"), []want{{10, 17, "name must be flow"}}},
		{"missing parameters", reply("      interactive:\n        type: flow\n        body: {text: Go}\n        action: {name: flow}\n"), []want{{9, 17, "missing parameters"}}},
		{"missing body", reply("      interactive:\n        type: flow\n        action:\n          parameters: {flow_id: \"1\", flow_cta: Go}\n"), []want{{7, 9, "missing body: the text above the Flow button"}}},
		{"long body", reply("      interactive:\n        type: flow\n        body: {text: " + strings.Repeat("x", 1025) + "}\n        action:\n          parameters: {flow_id: \"1\", flow_cta: Go}\n"), []want{{8, 22, "text is 1025 characters, the Cloud API allows 1024"}}},
		{"long header", flowReply(id+cta, "        header: {type: text, text: "+strings.Repeat("x", 61)+"}\n"), []want{{13, 36, "text is 61 characters, the Cloud API allows 60"}}},
		{"unknown interactive type", reply("      interactive:\n        type: flows\n        body: {text: Go}\n        action: {}\n"), []want{{7, 15, "unknown interactive type flows: use button, list, cta_url or flow"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, problemsOf(t, tt.src), tt.wants, false)
		})
	}
}

// flowTemplate wraps the parameters of a template's FLOW button (indented 14 spaces, from
// line 12) into a reply flow.
func flowTemplate(subType, params string) string {
	return reply("      template:\n        name: signup_invite\n        language: en_US\n        components:\n          - type: button\n            sub_type: " + subType + "\n            index: 0\n            parameters:\n" + params)
}

func TestFlowButtonValidation(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		wants []want
	}{
		{"token and data", flowTemplate("flow", "              - type: action\n                action:\n                  flow_token: \"signup-{{contact.wa_id}}\"\n                  flow_action_data: {name: \"{{contact.name}}\", plan: plus}\n"), nil},
		{"token only", flowTemplate("flow", "              - {type: action, action: {flow_token: t1}}\n"), nil},
		{"empty action", flowTemplate("flow", "              - {type: action, action: {}}\n"), []want{{14, 40, "empty action: give flow_token, flow_action_data"}}},
		{"missing action", flowTemplate("flow", "              - {type: action}\n"), []want{{14, 17, "missing action"}}},
		{"empty data", flowTemplate("flow", "              - {type: action, action: {flow_action_data: {}}}\n"), []want{{14, 59, "empty flow_action_data"}}},
		{"unknown action key", flowTemplate("flow", "              - {type: action, action: {flow_id: \"1\"}}\n"), []want{{14, 40, "empty action"}, {14, 41, "unknown key flow_id"}}},
		{"text on a flow button", flowTemplate("flow", "              - {type: text, text: hi}\n"), []want{{14, 24, "a text parameter cannot go here: use action"}}},
		{"action on a quick reply", flowTemplate("quick_reply", "              - {type: action, action: {flow_token: t}}\n"), []want{{14, 24, "a action parameter cannot go here: use payload"}}},
		{"action with text key", flowTemplate("flow", "              - {type: action, text: x, action: {flow_token: t}}\n"), []want{{14, 32, "text does not belong to a action parameter"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, problemsOf(t, tt.src), tt.wants, false)
		})
	}
}

func TestAskExpectFlow(t *testing.T) {
	q := "      interactive:\n        type: flow\n        body: {text: Form}\n        action:\n          parameters: {flow_id: \"1\", flow_cta: Open, flow_token: tok}\n"
	tests := []struct {
		name   string
		cfg    string
		expect string
		errs   []want
	}{
		{"flow question defaults to flow", q + "      save_as: form\n", ExpectFlow, nil},
		{"explicit flow", q + "      save_as: form\n      expect: flow\n", ExpectFlow, nil},
		{"flow without question", "      save_as: form\n      expect: flow\n", ExpectFlow, nil},
		{"template with a FLOW button", "      template:\n        name: invite\n        language: en\n        components:\n          - {type: button, sub_type: flow, index: 0, parameters: [{type: action, action: {flow_token: t}}]}\n      save_as: form\n", ExpectFlow, nil},
		{"text question stays text", "      message: Hi\n      save_as: x\n", ExpectText, nil},
		{"validate over fields", q + "      save_as: form\n      validate: \"answer.email != nil && answer.age >= 18\"\n", ExpectFlow, nil},
		{"validate must be bool", q + "      save_as: form\n      validate: \"len(answer)\"\n", ExpectFlow, []want{{12, 18, "expected bool"}}},
		{"pattern on a form", q + "      save_as: form\n      pattern: '^a'\n", ExpectFlow, []want{{12, 16, "pattern applies to expect: text answers only"}}},
		{"choice on a flow question", q + "      save_as: form\n      expect: choice\n", ExpectChoice, []want{{12, 15, "expect: choice needs a question with interactive buttons or a list"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := askFlow(tt.cfg)
			checkProblems(t, setProblems(t, src), tt.errs, false)
			f, _ := Parse("t.ygtc", []byte(src))
			if n, ok := f.Node("q"); !ok || n.Ask == nil || n.Ask.Expect != tt.expect {
				t.Errorf("expect = %+v, want %s", n.Ask, tt.expect)
			}
		})
	}
}

const renderFlowSrc = `name: forms
nodes:
  - id: open
    type: reply
    config:
      interactive:
        type: flow
        header: {type: text, text: "Hi {{contact.name}}"}
        body: {text: "Your order {{vars.order}}: tell us how it went."}
        footer: {text: "Takes a minute"}
        action:
          name: flow
          parameters:
            flow_id: "1234567890"
            flow_cta: "Rate {{vars.order}}"
            mode: draft
            flow_token: "rate-{{vars.order}}-{{contact.wa_id}}"
            flow_action: navigate
            flow_action_payload:
              screen: RATE
              data:
                order: "{{vars.order}}"
                count: "{{vars.count}}"
                label: "Order {{vars.order}} ({{vars.count}} items)"
                items: ["{{vars.order}}", 2, true]
                nested: {deep: "{{contact.name}}"}
                fixed: "no template"
    next: exchange
  - id: exchange
    type: reply
    config:
      interactive:
        type: flow
        body: {text: "Book a table"}
        action:
          parameters: {flow_name: booking, flow_cta: Book, flow_action: data_exchange}
    next: invite
  - id: invite
    type: reply
    config:
      template:
        name: signup_invite
        language: en_US
        components:
          - type: body
            parameters: [{type: text, text: "{{contact.name}}"}]
          - type: button
            sub_type: flow
            index: 0
            parameters:
              - type: action
                action:
                  flow_token: "invite-{{contact.wa_id}}"
                  flow_action_data: {name: "{{contact.name}}", count: "{{vars.count}}"}
triggers:
  - type: message
    target: open
`

// Flow messages and FLOW buttons render their {{ }} (in token and data, keeping a lone
// expression's type) and give bodies that pass gtc's limits and Meta's Message schema.
func TestFlowRenderMatchesMetaSchema(t *testing.T) {
	v := metaschema.Require(t)
	f, probs := Parse("forms.ygtc", []byte(renderFlowSrc))
	if probs.HasErrors() {
		t.Fatalf("problems:\n%s", dump(probs.All()))
	}
	env := NewEnv(&Event{From: "4915112345678", ContactName: "Ada"}, Context{Vars: map[string]any{"order": "A-1", "count": 3}})
	wantBodies := map[string]string{
		"open": `{"type":"flow","header":{"type":"text","text":"Hi Ada"},"body":{"text":"Your order A-1: tell us how it went."},"footer":{"text":"Takes a minute"},` +
			`"action":{"name":"flow","parameters":{"flow_message_version":"3","flow_id":"1234567890","flow_cta":"Rate A-1","mode":"draft","flow_token":"rate-A-1-4915112345678","flow_action":"navigate",` +
			`"flow_action_payload":{"screen":"RATE","data":{"count":3,"fixed":"no template","items":["A-1",2,true],"label":"Order A-1 (3 items)","nested":{"deep":"Ada"},"order":"A-1"}}}}}`,
		"exchange": `{"type":"flow","body":{"text":"Book a table"},"action":{"name":"flow","parameters":{"flow_message_version":"3","flow_name":"booking","flow_cta":"Book","flow_action":"data_exchange"}}}`,
		"invite": `{"name":"signup_invite","language":{"code":"en_US"},"components":[{"type":"body","parameters":[{"type":"text","text":"Ada"}]},` +
			`{"type":"button","sub_type":"flow","index":"0","parameters":[{"type":"action","action":{"flow_token":"invite-4915112345678","flow_action_data":{"count":3,"name":"Ada"}}}]}]}`,
	}
	for _, n := range f.Nodes {
		t.Run(n.ID, func(t *testing.T) {
			m, err := n.Render(env)
			if err != nil {
				t.Fatal(err)
			}
			m.To = "4915112345678"
			if err := m.Validate(); err != nil {
				t.Errorf("whatsapp limits: %v", err)
			}
			body, _ := json.Marshal(m)
			if err := v.ValidateMessage(body); err != nil {
				t.Errorf("Meta schema: %v\n%s", err, body)
			}
			var part any = m.Interactive
			if m.Template != nil {
				part = m.Template
			}
			got, _ := json.Marshal(part)
			if string(got) != wantBodies[n.ID] {
				t.Errorf("body\n got %s\nwant %s", got, wantBodies[n.ID])
			}
		})
	}
	// The parsed node keeps its templates: rendering twice gives the same body.
	n, _ := f.Node("open")
	a, _ := n.Render(env)
	b, _ := n.Render(env)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) || n.Message().Interactive.Action.Flow.FlowActionPayload.Data["order"] != "{{vars.order}}" {
		t.Errorf("rendering changed the node: %s vs %s", ja, jb)
	}
}

func TestFlowRenderErrors(t *testing.T) {
	f, probs := Parse("forms.ygtc", []byte(renderFlowSrc))
	if probs.HasErrors() {
		t.Fatal(dump(probs.All()))
	}
	tests := []struct {
		node, path string
		vars       map[string]any
		msg        string
	}{
		{"open", "interactive.action.parameters.flow_cta", map[string]any{"order": strings.Repeat("x", 30), "count": 1}, "rendered to 35 characters, the Cloud API allows 30"},
		{"open", "interactive.action.parameters.flow_action_payload.data.count", map[string]any{"order": "A"}, "missing variable count"},
		{"invite", "template.components[1].parameters[0].action.flow_action_data.count", map[string]any{}, "missing variable count"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			n, _ := f.Node(tt.node)
			_, err := n.Render(NewEnv(&Event{From: "1", ContactName: "Ada"}, Context{Vars: tt.vars}))
			var re *RenderError
			if !errors.As(err, &re) || !strings.HasSuffix(re.Path, tt.path) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want a RenderError at %s containing %q", err, tt.path, tt.msg)
			}
		})
	}
}

func TestParseFlowAnswer(t *testing.T) {
	tests := []struct {
		name  string
		ev    func(t *testing.T) Event
		want  string // the answer as JSON
		error string
	}{
		{"form", func(t *testing.T) Event {
			return mustForm(t, `{"flow_token":"tok","name":"Ada","age":36,"tags":["a",1],"ok":true}`)
		}, `{"age":36,"flow_token":"tok","name":"Ada","ok":true,"tags":["a",1]}`, ""},
		{"text", func(*testing.T) Event { return textEv("my form") }, "", "a text message, not a submitted form"},
		{"button", func(*testing.T) Event {
			return Event{Type: "interactive", Button: &whatsapp.ButtonReply{ID: "x"}}
		}, "", "an interactive message, not a submitted form"},
		{"response_json not an object", func(t *testing.T) Event { return mustForm(t, `[1,2]`) }, "", "response_json is not a JSON object"},
		{"no response_json", func(*testing.T) Event {
			return Event{Type: "interactive", Flow: &whatsapp.FlowReply{Name: "flow", Body: "Sent"}}
		}, "", "without response_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ParseAnswer(ExpectFlow, tt.ev(t), nil)
			if tt.error != "" {
				var ae *AnswerError
				if !errors.As(err, &ae) || !strings.Contains(err.Error(), tt.error) {
					t.Fatalf("err = %v, want an AnswerError containing %q", err, tt.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := v.(map[string]any)["age"]; n != nil {
				if _, ok := n.(float64); !ok {
					t.Errorf("age is %T, want float64", n)
				}
			}
			got, _ := json.Marshal(v)
			if string(got) != tt.want {
				t.Errorf("answer = %s, want %s", got, tt.want)
			}
		})
	}
}

func mustForm(t *testing.T, rj string) Event {
	t.Helper()
	ev, err := formEvent(rj)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// The signup example: the form's fields land in vars.form, a typed text or a form with
// another flow_token is invalid, validate reads answer.<field>.
func TestSignupConversation(t *testing.T) {
	c := newChat(t)
	out := c.say("signup")
	c.expect(out, []string{"[Signing up takes a minute: tap the button and fill in the form.]"}, "signup", "ask_form", StateWaiting)
	if c.conv.FlowToken != "signup-4915112345678" {
		t.Errorf("flow token = %q", c.conv.FlowToken)
	}
	fl := out.Replies[0].Message.Interactive.Action.Flow
	if fl == nil || fl.FlowActionPayload.Data["name"] != "" || fl.FlowActionPayload.Screen != "DETAILS" {
		t.Errorf("flow parameters = %+v", fl)
	}

	out = c.say("ada@example.com")
	c.expect(out, []string{"Please fill in the form with your email address, using the button above."}, "signup", "ask_form", StateWaiting)
	if !strings.Contains(out.Invalid, "a text message, not a submitted form") {
		t.Errorf("invalid = %q", out.Invalid)
	}

	out = c.form(`{"flow_token":"signup-4915112345678","name":"Ada","email":"ada@example.com","plan":"plus","age":36}`)
	c.expect(out, []string{"Welcome, Ada! We will write to ada@example.com about the plus plan."}, "", "", "")
	if out.UserUpdates["email"] != "ada@example.com" || out.UserUpdates["plan"] != "plus" {
		t.Errorf("user updates = %v", out.UserUpdates)
	}
}

func TestFlowAnswers(t *testing.T) {
	ask := func(extra string) *Set {
		src := "name: t\nnodes:\n  - id: q\n    type: ask\n    config:\n" +
			"      interactive:\n        type: flow\n        body: {text: Form}\n        action:\n          parameters: {flow_id: \"1\", flow_cta: Open, flow_token: \"f-{{contact.wa_id}}\"}\n" +
			"      save_as: form\n" + extra +
			"    next: done\n  - id: done\n    type: reply\n    config: {message: \"{{vars.form.name}} is {{vars.form.age}}\"}\n" +
			"triggers:\n  - type: text\n    keywords: [go]\n    target: q\n"
		f, probs := Parse("t.ygtc", []byte(src))
		if probs.HasErrors() {
			t.Fatal(dump(probs.All()))
		}
		s, err := newSet([]*Flow{f}, probs)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name    string
		extra   string
		answer  func(t *testing.T) Event
		replies []string
		invalid string
	}{
		{"valid", "", func(t *testing.T) Event { return mustForm(t, `{"flow_token":"f-1","name":"Ada","age":36}`) }, []string{"Ada is 36"}, ""},
		{"no token in the reply", "", func(t *testing.T) Event { return mustForm(t, `{"name":"Ada","age":36}`) }, []string{"Ada is 36"}, ""},
		{"other token", "", func(t *testing.T) Event { return mustForm(t, `{"flow_token":"f-2","name":"Ada","age":36}`) },
			[]string{"Please fill in the form using the button above."}, `a form sent with flow_token "f-2", but this question sent "f-1"`},
		{"text", "", func(*testing.T) Event { return Event{Type: "text", Text: "Ada, 36", From: "1"} },
			[]string{"Please fill in the form using the button above."}, "not a submitted form"},
		{"validate", "      validate: \"answer.age >= 18\"\n", func(t *testing.T) Event { return mustForm(t, `{"flow_token":"f-1","name":"Bo","age":12}`) },
			[]string{"Please fill in the form using the button above."}, "validate (answer.age >= 18) is not true"},
		{"validate on a missing field", "      validate: \"answer.age >= 18\"\n", func(t *testing.T) Event { return mustForm(t, `{"flow_token":"f-1","name":"Bo"}`) },
			[]string{"Please fill in the form using the button above."}, "validate (answer.age >= 18)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ask(tt.extra)
			ctx := Context{To: "1", Now: 1_800_000_000}
			out, err := s.Step(nil, MessageInput(Event{Type: "text", Text: "go", From: "1"}), ctx)
			if err != nil || out.Next == nil {
				t.Fatalf("start: %v %+v", err, out)
			}
			ev := tt.answer(t)
			ev.From = "1"
			out, err = s.Step(out.Next, MessageInput(ev), ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := texts(out); !equal(got, tt.replies) {
				t.Errorf("replies = %q, want %q", got, tt.replies)
			}
			if !strings.Contains(out.Invalid, tt.invalid) || (tt.invalid == "") != (out.Invalid == "") {
				t.Errorf("invalid = %q, want %q", out.Invalid, tt.invalid)
			}
			if tt.invalid != "" && (out.Next == nil || out.Next.FlowToken != "f-1" || out.Next.Retries != 1) {
				t.Errorf("after an invalid answer: %+v", out.Next)
			}
		})
	}
}

// A form answers expect: any too, as the whole message with its form.
func TestAnyAnswerCarriesForm(t *testing.T) {
	v, err := ParseAnswer(ExpectAny, mustForm(t, `{"flow_token":"t","x":1}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(v.(map[string]any)["flow"])
	if got != "map[flow_token:t x:1]" {
		t.Errorf("flow = %s", got)
	}
}

// FuzzFlowAnswer: any response_json a webhook brings gives a form (a map that marshals, with
// no json.Number left) or an AnswerError, never a panic.
func FuzzFlowAnswer(f *testing.F) {
	for _, s := range []string{`{"flow_token":"t","name":"Ada","age":36}`, `[1]`, `"x"`, `{"n":1e400}`, `{"a":{"b":[1,{"c":null}]}}`, ``, `{`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rj string) {
		ev, err := formEvent(rj)
		if err != nil {
			return
		}
		v, err := ParseAnswer(ExpectFlow, ev, nil)
		if err != nil {
			var ae *AnswerError
			if !errors.As(err, &ae) || ae.Msg == "" {
				t.Fatalf("%q: error %v is not an AnswerError with a message", rj, err)
			}
			return
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("%q: answer does not marshal: %v", rj, err)
		}
		if strings.Contains(fmt.Sprintf("%T %#v", v, v), "json.Number") {
			t.Fatalf("%q: json.Number left in %#v", rj, v)
		}
	})
}

// The send API (ParseLiteralReply) takes Flow messages and FLOW buttons as written: "{{"
// stays two braces, in the token and in the data.
func TestLiteralFlowReply(t *testing.T) {
	v := metaschema.Require(t)
	bodies := []string{
		`{"to": "4915100000001", "interactive": {"type": "flow", "body": {"text": "Form {{x}}"}, "action": {"name": "flow", "parameters": {"flow_id": "1", "flow_cta": "Open", "flow_token": "t-{{x}}", "flow_action_payload": {"screen": "A", "data": {"k": "{{x}}", "n": 2}}}}}}`,
		`{"to": "4915100000001", "template": {"name": "invite", "language": "en", "components": [{"type": "button", "sub_type": "flow", "index": 0, "parameters": [{"type": "action", "action": {"flow_token": "{{x}}", "flow_action_data": {"k": "{{x}}"}}}]}]}}`,
	}
	for i, b := range bodies {
		node, probs := ParseLiteralReply("body", []byte(b), "to")
		if node == nil {
			t.Fatalf("%d: %v", i, probs.All())
		}
		m, err := node.Render(NewEnv(nil, Context{}))
		if err != nil {
			t.Fatal(err)
		}
		m.To = "4915100000001"
		body, _ := json.Marshal(m)
		if err := v.ValidateMessage(body); err != nil {
			t.Errorf("%d: Meta schema: %v\n%s", i, err, body)
		}
		if strings.Count(string(body), "{{x}}") < 2 {
			t.Errorf("%d: braces not kept: %s", i, body)
		}
	}
	_, probs := ParseLiteralReply("body", []byte(`{"interactive": {"type": "flow", "body": {"text": "F"}, "action": {"parameters": {"flow_cta": "Open"}}}}`))
	if errs := probs.Errors(); len(errs) != 1 || errs[0].Path != "interactive.action.parameters.flow_id" || errs[0].Line != 1 || errs[0].Col != 82 {
		t.Errorf("problems = %v, want one at interactive.action.parameters.flow_id 1:82", errs)
	}
}

// A form that comes back with no question waiting (a template's FLOW button sent by a
// campaign) goes to the triggers: interactive reply_type flow, id = its flow_token; the
// reply reads the fields as message.form.
func TestFlowReplyTriggers(t *testing.T) {
	src := `name: t
nodes:
  - id: campaign
    type: reply
    config: {message: "Thanks {{message.form.name}}, see you on {{message.form.date}}."}
  - id: other_form
    type: branch
    config:
      conditions:
        - expression: "(message.form.rating ?? 0) >= 4"
          next: happy
      default: sorry
  - id: happy
    type: reply
    config: {message: "Glad you liked it."}
  - id: sorry
    type: reply
    config: {message: "Sorry to hear that."}
  - id: text
    type: reply
    config: {message: "form: {{len(message.form)}}"}
triggers:
  - type: interactive
    reply_type: flow
    id: campaign-1
    target: campaign
  - type: interactive
    reply_type: flow
    target: other_form
  - type: text
    target: text
`
	f, probs := Parse("t.ygtc", []byte(src))
	if len(probs.All()) > 0 {
		t.Fatal(dump(probs.All()))
	}
	s, err := newSet([]*Flow{f}, probs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ev   func(t *testing.T) Event
		want string
	}{
		{"by token", func(t *testing.T) Event {
			return mustForm(t, `{"flow_token":"campaign-1","name":"Ada","date":"2027-03-01"}`)
		}, "Thanks Ada, see you on 2027-03-01."},
		{"any form, number field", func(t *testing.T) Event { return mustForm(t, `{"flow_token":"survey","rating":5}`) }, "Glad you liked it."},
		{"any form, missing field", func(t *testing.T) Event { return mustForm(t, `{"flow_token":"survey"}`) }, "Sorry to hear that."},
		{"not a form", func(*testing.T) Event { return textEv("hi") }, "form: 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			replies, err := s.Handle(tt.ev(t), Context{To: "1"})
			if err != nil {
				t.Fatal(err)
			}
			if len(replies) != 1 || replies[0].Message.Text == nil || replies[0].Message.Text.Body != tt.want {
				t.Fatalf("replies = %+v, want %q", replies, tt.want)
			}
		})
	}
}
