package delivery

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

func TestRefusal(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	text := &whatsapp.Message{Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: "hi"}}
	tmpl := &whatsapp.Message{Type: whatsapp.TypeTemplate, Template: &whatsapp.Template{Name: "t"}}
	open := &store.Contact{LastInboundAt: now.Add(-time.Hour)}
	closed := &store.Contact{LastInboundAt: now.Add(-25 * time.Hour)}
	never := &store.Contact{}
	tests := []struct {
		name     string
		c        *store.Contact
		optedOut bool
		origin   string
		msg      *whatsapp.Message
		want     string
	}{
		{"text in the window", open, false, store.OriginFlow, text, ""},
		{"text after the window", closed, false, store.OriginSend, text, ReasonWindowClosed},
		{"text to who never wrote", never, false, store.OriginAPI, text, ReasonWindowClosed},
		{"template after the window", closed, false, store.OriginSend, tmpl, ""},
		{"opted out, in the window", open, true, store.OriginFlow, text, ReasonOptedOut},
		{"opted out, template", closed, true, store.OriginAPI, tmpl, ReasonOptedOut},
		{"opt-out confirmation", open, true, store.OriginOptOut, text, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Refusal(tt.c, tt.optedOut, tt.origin, tt.msg, now); got != tt.want {
				t.Errorf("Refusal = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderErrorPath(t *testing.T) {
	tests := []struct {
		name      string
		in        error
		path, msg string
	}{
		{"typed", &flow.RenderError{Node: "request", Path: "message", Msg: "rendered empty: set the variables it uses"},
			"message", "message: rendered empty: set the variables it uses"},
		{"typed and wrapped", fmt.Errorf("start: %w", &flow.RenderError{Node: "request", Path: "template.name", Msg: "missing variable x"}),
			"template.name", "template.name: missing variable x"},
		// An untyped error is never read for a path, whatever its text looks like.
		{"untyped", errors.New("node request: message: rendered empty"), "", "node request: message: rendered empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRenderError(tt.in)
			if e.Path != tt.path || e.Msg != tt.msg {
				t.Errorf("path %q msg %q, want %q %q", e.Path, e.Msg, tt.path, tt.msg)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	rows := []*store.Outbound{{ID: 1, State: store.OutSent}, {ID: 2, State: store.OutRefused, ErrorClass: ReasonOptedOut}}
	var r *RefusedError
	if err := Refused(rows); !errors.As(err, &r) || r.ID != 2 || r.Reason != ReasonOptedOut {
		t.Fatalf("Refused = %v, want the opted_out refusal of row 2", err)
	}
	if err := Refused(rows[:1]); err != nil {
		t.Fatalf("Refused of sent rows = %v", err)
	}
}
