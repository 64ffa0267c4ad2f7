package flow

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/problem"
)

// want is one expected problem: its position and a piece of its message.
type want struct {
	line, col int
	msg       string
}

func problemsOf(t *testing.T, src string) []problem.Problem {
	t.Helper()
	_, probs := Parse("t.ygtc", []byte(src))
	return probs.All()
}

func checkProblems(t *testing.T, got []problem.Problem, wants []want, warning bool) {
	t.Helper()
	var errs []problem.Problem
	for _, p := range got {
		if (p.Severity == problem.SeverityWarning) == warning {
			errs = append(errs, p)
		}
	}
	if len(errs) != len(wants) {
		t.Fatalf("got %d problems, want %d:\n%s", len(errs), len(wants), dump(got))
	}
	for i, w := range wants {
		p := errs[i]
		if p.Line != w.line || p.Col != w.col || !strings.Contains(p.Msg, w.msg) {
			t.Errorf("problem %d = %d:%d %q, want %d:%d containing %q", i, p.Line, p.Col, p.Msg, w.line, w.col, w.msg)
		}
		if p.File != "t.ygtc" {
			t.Errorf("problem %d has file %q", i, p.File)
		}
	}
}

func dump(ps []problem.Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	return b.String()
}

// reply wraps one reply config (indented 6 spaces) into a flow; the config starts on line 6.
func reply(cfg string) string {
	return "name: t\nnodes:\n  - id: r\n    type: reply\n    config:\n" + cfg + "triggers:\n  - type: message\n    target: r\n"
}

