package flow

import (
	"testing"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// BenchmarkBranch evaluates the seed's route_button branch.
func BenchmarkBranch(b *testing.B) {
	s := seedSet(b)
	f, _ := s.Flow("handle_button")
	n, _ := f.Node("route_button")
	env := NewEnv(&Event{Type: "interactive", Button: &whatsapp.ButtonReply{ID: "human"}}, Context{To: "1"})
	b.ReportAllocs()
	for b.Loop() {
		if next, err := n.Choose(env); err != nil || next != "escalate" {
			b.Fatal(next, err)
		}
	}
}

// BenchmarkRender renders the seed's appointment_reminder template with its variables.
func BenchmarkRender(b *testing.B) {
	s := seedSet(b)
	f, _ := s.Flow("appointment_reminder")
	n, _ := f.Node("send_notification")
	env := NewEnv(nil, Context{To: "1", Vars: seedVars})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Render(env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandle matches a trigger and runs the greeting flow end to end.
func BenchmarkHandle(b *testing.B) {
	s := seedSet(b)
	ev := Event{Type: "text", Text: "hello", From: "1"}
	b.ReportAllocs()
	for b.Loop() {
		if r, err := s.Handle(ev, Context{To: "1"}); err != nil || len(r) != 2 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkStepAnswer is one conversation step without storage: the waiting "Check Status"
// question takes a valid order number (parse, pattern, validate, save), runs a set node and
// renders the http call.
func BenchmarkStepAnswer(b *testing.B) {
	s := convSet(b)
	c := Context{To: "4915112345678", Now: 1_800_000_000, Secret: func(string) (string, bool) { return "tok", true }}
	start, err := s.Step(nil, MessageInput(textEv("status")), c)
	if err != nil || start.Next == nil {
		b.Fatal(start, err)
	}
	in := MessageInput(textEv("A-1234"))
	b.ReportAllocs()
	for b.Loop() {
		out, err := s.Step(start.Next, in, c)
		if err != nil || out.Call == nil {
			b.Fatal(out, err)
		}
	}
}

// BenchmarkStepRetry is an invalid answer: the retry message and the conversation waiting
// again.
func BenchmarkStepRetry(b *testing.B) {
	s := convSet(b)
	c := Context{To: "4915112345678", Now: 1_800_000_000}
	start, err := s.Step(nil, MessageInput(textEv("status")), c)
	if err != nil {
		b.Fatal(err)
	}
	in := MessageInput(textEv("no idea"))
	b.ReportAllocs()
	for b.Loop() {
		out, err := s.Step(start.Next, in, c)
		if err != nil || len(out.Replies) != 1 {
			b.Fatal(out, err)
		}
	}
}
