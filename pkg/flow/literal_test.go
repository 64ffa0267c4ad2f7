package flow

import (
	"strings"
	"testing"
)

func TestParseLiteralReply(t *testing.T) {
	tests := []struct {
		name, body string
		get        func(m *Node) string
		want       string
	}{
		{"expression", `{"message": "hi {{repeat('x', 9)}}"}`, textOf, "hi {{repeat('x', 9)}}"},
		{"unclosed", `{"message": "a {{ b"}`, textOf, "a {{ b"},
		{"template parameter", `{"template": {"name": "t{{x}}", "language": "en", "components": [{"type": "body", "parameters": [{"type": "text", "text": "{{order_id}}"}]}]}}`,
			func(n *Node) string { return n.Message().Template.Components[0].Parameters[0].Text }, "{{order_id}}"},
		{"button id", `{"interactive": {"type": "button", "body": {"text": "b"}, "action": {"buttons": [{"type": "reply", "reply": {"id": "{{a}}", "title": "{{t}}"}}]}}}`,
			func(n *Node) string { return n.Message().Interactive.Action.Buttons[0].Reply.Title }, "{{t}}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node, probs := ParseLiteralReply("body", []byte(tt.body), "to")
			if node == nil {
				t.Fatalf("problems: %v", probs.All())
			}
			if got := tt.get(node); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if len(node.fields) != 0 {
				t.Fatalf("%d fields to render, want none", len(node.fields))
			}
		})
	}
	t.Run("limits still apply", func(t *testing.T) {
		node, probs := ParseLiteralReply("body", []byte(`{"message": "`+strings.Repeat("{", 4097)+`"}`))
		if node != nil || !strings.Contains(probs.Err().Error(), "4096") {
			t.Fatalf("node %v, problems %v: want the 4096 limit", node, probs)
		}
	})
	t.Run("reaction needs its message id", func(t *testing.T) {
		node, probs := ParseLiteralReply("body", []byte(`{"reaction": {"emoji": "👍"}}`))
		if node != nil || !strings.Contains(probs.Err().Error(), "message_id") {
			t.Fatalf("node %v, problems %v: want message_id missing", node, probs)
		}
	})
}

func textOf(n *Node) string { return n.Message().Text.Body }
