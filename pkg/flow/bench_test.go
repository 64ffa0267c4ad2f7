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