func TestValidationErrors(t *testing.T) {
	long := strings.Repeat("x", 4097)
	tests := []struct {
		name  string
		src   string
		wants []want
	}{
		{"invalid yaml", "name: [", []want{{1, 0, "invalid YAML"}}},
		{"not a mapping", "- a\n", []want{{1, 1, "a flow must be a mapping"}}},
		{"unknown top key", "name: t\nnodez: []\n", []want{{1, 1, "missing nodes"}, {2, 1, "unknown key nodez, did you mean nodes?"}}},
		{"missing name", "nodes:\n  - id: r\n    type: reply\n    config: {message: hi}\n", []want{{1, 1, "missing name"}}},
		{"unknown node key", "name: t\nnodes:\n  - id: r\n    typ: reply\n", []want{{3, 5, "missing type"}, {4, 5, "unknown key typ, did you mean type?"}}},
		{"unknown node type", "name: t\nnodes:\n  - id: r\n    type: replay\n    config: {}\n", []want{{4, 11, "unknown node type replay"}}},
		{"duplicate node id", "name: t\nnodes:\n  - id: r\n    type: reply\n    config: {message: a}\n    next: r2\n  - id: r\n    type: reply\n    config: {message: b}\n  - id: r2\n    type: reply\n    config: {message: c}\n",
			[]want{{7, 9, "duplicate node id r (first at line 3)"}}},
		{"dangling next", reply("      message: hi\n      next: ask\n"), []want{{7, 13, "next ask points to no node"}}},
		{"dangling target", "name: t\nnodes:\n  - id: reply\n    type: reply\n    config: {message: hi}\ntriggers:\n  - type: text\n    target: replyy\n", []want{{8, 13, "target replyy points to no node, did you mean reply?"}}},
		{"dangling default", "name: t\nnodes:\n  - id: b\n    type: branch\n    config:\n      conditions:\n        - expression: \"now > 0\"\n          next: r\n      default: nowhere\n  - id: r\n    type: reply\n    config: {message: hi}\n",
			[]want{{9, 16, "default nowhere points to no node"}}},
		{"unreachable node", "name: t\nnodes:\n  - id: a\n    type: reply\n    config: {message: a}\n  - id: b\n    type: reply\n    config: {message: b}\n", []want{{6, 9, "node b is unreachable"}}},
		{"branch cycle without reply", "name: t\nnodes:\n  - id: a\n    type: branch\n    config:\n      conditions:\n        - expression: \"now > 0\"\n          next: b\n  - id: b\n    type: branch\n    config:\n      default: a\n",
			[]want{{3, 9, "branch a never reaches a reply"}, {9, 9, "branch b never reaches a reply"}}},
		{"reply loop", "name: t\nnodes:\n  - id: a\n    type: reply\n    config: {message: a}\n    next: b\n  - id: b\n    type: reply\n    config: {message: b}\n    next: a\n",
			[]want{{3, 9, "loop a -> b -> a"}}},
		{"empty message", reply("      message: \"  \"\n"), []want{{6, 16, "empty message"}}},
		{"text too long", reply("      message: " + long + "\n"), []want{{6, 16, "message is 4097 characters, the Cloud API allows 4096"}}},
		{"two kinds", reply("      message: hi\n      location: {latitude: 1, longitude: 2}\n"), []want{{7, 7, "both message and location"}}},
		{"no kind", reply("      retry_on_rate_limit: true\n"), []want{{6, 7, "a reply needs one of message"}}},
		{"unknown reply key", reply("      mesage: hi\n"), []want{{6, 7, "a reply needs one of"}, {6, 7, "unknown key mesage, did you mean message?"}}},
		{"retry not bool", reply("      message: hi\n      retry_on_rate_limit: yes please\n"), []want{{7, 28, "retry_on_rate_limit must be true or false"}}},
		{"four buttons", reply(`      interactive:
        type: button
        body: {text: pick}
        action:
          buttons:
            - {type: reply, reply: {id: a, title: A}}
            - {type: reply, reply: {id: b, title: B}}
            - {type: reply, reply: {id: a, title: C}}
            - {type: reply, reply: {id: d, title: This title is far too long}}
`), []want{{11, 13, "4 buttons: the Cloud API allows 1 to 3"}, {13, 41, "duplicate id a (first at line 11)"}, {14, 51, "title is 26 characters, the Cloud API allows 20"}}},
		{"button body missing", reply("      interactive:\n        type: button\n        action:\n          buttons:\n            - {type: reply, reply: {id: a, title: A}}\n"),
			[]want{{7, 9, "missing body"}}},
		{"list limits", reply(`      interactive:
        type: list
        body: {text: pick}
        action:
          button: A button text that is too long
          sections:
            - title: One
              rows:
                - {id: r1, title: R1, description: ` + strings.Repeat("d", 73) + `}
                - {id: r2, title: A row title that is too long}
                - {id: r3, title: R3}
                - {id: r4, title: R4}
                - {id: r5, title: R5}
                - {id: r6, title: R6}
            - title: Two
              rows:
                - {id: r7, title: R7}
                - {id: r8, title: R8}
                - {id: r9, title: R9}
                - {id: r10, title: R10}
                - {id: r1, title: R11}
`), []want{{10, 19, "button is 30 characters, the Cloud API allows 20"}, {14, 52, "description is 73 characters, the Cloud API allows 72"}, {15, 35, "title is 28 characters, the Cloud API allows 24"}, {26, 19, "more than 10 rows"}, {26, 24, "duplicate id r1 (first at line 14)"}}},
		{"list section without title", reply("      interactive:\n        type: list\n        body: {text: pick}\n        action:\n          button: Go\n          sections:\n            - rows: [{id: a, title: A}]\n            - title: B\n              rows: [{id: b, title: B}]\n"),
			[]want{{12, 15, "missing title"}}},
		{"bad media link", reply("      media:\n        type: image\n        link: /product.jpg\n"), []want{{8, 15, "bad link \"/product.jpg\": use an absolute http(s) URL"}}},
		{"bad media type", reply("      media:\n        type: picture\n        link: https://example.com/a.jpg\n"), []want{{7, 15, "unknown media type picture"}}},
		{"media without link", reply("      media:\n        type: image\n        caption: hi\n"), []want{{7, 9, "image needs a link"}}},
		{"filename on image", reply("      media:\n        type: image\n        link: https://example.com/a.jpg\n        filename: a.jpg\n"), []want{{9, 9, "only documents have a filename"}}},
		{"bad coordinates", reply("      location: {latitude: 91, longitude: -181}\n"), []want{{6, 28, "latitude 91 is out of range"}, {6, 43, "longitude -181 is out of range"}}},
		{"coordinate not a number", reply("      location: {latitude: north, longitude: 1}\n"), []want{{6, 28, "latitude must be a number"}}},
		{"template without language", reply("      template:\n        name: follow_up\n"), []want{{7, 9, "missing language"}}},
		{"template bad index", reply("      template:\n        name: t\n        language: en\n        components:\n          - type: button\n            sub_type: quick_reply\n            index: 12\n            parameters: [{type: payload, payload: x}]\n"),
			[]want{{12, 20, "index must be a number from 0 to 9"}}},
		{"template wrong parameter", reply("      template:\n        name: t\n        language: en\n        components:\n          - type: body\n            parameters:\n              - type: image\n                image: {link: \"https://example.com/a.png\"}\n"),
			[]want{{12, 23, "a image parameter cannot go here: use text or currency or date_time"}}},
		{"unknown trigger type", "name: t\nnodes:\n  - id: r\n    type: reply\n    config: {message: hi}\ntriggers:\n  - type: txt\n    target: r\n", []want{{7, 11, "unknown trigger type txt"}}},
		{"trigger key for other type", "name: t\nnodes:\n  - id: r\n    type: reply\n    config: {message: hi}\ntriggers:\n  - type: location\n    keywords: [hi]\n    target: r\n", []want{{8, 5, "keywords does not apply to a location trigger"}}},
		{"bad regex", "name: t\nnodes:\n  - id: r\n    type: reply\n    config: {message: hi}\ntriggers:\n  - type: text\n    regex: \"(\"\n    target: r\n", []want{{8, 12, "invalid regex"}}},
		{"bad reply_type", "name: t\nnodes:\n  - id: r\n    type: reply\n    config: {message: hi}\ntriggers:\n  - type: interactive\n    reply_type: buttons\n    target: r\n", []want{{8, 17, "reply_type must be button, list or flow"}}},
		{"condition unknown name", "name: t\nnodes:\n  - id: b\n    type: branch\n    config:\n      conditions:\n        - expression: \"buton.id == 'help'\"\n          next: r\n  - id: r\n    type: reply\n    config: {message: hi}\n",
			[]want{{7, 24, "unknown name buton"}}},
		{"condition not bool", "name: t\nnodes:\n  - id: b\n    type: branch\n    config:\n      conditions:\n        - expression: button.id\n          next: r\n  - id: r\n    type: reply\n    config: {message: hi}\n",
			[]want{{7, 23, "a condition must be true or false"}}},
		{"condition syntax", "name: t\nnodes:\n  - id: b\n    type: branch\n    config:\n      conditions:\n        - expression: \"now > > 1\"\n          next: r\n  - id: r\n    type: reply\n    config: {message: hi}\n",
			[]want{{7, 30, "unexpected token"}}},
		{"template unknown member", reply("      message: \"Hi {{contact.nam}}\"\n"), []want{{6, 30, "contact has no field nam"}}},
		{"template error after an escape", reply("      message: \"\\u00e9\\t{{contact.nam}}\"\n"), []want{{6, 35, "contact has no field nam"}}},
		{"template error in single quotes", reply("      message: 'it''s {{contact.nam}}'\n"), []want{{6, 33, "contact has no field nam"}}},
		{"template error in a literal block", reply("      message: |\n        Hello\n          {{contact.nam}}\n"), []want{{8, 21, "contact has no field nam"}}},
		{"template error in a plain string", reply("      message: Hi {{contact.nam}}\n"), []want{{6, 29, "contact has no field nam"}}},
		{"expression in a fixed field", reply("      template:\n        name: \"{{vars.t}}\"\n        language: en\n"), []want{{7, 15, "name cannot use {{ }}"}}},
		{"missing parameter text", reply("      template:\n        name: t\n        language: en\n        components:\n          - type: body\n            parameters:\n              - type: text\n"), []want{{12, 17, "missing text"}}},
		{"missing button title", reply("      interactive:\n        type: button\n        body: {text: pick}\n        action:\n          buttons:\n            - type: reply\n              reply: {id: a}\n"), []want{{12, 22, "missing title"}}},
		{"list with an image header", reply("      interactive:\n        type: list\n        header: {type: image, image: {link: \"https://example.com/a.png\"}}\n        body: {text: pick}\n        action:\n          button: Go\n          sections:\n            - rows: [{id: a, title: A}]\n"), []want{{8, 17, "a list's header can only be text"}}},
		{"template unclosed", reply("      message: \"Hi {{name\"\n"), []want{{6, 20, "unclosed {{"}}},
		{"branch with next", "name: t\nnodes:\n  - id: b\n    type: branch\n    next: r\n    config: {default: r}\n  - id: r\n    type: reply\n    config: {message: hi}\n",
			[]want{{5, 11, "a branch goes on through its conditions and default, not next"}}},
		{"duplicate key", reply("      message: a\n      message: b\n"), []want{{7, 7, "duplicate key message"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, problemsOf(t, tt.src), tt.wants, false)
		})
	}
}

