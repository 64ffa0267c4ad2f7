package flow

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestExpressionBudget runs expressions that try to use unbounded memory or time: each
// must fail fast with a *BudgetError naming its limit, allocating little.
func TestExpressionBudget(t *testing.T) {
	text := strings.Repeat("a", 4096) // the longest text a customer can send
	tests := []struct {
		name, src, limit string
	}{
		{"replace of repeat (the 844 MB report)", `replace(repeat('x', 60000), 'x', repeat('y', 1000))`, "string"},
		{"repeat of repeat", `repeat(repeat('x', 60000), 60000)`, "string"},
		{"huge count", `repeat('ab', 9223372036854775807)`, "string"},
		{"repeat through a pipe", `'xy' | repeat(40000)`, "string"},
		{"join", `join(map(1..1000, repeat('x', 1000)), '')`, "string"},
		{"concatenation", `repeat('x', 40000) + repeat('y', 40000)`, "string"},
		{"concatenation in a loop", `reduce(1..1000, #acc + message.text, '')`, "string"},
		{"text work in a loop", `len(map(1..5000, upper(message.text)))`, "work"},
		{"too many items", `len(map(1..200000, #))`, "items"},
		{"nested loops", `len(map(1..1000, map(1..1000, #)))`, "items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm, errs := parseTemplate("{{" + tt.src + "}}")
			if len(errs) > 0 {
				t.Fatalf("compile: %v", errs)
			}
			env := &Env{Message: MessageEnv{Text: text}}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := tm.render(env)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			var be *BudgetError
			if !errors.As(err, &be) || !errors.Is(err, ErrBudget) {
				t.Fatalf("render error = %v, want a budget error", err)
			}
			if be.Limit != tt.limit {
				t.Fatalf("limit %q (%v), want %q", be.Limit, err, tt.limit)
			}
			if !strings.Contains(err.Error(), "expression budget exceeded") {
				t.Fatalf("error %q does not say what happened", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
				t.Fatalf("allocated %d MB before failing", alloc>>20)
			}
			if took > 2*time.Second {
				t.Fatalf("took %v to fail", took)
			}
			if _, ok := budgets.Load(env); ok {
				t.Fatal("the run's budget is still registered")
			}
		})
	}
}

