package flow

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/flow/starter"
	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// FuzzParse: any input gives a flow or problems, never a panic, and every problem has a
// position inside the file or none.
func FuzzParse(f *testing.F) {
	names, _ := fs.Glob(starter.FS, "*.ygtc")
	for _, n := range names {
		data, _ := fs.ReadFile(starter.FS, n)
		f.Add(data)
	}
	convs, _ := filepath.Glob("../../testdata/flows/conversations/*.ygtc")
	for _, n := range convs {
		data, _ := os.ReadFile(n)
		f.Add(data)
	}
	f.Add([]byte("name: t\nnodes:\n  - {id: a, type: reply, config: {message: \"{{x\"}}}\n"))
	f.Add([]byte("name: &a t\nnodes: *a\n"))
	f.Add([]byte("name: t\nnodes:\n  - id: a\n    type: reply\n    config:\n      template:\n        name: x\n        language: en\n        components: [{type: button, sub_type: flow, index: 0, parameters: [{type: action, action: {flow_token: \"{{vars.t}}\", flow_action_data: {a: [&x {b: \"{{contact.name}}\"}, *x]}}}]}]\n"))
	f.Add([]byte("name: t\nnodes:\n  - id: q\n    type: ask\n    config:\n      interactive: {type: flow, body: {text: F}, action: {parameters: {flow_name: f, flow_cta: \"Go\", flow_action_payload: {screen: S, data: {n: \"{{vars.n}}\"}}}}}\n      save_as: form\n      validate: \"answer.n > 1\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, probs := Parse("f.ygtc", data)
		lines := 1
		for _, b := range data {
			if b == '\n' {
				lines++
			}
		}
		for _, p := range probs.All() {
			if p.Line < 0 || p.Line > lines+1 || p.Msg == "" {
				t.Fatalf("bad problem %+v for %q", p, data)
			}
		}
		if fl == nil {
			return
		}
		if probs.HasErrors() {
			// Never run in production, but the engine must not panic on it either.
			s, _ := newSet([]*Flow{fl}, &problem.List{})
			_, _ = s.Step(nil, StartInput(fl.Name, "", nil), Context{To: "1"})
			_, _ = s.Step(nil, MessageInput(Event{Type: "text", Text: "hi"}), Context{To: "1"})
			return
		}
		// A valid flow runs without panicking.
		s, _ := newSet([]*Flow{fl}, probs)
		_, _ = s.Start(fl.Name, "", Context{To: "1"})
	})
}

// FuzzCondition: compiling any expression either fails with a message or gives a program
// that evaluates to a bool.
func FuzzCondition(f *testing.F) {
	for _, s := range []string{"button.id == 'help'", "last_message_time + 86400 > now", "vars.x in [1, 2]", "len(message.text) > 3 && contact.name != ''", "((", "now"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		prog, err := compileCondition(src)
		if err != nil {
			if _, msg := exprErrorOffset(err); msg == "" {
				t.Fatalf("empty error message for %q", src)
			}
			return
		}
		n := &Node{ID: "b", Conditions: []*Condition{{Expression: src, Next: "x", prog: prog}}}
		_, _ = n.Choose(NewEnv(&Event{Type: "text", Text: "hi"}, Context{Now: 1}))
	})
}

// FuzzTemplate: any string either compiles with errors inside the string or renders.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"{{order_id}}", "Hi {{contact.name}}!", "{{ upper(vars.x) }} {{", "}}{{}}", "{{ now + 1 }}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp, errs := parseTemplate(s)
		for _, e := range errs {
			if e.off < 0 || e.off > len(s) {
				t.Fatalf("error offset %d outside %q", e.off, s)
			}
		}
		if tp == nil || len(errs) > 0 {
			return
		}
		_, _ = tp.render(NewEnv(nil, Context{Vars: map[string]any{"x": "y", "order_id": 1}}))
	})
}

// FuzzStep: any sequence of texts, taps, timeouts and results through the example
// conversations gives an outcome or an error, never a panic, and a state that round-trips.
func FuzzStep(f *testing.F) {
	f.Add("status|A-1234|#200|menu|~")
	f.Add("help|Where?|#500|!|hello|feedback|@good|skip")
	f.Add("profile|a@b.c|+4915123456789|01.01.2000|1,5|3|~|~")
	f.Add(`signup|hi|/{"flow_token":"signup-4915112345678","name":"Ada","email":"a@b.c","plan":"plus"}`)
	f.Add(`join|/{"flow_token":"x"}|/[1]|/{"email":7,"name":{"a":[1,2]}}|~`)
	s := convSet(f)
	f.Fuzz(func(t *testing.T, script string) {
		var conv *Conversation
		now := int64(1_800_000_000)
		for i, in := range strings.Split(script, "|") {
			if i > 20 {
				break
			}
			var input Input
			switch {
			case strings.HasPrefix(in, "#"):
				code, _ := strconv.Atoi(in[1:])
				input = ResultInput(0, CallResult{Status: code, Body: map[string]any{"status": in}, Text: in})
			case in == "~":
				if conv != nil {
					now = conv.Deadline
				}
				input = TimeoutInput(0)
			case in == "!":
				input = ReleaseInput("", "")
			case strings.HasPrefix(in, "@"):
				input = MessageInput(Event{Type: "interactive", Button: &whatsapp.ButtonReply{ID: in[1:], Title: in[1:]}})
			case strings.HasPrefix(in, "/"):
				ev, err := formEvent(in[1:])
				if err != nil {
					continue
				}
				input = MessageInput(ev)
			default:
				input = MessageInput(textEv(in))
			}
			out, err := s.Step(conv, input, Context{To: "1", Now: now, Secret: func(string) (string, bool) { return "x", true }})
			if err != nil {
				continue
			}
			conv = nil
			if out.Next != nil {
				data, err := json.Marshal(out.Next)
				if err != nil {
					t.Fatalf("state does not marshal: %v", err)
				}
				if err := json.Unmarshal(data, &conv); err != nil {
					t.Fatal(err)
				}
			}
			now += 60
		}
	})
}