func TestAmbiguousTriggers(t *testing.T) {
	src := `name: t
nodes:
  - id: r
    type: reply
    config: {message: hi}
triggers:
  - type: text
    target: r
  - type: text
    target: r
  - type: text
    keywords: [Help, menu]
    target: r
  - type: text
    keywords: [help]
    target: r
  - type: interactive
    reply_type: button
    id: a
    target: r
  - type: interactive
    id: a
    target: r
  - type: interactive
    reply_type: list
    target: r
`
	_, probs, err := CheckFiles([]string{writeFlow(t, t.TempDir(), "t.ygtc", src)})
	if err != nil {
		t.Fatal(err)
	}
	got := probs.All()
	for i := range got {
		got[i].File = filepath.Base(got[i].File)
	}
	checkProblems(t, got, []want{
		{9, 11, "any text is already matched by the trigger at line 7"},
		{14, 11, "text keyword help is already matched by the trigger at line 11"},
		{21, 11, "interactive any reply a is already matched by the trigger at line 17"},
	}, true)
	checkProblems(t, got, nil, false)
}

// Two files with the same flow name, and a trigger that repeats one in another file.
func TestSetProblemsAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	a := writeFlow(t, dir, "a.ygtc", "name: same\nnodes:\n  - id: r\n    type: reply\n    config: {message: a}\ntriggers:\n  - type: location\n    target: r\n")
	b := writeFlow(t, dir, "b.ygtc", "name: other\nnodes:\n  - id: r\n    type: reply\n    config: {message: b}\ntriggers:\n  - type: location\n    target: r\n")
	c := writeFlow(t, dir, "c.ygtc", "name: same\nnodes:\n  - id: r\n    type: reply\n    config: {message: c}\n")
	_, probs, err := CheckFiles([]string{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	errs, warns := probs.Errors(), probs.Warnings()
	if len(errs) != 1 || errs[0].File != c || errs[0].Line != 1 || !strings.Contains(errs[0].Msg, "flow name same is already used by "+a) {
		t.Errorf("errors = %v", errs)
	}
	if len(warns) != 1 || warns[0].File != b || warns[0].Line != 7 || !strings.Contains(warns[0].Msg, a+":7 (flow same)") {
		t.Errorf("warnings = %v", warns)
	}
	if _, err := LoadDir(dir); err == nil {
		t.Error("LoadDir accepted a duplicate flow name")
	} else if pe, ok := problem.As(err); !ok || len(pe.Problems) != 2 {
		t.Errorf("LoadDir error = %v, want a *problem.Error with the error and the warning", err)
	}
}