// TestExpressionBudgetAllowsNormalWork checks that ordinary expressions are unaffected.
func TestExpressionBudgetAllowsNormalWork(t *testing.T) {
	env := &Env{Message: MessageEnv{Text: "Hello World"}, Vars: map[string]any{"n": 3, "name": "Ana", "items": []any{"a", "b"}}}
	tests := []struct{ src, want string }{
		{`upper(message.text) + "!"`, "HELLO WORLD!"},
		{`vars.name + " " + contact.wa_id + "x"`, "Ana x"},
		{`vars.n + 1`, "4"},
		{`join(vars.items, ", ")`, "a, b"},
		{`repeat("-", 10)`, "----------"},
		{`replace(message.text, "o", "0")`, "Hell0 W0rld"},
		{`len(map(1..1000, # * 2))`, "1000"},
		{`toJSON(vars.items)`, "[\n  \"a\",\n  \"b\"\n]"},
		{`message.text | lower()`, "hello world"},
		{`name`, "Ana"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			tm, errs := parseTemplate("{{" + tt.src + "}}")
			if len(errs) > 0 {
				t.Fatalf("compile: %v", errs)
			}
			got, err := tm.render(env)
			if err != nil || got != tt.want {
				t.Fatalf("render = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := compileCondition(`vars.a + vars.b == "xy" && upper(message.text) startsWith "H"`); err != nil {
		t.Fatalf("condition: %v", err)
	}
}

func TestExpressionTooBig(t *testing.T) {
	src := "1" + strings.Repeat(" + 1", MaxExprNodes)
	_, err := compileCondition(src + " > 0")
	if err == nil {
		t.Fatalf("an expression of %d nodes compiled", MaxExprNodes+1)
	}
	if _, msg := exprErrorOffset(err); !strings.Contains(msg, "expression too big") {
		t.Fatalf("problem %q does not say the expression is too big", msg)
	}
}

// TestFlowBudget runs a repeat bomb in a flow's set node: the run fails at once with a
// clear error instead of eating memory.
func TestFlowBudget(t *testing.T) {
	dir := t.TempDir()
	p := writeFlow(t, dir, "bomb.ygtc", `name: bomb
version: "1.0"
nodes:
  - id: grow
    type: set
    config:
      vars: {big: "replace(repeat('x', 60000), 'x', repeat('yy', 1000))"}
    next: say
  - id: say
    type: reply
    config:
      message: "{{vars.big}}"
`)
	s, err := LoadFiles([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Start("bomb", "", Context{To: "4915112345678", Vars: map[string]any{}})
	if err == nil || !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "expression budget exceeded") {
		t.Fatalf("start error = %v, want a budget error", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %v", took)
	}
}

// FuzzExprBudget runs arbitrary expressions over a customer's longest text: none may panic,
// run long or return a string over the limits.
func FuzzExprBudget(f *testing.F) {
	for _, s := range []string{
		`replace(repeat('x', 60000), 'x', repeat('y', 1000))`, `repeat(message.text, 100)`,
		`reduce(1..100, #acc + message.text, '')`, `join(split(message.text, ''), '--')`,
		`toJSON(map(1..5000, message.text))`, `upper(message.text) + lower(message.text)`,
		`replace(message.text, '', '<>')`, `message.text | repeat(3) | replace('a', 'bb')`,
		`vars.x + vars.x`, `trim(message.text, 'a') + 1`, `repeat('a', -1)`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tm, errs := parseTemplate("{{" + src + "}}")
		if tm == nil || len(errs) > 0 {
			return
		}
		env := &Env{Message: MessageEnv{Text: strings.Repeat("a", 4096)}, Vars: map[string]any{"x": strings.Repeat("b", 4096)}}
		start := time.Now()
		s, _ := tm.render(env)
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("%q ran %v", src, took)
		}
		if len(s) > MaxRendered {
			t.Fatalf("%q rendered %d bytes", src, len(s))
		}
	})
}

// TestBudgetKeepsTypeChecks: patching + and the string builtins must not weaken what the
// flow's validation catches.
func TestBudgetKeepsTypeChecks(t *testing.T) {
	for _, tt := range []struct {
		src string
		ok  bool
	}{
		{`"a" + "b"`, false},
		{`contact.name + "x"`, false},
		{`upper(contact.name)`, false},
		{`repeat("a", 2)`, false},
		{`"a" + 1 == "a1"`, false},
		{`contact.name + "x" == "ax"`, true},
		{`vars.a + vars.b > 3`, true},
		{`len(upper(contact.name) + "!") > 1`, true},
	} {
		_, err := compileCondition(tt.src)
		if (err == nil) != tt.ok {
			t.Errorf("compile %s: %v, want ok=%v", tt.src, err, tt.ok)
		}
	}
}

// TestBudgetNamesStayHidden: problems name the builtin the flow called, not its budgeted twin.
func TestBudgetNamesStayHidden(t *testing.T) {
	for _, src := range []string{`upper(1) == "1"`, `repeat("a") == ""`, `join(1) == ""`} {
		_, err := compileCondition(src)
		if err == nil {
			t.Fatalf("%s compiled", src)
		}
		_, msg := exprErrorOffset(err)
		if strings.Contains(msg, budgetPrefix) || strings.Contains(msg, "$env") {
			t.Errorf("%s: problem %q names an internal function", src, msg)
		}
	}
}

// TestBudgetTextOperators: contains, startsWith and endsWith keep their meaning (nil is
// false, a condition stays boolean) and are charged, so scanning a long text in a loop stops.
func TestBudgetTextOperators(t *testing.T) {
	env := &Env{Message: MessageEnv{Text: "Hello World"}, Vars: map[string]any{"s": "abc"}}
	for _, tt := range []struct {
		src  string
		want bool
	}{
		{`message.text contains "World"`, true},
		{`message.text startsWith "Hell"`, true},
		{`message.text endsWith "Hell"`, false},
		{`vars.missing contains "a"`, false},
		{`vars.s not contains "z"`, true},
		{`not (vars.s startsWith "a")`, false},
	} {
		prog, err := compileCondition(tt.src)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		v, err := runExpr(prog, env)
		if err != nil || v != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.src, v, err, tt.want)
		}
	}
	prog, err := compileCondition(`len(filter(1..90000, message.text contains "zz")) > 0`)
	if err != nil {
		t.Fatal(err)
	}
	long := &Env{Message: MessageEnv{Text: strings.Repeat("a", 4096)}}
	if _, err := runExpr(prog, long); !errors.Is(err, ErrBudget) {
		t.Fatalf("scanning 90000 × 4 KB: %v, want a budget error", err)
	}
}

// TestBudgetTime: a run that keeps reading text past its time limit stops.
func TestBudgetTime(t *testing.T) {
	defer func(d time.Duration) { exprTimeLimit = d }(exprTimeLimit)
	exprTimeLimit = 0
	tm, errs := parseTemplate(`{{upper(message.text)}}`)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	_, err := tm.render(&Env{Message: MessageEnv{Text: "hi"}})
	var be *BudgetError
	if !errors.As(err, &be) || be.Limit != "time" {
		t.Fatalf("render: %v, want the time limit", err)
	}
}
