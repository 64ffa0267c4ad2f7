package flow

import (
	"io/fs"
	"testing"

	"github.com/greentic/gtc/pkg/flow/starter"
)

// FuzzParse: any input gives a flow or problems, never a panic, and every problem has a
// position inside the file or none.
func FuzzParse(f *testing.F) {
	names, _ := fs.Glob(starter.FS, "*.ygtc")
	for _, n := range names {
		data, _ := fs.ReadFile(starter.FS, n)
		f.Add(data)
	}
	f.Add([]byte("name: t\nnodes:\n  - {id: a, type: reply, config: {message: \"{{x\"}}}\n"))
	f.Add([]byte("name: &a t\nnodes: *a\n"))
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
		if fl == nil || probs.HasErrors() {
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
