package flow

// The expression budget: every run of an expression (a condition, a set, a validate, one
// {{ }}) may do a bounded amount of work and build bounded values, so neither a flow nor
// the data it reads (a customer's text, an http answer) can make gtc spin or run out of
// memory. Loops are bounded by expr's memory budget (MaxExprItems), the size of an
// expression by MaxExprNodes, and the strings it builds and scans by the budgeted twins of
// the string builtins and of +.

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
)

const (
	// MaxExprNodes caps the size of one expression (syntax tree nodes), checked when the
	// flow loads.
	MaxExprNodes = 1000
	// MaxExprString caps a string one expression builds (+, repeat, replace, join, toJSON…).
	MaxExprString = 64 << 10
	// MaxExprWork caps the bytes string functions and + read and write in one run.
	MaxExprWork = 4 << 20
	// MaxExprItems caps the list items, map entries and loop steps of one run (expr's
	// memory budget).
	MaxExprItems = 100_000
	// MaxRendered caps a rendered template string.
	MaxRendered = 1 << 20
	// MaxExprTime caps one run's wall time, checked whenever it reads or builds text.
	MaxExprTime = time.Second
)

// exprTimeLimit is MaxExprTime (tests lower it).
var exprTimeLimit = MaxExprTime

// ErrBudget is matched (errors.Is) by every *BudgetError.
var ErrBudget = errors.New("expression budget exceeded")

// BudgetError is an expression run that went over one of its limits.
type BudgetError struct {
	// Limit names the limit: "string", "work", "time", "items" or "rendered".
	Limit string
	Msg   string
}

func (e *BudgetError) Error() string { return "expression budget exceeded: " + e.Msg }

// Is makes errors.Is(err, ErrBudget) true.
func (e *BudgetError) Is(target error) bool { return target == ErrBudget }

func stringTooLong(what string, n int) *BudgetError {
	return &BudgetError{Limit: "string", Msg: fmt.Sprintf("%s would build a string of %d bytes, the most an expression may build is %d: shorten the input or the count", what, n, MaxExprString)}
}

// budget is what one run has left.
type budget struct {
	mu       sync.Mutex
	work     int
	deadline time.Time
}

// budgets holds the budget of each env being run. Compiled programs are shared by every
// contact's run, so a run's budget travels with its env: calls get $env as first argument.
var budgets sync.Map // *Env → *budget

// flowEnver is implemented by *Env and by the answer envs that embed it.
type flowEnver interface{ flowEnv() *Env }

func (e *Env) flowEnv() *Env { return e }

func budgetOf(env any) *budget {
	fe, ok := env.(flowEnver)
	if !ok {
		return nil
	}
	e := fe.flowEnv()
	if e == nil {
		return nil
	}
	b, _ := budgets.Load(e)
	bb, _ := b.(*budget)
	return bb
}

// charge takes n bytes of work from env's budget.
func charge(env any, n int) error {
	b := budgetOf(env)
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.work -= n
	if time.Now().After(b.deadline) {
		return &BudgetError{Limit: "time", Msg: fmt.Sprintf("the expression ran longer than %s", exprTimeLimit)}
	}
	if b.work < 0 {
		return &BudgetError{Limit: "work", Msg: fmt.Sprintf("the expression processed more than %d bytes of text in one run: it loops over too much text", MaxExprWork)}
	}
	return nil
}

// runExpr runs prog in env within the budget. Budget problems come back as *BudgetError.
func runExpr(prog *vm.Program, env any) (any, error) {
	if fe, ok := env.(flowEnver); ok && fe.flowEnv() != nil {
		key := fe.flowEnv()
		if _, loaded := budgets.LoadOrStore(key, &budget{work: MaxExprWork, deadline: time.Now().Add(exprTimeLimit)}); !loaded {
			defer budgets.Delete(key)
		}
	}
	m := vm.VM{MemoryBudget: MaxExprItems}
	v, err := m.Run(prog, env)
	if err != nil {
		return nil, budgetError(err)
	}
	return v, nil
}

// budgetError turns expr's own budget panic into a *BudgetError and unwraps ours.
func budgetError(err error) error {
	var be *BudgetError
	if errors.As(err, &be) {
		return be
	}
	var fe *file.Error
	if errors.As(err, &fe) && fe.Message == "memory budget exceeded" {
		return &BudgetError{Limit: "items", Msg: fmt.Sprintf("the expression made or looped over more than %d items in one run", MaxExprItems)}
	}
	return err
}

