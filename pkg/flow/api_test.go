package flow

import (
	"strings"
	"testing"
)

func TestParseReply(t *testing.T) {
	tests := []struct {
		name, body string
		wantType   string
		path, msg  string
		line, col  int
	}{
		{"text with envelope keys", `{"to": "+4915100000001", "vars": {"a": 1}, "message": "hi {{a}}"}`, "text", "", "", 0, 0},
		{"template", `{"template": {"name": "order_confirmation", "language": "en"}, "retry_on_rate_limit": true}`, "template", "", "", 0, 0},
		{"unknown key", "{\"message\": \"hi\",\n \"previw_url\": true}", "", "previw_url", "did you mean preview_url", 2, 2},
		{"missing kind", `{"to": "+49"}`, "", "", "a reply needs one of", 1, 1},
		{"not an object", `[1, 2]`, "", "", "a reply config", 1, 1},
		{"invalid JSON", `{"message": `, "", "", "invalid JSON", 0, 0},
		{"empty", ``, "", "", "empty body", 1, 1},
		{"next", `{"message": "hi", "next": "b"}`, "", "next", "only applies inside a flow", 1, 27},
		{"bad link", `{"media": {"type": "image", "link": "ftp://x"}}`, "", "media.link", "bad link", 1, 37},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node, probs := ParseReply("body", []byte(tt.body), "to", "vars")
			if tt.msg == "" {
				if node == nil {
					t.Fatalf("problems: %v", probs.All())
				}
				m := node.Message()
				if m == nil || m.Type != tt.wantType {
					t.Fatalf("message = %+v, want type %s", m, tt.wantType)
				}
				return
			}
			if node != nil {
				t.Fatalf("parsed, want a problem containing %q", tt.msg)
			}
			for _, p := range probs.Errors() {
				if p.Path == tt.path && strings.Contains(p.Msg, tt.msg) {
					if tt.line != 0 && (p.Line != tt.line || p.Col != tt.col) {
						t.Fatalf("problem at %d:%d, want %d:%d", p.Line, p.Col, tt.line, tt.col)
					}
					if p.File != "body" {
						t.Fatalf("problem file %q", p.File)
					}
					return
				}
			}
			t.Fatalf("no problem at %q containing %q in %v", tt.path, tt.msg, probs.All())
		})
	}
}

func TestParseReplyRendersVars(t *testing.T) {
	node, probs := ParseReply("body", []byte(`{"to": "x", "message": "order {{order_id}}"}`), "to")
	if node == nil {
		t.Fatal(probs.All())
	}
	m, err := node.Render(NewEnv(nil, Context{Vars: map[string]any{"order_id": "A-1"}}))
	if err != nil || m.Text == nil || m.Text.Body != "order A-1" {
		t.Fatalf("rendered %+v, %v", m, err)
	}
}

func FuzzParseReply(f *testing.F) {
	for _, s := range []string{`{"message": "hi"}`, `{"to": "+1", "template": {"name": "a", "language": "en"}}`,
		`{"interactive": {"type": "button", "body": "x", "buttons": [{"id": "a", "title": "A"}]}}`, `[`, `{"media": {}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		node, probs := ParseReply("body", []byte(body), "to", "vars")
		if (node == nil) != probs.HasErrors() {
			t.Fatalf("node %v but errors %v", node != nil, probs.Errors())
		}
		if node != nil {
			if _, err := node.Render(NewEnv(nil, Context{})); err != nil && !strings.Contains(err.Error(), "node request") {
				t.Fatalf("render error without the node: %v", err)
			}
		}
	})
}