// budgeted are the builtins that read or build strings; calls to them are patched to
// their budgeted twin, named with the prefix.
var budgeted = []string{"repeat", "replace", "join", "upper", "lower", "trim", "trimPrefix", "trimSuffix",
	"split", "splitAfter", "indexOf", "lastIndexOf", "hasPrefix", "hasSuffix", "toJSON", "fromJSON", "toBase64", "fromBase64"}

const budgetPrefix = "__budget_"

// addFunc is the budgeted + on strings (and any values that may be strings).
const addFunc = budgetPrefix + "add"

// budgetOptions are the compile options that put an expression under the budget.
func budgetOptions() []expr.Option {
	opts := []expr.Option{expr.MaxNodes(MaxExprNodes), expr.Patch(budgetPatcher{})}
	for _, name := range budgeted {
		opts = append(opts, budgetedBuiltin(name))
	}
	add := &builtin.Function{Name: addFunc, Func: budgetedAdd, Validate: func(args []reflect.Type) (reflect.Type, error) {
		// string + string stays a string, so a condition that is not boolean is still
		// refused when the flow loads.
		if len(args) == 3 && args[1].Kind() == reflect.String && args[2].Kind() == reflect.String {
			return stringType, nil
		}
		return anyType, nil
	}}
	opts = append(opts, func(c *conf.Config) { c.Functions[addFunc] = add })
	for op, f := range textOps {
		fn := &builtin.Function{Name: budgetPrefix + op, Func: budgetedTextOp(op, f),
			Validate: func([]reflect.Type) (reflect.Type, error) { return boolType, nil }}
		opts = append(opts, func(c *conf.Config) { c.Functions[fn.Name] = fn })
	}
	return opts
}

// budgetPatcher passes $env to the budgeted builtins and to + of strings.
type budgetPatcher struct{}

func (budgetPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BuiltinNode:
		if !contains(budgeted, n.Name) {
			return
		}
		call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: budgetPrefix + n.Name},
			Arguments: append([]ast.Node{&ast.IdentifierNode{Value: "$env"}}, n.Arguments...)}
		ast.Patch(node, call)
		(*node).SetLocation(n.Location())
	case *ast.BinaryNode:
		name := addFunc
		if n.Operator != "+" {
			if _, ok := textOps[n.Operator]; !ok {
				return
			}
			name = budgetPrefix + n.Operator
		}
		if !maybeString(n.Left) || !maybeString(n.Right) {
			return
		}
		call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: name},
			Arguments: []ast.Node{&ast.IdentifierNode{Value: "$env"}, n.Left, n.Right}}
		ast.Patch(node, call)
		(*node).SetLocation(n.Location())
	}
}

// maybeString is true for a node typed string or not known until run time.
func maybeString(n ast.Node) bool {
	t := n.Type()
	return t == nil || t.Kind() == reflect.String || t.Kind() == reflect.Interface
}

func budgetedAdd(args ...any) (any, error) {
	a, aok := args[1].(string)
	b, bok := args[2].(string)
	if !aok || !bok {
		return runtime.Add(args[1], args[2]), nil
	}
	if n := len(a) + len(b); n > MaxExprString {
		return nil, stringTooLong("+", n)
	}
	if err := charge(args[0], len(a)+len(b)); err != nil {
		return nil, err
	}
	return a + b, nil
}

var (
	anyType    = reflect.TypeOf((*any)(nil)).Elem()
	stringType = reflect.TypeOf("")
	boolType   = reflect.TypeOf(true)
)

// textOps are the operators that scan text; each run of them is charged.
var textOps = map[string]func(a, b string) bool{
	"contains":   strings.Contains,
	"startsWith": strings.HasPrefix,
	"endsWith":   strings.HasSuffix,
}

func budgetedTextOp(op string, f func(a, b string) bool) func(...any) (any, error) {
	return func(args ...any) (any, error) {
		if runtime.IsNil(args[1]) || runtime.IsNil(args[2]) {
			return false, nil // as expr's own operator
		}
		a, aok := args[1].(string)
		b, bok := args[2].(string)
		if !aok || !bok {
			return nil, fmt.Errorf("invalid operation: %T %s %T: %s needs text on both sides", args[1], op, args[2], op)
		}
		if err := charge(args[0], len(a)+len(b)); err != nil {
			return nil, err
		}
		return f(a, b), nil
	}
}

// budgetedBuiltin registers the budgeted twin of a builtin: the same types with the env
// first, a check of the size it would build before building it, and its work charged.
func budgetedBuiltin(name string) expr.Option {
	orig := builtin.Builtins[builtin.Index[name]]
	fn := &builtin.Function{Name: budgetPrefix + name}
	for _, t := range orig.Types {
		in := []reflect.Type{anyType}
		for i := 0; i < t.NumIn(); i++ {
			in = append(in, t.In(i))
		}
		out := make([]reflect.Type, t.NumOut())
		for i := range out {
			out[i] = t.Out(i)
		}
		fn.Types = append(fn.Types, reflect.FuncOf(in, out, t.IsVariadic()))
	}
	if orig.Validate != nil {
		fn.Validate = func(args []reflect.Type) (reflect.Type, error) {
			if len(args) == 0 {
				return anyType, errors.New("missing arguments")
			}
			return orig.Validate(args[1:])
		}
	}
	call := func(args []any) (any, error) {
		switch {
		case orig.Func != nil:
			return orig.Func(args...)
		case orig.Safe != nil:
			v, _, err := orig.Safe(args...)
			return v, err
		default:
			return orig.Fast(args[0]), nil
		}
	}
	fn.Func = func(params ...any) (any, error) {
		env, args := params[0], params[1:]
		in := 0
		for _, a := range args {
			if s, ok := a.(string); ok {
				in += len(s)
			}
		}
		if err := charge(env, in); err != nil {
			return nil, err
		}
		if n, ok := builtSize(name, args); ok && n > MaxExprString {
			return nil, stringTooLong(name, n)
		}
		v, err := call(args)
		if err != nil {
			return nil, err
		}
		if s, ok := v.(string); ok {
			if len(s) > MaxExprString {
				return nil, stringTooLong(name, len(s))
			}
			if err := charge(env, len(s)); err != nil {
				return nil, err
			}
		}
		return v, nil
	}
	return func(c *conf.Config) {
		c.Functions[fn.Name] = fn
	}
}

// builtSize is the length of the string repeat, replace or join would build, worked out
// before building it; ok is false for the other builtins (their result is checked after).
func builtSize(name string, args []any) (int, bool) {
	str := func(i int) string {
		if i < len(args) {
			s, _ := args[i].(string)
			return s
		}
		return ""
	}
	switch name {
	case "repeat":
		n := runtime.ToInt(args[1])
		if n < 0 {
			return 0, false // repeat's own error
		}
		s := str(0)
		if len(s) > 0 && n > math.MaxInt/len(s) {
			return math.MaxInt, true
		}
		return len(s) * n, true
	case "replace":
		s, old, repl := str(0), str(1), str(2)
		if len(repl) <= len(old) {
			return len(s), true
		}
		var count int
		if old == "" {
			count = utf8.RuneCountInString(s) + 1
		} else {
			count = strings.Count(s, old)
		}
		if len(args) == 4 {
			if lim := runtime.ToInt(args[3]); lim >= 0 && lim < count {
				count = lim
			}
		}
		return len(s) + count*(len(repl)-len(old)), true
	case "join":
		sep := str(1)
		n := 0
		switch l := args[0].(type) {
		case []string:
			for _, s := range l {
				n += len(s) + len(sep)
			}
		case []any:
			for _, v := range l {
				s, _ := v.(string)
				n += len(s) + len(sep)
			}
		}
		return n, true
	case "toJSON":
		// At least the strings and one byte per item: enough to refuse a huge value before
		// encoding it (the result is checked again after).
		return jsonSizeAtLeast(args[0], MaxExprString+1), true
	}
	return 0, false
}

// jsonSizeAtLeast is a lower bound of v's JSON size, counted up to limit and no further.
func jsonSizeAtLeast(v any, limit int) int {
	n := 0
	var walk func(v any)
	walk = func(v any) {
		if n > limit {
			return
		}
		switch x := v.(type) {
		case string:
			n += len(x) + 2
		case []any:
			n += 2
			for _, e := range x {
				walk(e)
				n++
				if n > limit {
					return
				}
			}
		case []string:
			n += 2
			for _, e := range x {
				n += len(e) + 3
				if n > limit {
					return
				}
			}
		case map[string]any:
			n += 2
			for k, e := range x {
				n += len(k) + 4
				walk(e)
				if n > limit {
					return
				}
			}
		default:
			n++
		}
	}
	walk(v)
	return n
}
