package flow

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	exprparser "github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Env is the typed environment expressions are compiled against and evaluated in.
type Env struct {
	Message         MessageEnv     `expr:"message"`
	Button          ButtonEnv      `expr:"button"`
	List            ListEnv        `expr:"list"`
	Contact         ContactEnv     `expr:"contact"`
	Location        LocationEnv    `expr:"location"`
	Vars            map[string]any `expr:"vars"`
	User            map[string]any `expr:"user"`
	Now             int64          `expr:"now"`
	LastMessageTime int64          `expr:"last_message_time"`
	Tenant          string         `expr:"tenant"`
	Team            string         `expr:"team"`
	// Secrets holds, while an http or ai node renders, the secrets it reads. Validation
	// refuses secrets anywhere else.
	Secrets map[string]any `expr:"secrets"`
	// Settings are the bundle settings flows may read (Context.Settings).
	Settings SettingsEnv `expr:"settings"`
}

// SettingsEnv is `settings`: the bundle settings flows may read, "" when not configured.
// An http node's url may start with {{settings.NAME}}.
type SettingsEnv struct {
	// OrderAPIURL is the starter "Check Status" flow's order API (answers.json
	// order_api_url), like https://shop.example.com/api.
	OrderAPIURL string `expr:"order_api_url"`
}

// SettingNames are the names flows read as settings.NAME (the keys of Context.Settings).
var SettingNames = settingNames()

func settingNames() []string {
	t := reflect.TypeOf(SettingsEnv{})
	out := make([]string, t.NumField())
	for i := range out {
		out[i] = t.Field(i).Tag.Get("expr")
	}
	return out
}

// SettingsFromVars are the settings a caller put in vars.settings (a map of strings, as
// delivery starts every conversation with): for a Context built from a run's vars.
func SettingsFromVars(vars map[string]any) map[string]string {
	m, _ := vars["settings"].(map[string]any)
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// settingsEnv fills a SettingsEnv from Context.Settings; names it does not know are
// ignored, names missing are "".
func settingsEnv(m map[string]string) SettingsEnv {
	var s SettingsEnv
	v := reflect.ValueOf(&s).Elem()
	for i, name := range SettingNames {
		v.Field(i).SetString(m[name])
	}
	return s
}

// MessageEnv is `message` in expressions.
type MessageEnv struct {
	ID        string `expr:"id"`
	Type      string `expr:"type"`
	Text      string `expr:"text"`
	From      string `expr:"from"`
	Timestamp int64  `expr:"timestamp"`
	MediaType string `expr:"media_type"`
	// Form is a submitted WhatsApp Flow's response_json (empty for other messages).
	Form map[string]any `expr:"form"`
}

// ButtonEnv is `button`: the reply button or template quick reply the user pressed.
type ButtonEnv struct {
	ID    string `expr:"id"`
	Title string `expr:"title"`
}

// ListEnv is `list`: the list row the user chose.
type ListEnv struct {
	ID          string `expr:"id"`
	Title       string `expr:"title"`
	Description string `expr:"description"`
}

// ContactEnv is `contact`: who wrote.
type ContactEnv struct {
	Name string `expr:"name"`
	WaID string `expr:"wa_id"`
}

// LocationEnv is `location`: a location the user shared.
type LocationEnv struct {
	Latitude  float64 `expr:"latitude"`
	Longitude float64 `expr:"longitude"`
	Name      string  `expr:"name"`
	Address   string  `expr:"address"`
}

// EnvNames are the top-level names of the expression environment.
var EnvNames = envNames()

func envNames() []string {
	t := reflect.TypeOf(Env{})
	out := make([]string, t.NumField())
	for i := range out {
		out[i] = t.Field(i).Tag.Get("expr")
	}
	return out
}

func isEnvName(s string) bool {
	for _, n := range EnvNames {
		if n == s {
			return true
		}
	}
	return false
}

// needFunc is what templates call for a variable: a bare name (`{{order_id}}`) or
// vars.name reads vars and fails when it is missing.
const needFunc = "__need"

// ErrMissingVar is returned (wrapped) when a template reads a variable that is not set.
var ErrMissingVar = errors.New("missing variable")

func need(params ...any) (any, error) {
	vars, _ := params[0].(map[string]any)
	name, _ := params[1].(string)
	v, ok := vars[name]
	if !ok || v == nil {
		return nil, fmt.Errorf("%w %s", ErrMissingVar, name)
	}
	return v, nil
}

// varsPatcher rewrites, in templates, bare unknown names and vars.x into __need(vars, "x").
type varsPatcher struct{}

func (varsPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if isEnvName(n.Value) || n.Value == needFunc || strings.HasPrefix(n.Value, "$") || strings.HasPrefix(n.Value, budgetPrefix) {
			return
		}
		if _, ok := builtin.Index[n.Value]; ok {
			return
		}
		call := &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: needFunc},
			Arguments: []ast.Node{&ast.IdentifierNode{Value: "vars"}, &ast.StringNode{Value: n.Value}},
		}
		ast.Patch(node, call)
		(*node).SetLocation(n.Location())
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		if !ok || id.Value != "vars" {
			return
		}
		prop, ok := n.Property.(*ast.StringNode)
		if !ok {
			return
		}
		call := &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: needFunc},
			Arguments: []ast.Node{&ast.IdentifierNode{Value: "vars"}, &ast.StringNode{Value: prop.Value}},
		}
		ast.Patch(node, call)
		(*node).SetLocation(n.Location())
	}
}

var goTypeRe = regexp.MustCompile(`type flow\.(\w+)Env has no field`)

// exprMessage rewrites expr's messages in the names flows use.
func exprMessage(msg string) string {
	msg = strings.ReplaceAll(msg, budgetPrefix, "")
	if strings.Contains(msg, "exceeds maximum allowed nodes") {
		return fmt.Sprintf("expression too big: more than %d parts; split it into several set variables", MaxExprNodes)
	}
	msg = goTypeRe.ReplaceAllStringFunc(msg, func(m string) string {
		name := goTypeRe.FindStringSubmatch(m)[1]
		return strings.ToLower(name) + " has no field"
	})
	if strings.Contains(msg, "settings has no field") {
		msg += ": the settings flows can read are " + strings.Join(SettingNames, ", ")
	}
	return msg
}

// compileCondition compiles a branch condition, which must be boolean.
func compileCondition(src string) (*vm.Program, error) {
	return expr.Compile(src, append([]expr.Option{expr.Env(Env{}), expr.AsBool()}, budgetOptions()...)...)
}

// compileTemplateExpr compiles the inside of one {{ ... }}.
func compileTemplateExpr(src string) (*vm.Program, error) {
	return expr.Compile(src, append([]expr.Option{expr.Env(Env{}), expr.Patch(varsPatcher{}),
		expr.Function(needFunc, need, new(func(map[string]any, string) any))}, budgetOptions()...)...)
}

// exprErrorOffset is the rune offset into src of a compile error, and its message.
func exprErrorOffset(err error) (int, string) {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fe.From, exprMessage(fe.Message)
	}
	return 0, exprMessage(err.Error())
}

// segment is a literal or an expression of a template string.
type segment struct {
	lit  string
	prog *vm.Program
	src  string
}

// tmpl is a compiled string with {{ ... }} expressions.
type tmpl struct {
	segs []segment
	// refs are the user.* and secrets.* names its expressions read (offsets into the
	// template string).
	refs []exprRef
}

// secrets lists the secret names the template reads.
func (t *tmpl) secrets() []string {
	if t == nil {
		return nil
	}
	var out []string
	for _, r := range t.refs {
		if r.scope == "secrets" && r.name != "" && !contains(out, r.name) {
			out = append(out, r.name)
		}
	}
	return out
}

// exprRef is a read of user.NAME or secrets.NAME (name "" for a dynamic read) at byte
// offset off of the source.
type exprRef struct {
	scope, name string
	off         int
}

// scanRefs finds the reads of user.* and secrets.* in an expression (none when it does not
// parse: compiling reports that).
func scanRefs(src string) []exprRef {
	tree, err := exprparser.Parse(src)
	if err != nil {
		return nil
	}
	v := &refVisitor{members: map[ast.Node]bool{}}
	ast.Walk(&tree.Node, v)
	out := v.refs
	for _, id := range v.bare {
		if !v.members[id] && id.Value == "secrets" {
			out = append(out, exprRef{scope: "secrets", off: id.Location().From})
		}
	}
	for i := range out {
		out[i].off = byteOffset(src, max(out[i].off, 0))
	}
	return out
}

type refVisitor struct {
	refs    []exprRef
	bare    []*ast.IdentifierNode
	members map[ast.Node]bool
}

func (v *refVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if n.Value == "secrets" || n.Value == "user" {
			v.bare = append(v.bare, n)
		}
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		if !ok || (id.Value != "secrets" && id.Value != "user") {
			return
		}
		prop, ok := n.Property.(*ast.StringNode)
		if !ok {
			return
		}
		v.members[id] = true
		v.refs = append(v.refs, exprRef{scope: id.Value, name: prop.Value, off: id.Location().From})
	}
}

// templateError is a problem in a template string at a byte offset.
type templateError struct {
	off int
	msg string
}

// parseTemplate splits s at {{ and }} and compiles each expression. It returns nil (and no
// errors) for a string without {{.
func parseTemplate(s string) (*tmpl, []templateError) {
	return parseTemplateWith(s, false)
}

// secretsMessage is the problem of secrets where a customer or agent could see them.
const secretsMessage = "secrets can only be read in http and ai configs (url, headers, query, json, body, system, prompt): a customer or an agent could see them here"

// parseTemplateWith is parseTemplate; secretsOK allows secrets.NAME (http and ai configs).
func parseTemplateWith(s string, secretsOK bool) (*tmpl, []templateError) {
	if !strings.Contains(s, "{{") {
		return nil, nil
	}
	var t tmpl
	var errs []templateError
	rest, base := s, 0
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				t.segs = append(t.segs, segment{lit: rest})
			}
			break
		}
		if i > 0 {
			t.segs = append(t.segs, segment{lit: rest[:i]})
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			errs = append(errs, templateError{base + i, "unclosed {{: add }} after the expression"})
			break
		}
		src := rest[i+2 : i+2+j]
		exprOff := base + i + 2
		if strings.TrimSpace(src) == "" {
			errs = append(errs, templateError{base + i, "empty {{ }}: put a name or an expression inside, like {{contact.name}}"})
		} else if prog, err := compileTemplateExpr(src); err != nil {
			roff, msg := exprErrorOffset(err)
			errs = append(errs, templateError{exprOff + byteOffset(src, roff), msg})
		} else {
			t.segs = append(t.segs, segment{prog: prog, src: strings.TrimSpace(src)})
			for _, r := range scanRefs(src) {
				r.off += exprOff
				switch {
				case r.scope == "secrets" && !secretsOK:
					errs = append(errs, templateError{r.off, secretsMessage})
				case r.scope == "secrets" && r.name == "":
					errs = append(errs, templateError{r.off, "read a secret by its name, like secrets.SHOP_TOKEN"})
				default:
					t.refs = append(t.refs, r)
				}
			}
		}
		base += i + 2 + j + 2
		rest = rest[i+2+j+2:]
	}
	return &t, errs
}

// byteOffset turns a rune offset into a byte offset of s.
func byteOffset(s string, runes int) int {
	off := 0
	for i := 0; i < runes && off < len(s); i++ {
		_, n := utf8.DecodeRuneInString(s[off:])
		off += n
	}
	return off
}

// render evaluates the template in env.
func (t *tmpl) render(env *Env) (string, error) {
	var b strings.Builder
	for _, s := range t.segs {
		if s.prog == nil {
			b.WriteString(s.lit)
			continue
		}
		v, err := runExpr(s.prog, env)
		if err != nil {
			if errors.Is(err, ErrMissingVar) {
				var fe *file.Error
				if errors.As(err, &fe) && fe.Prev != nil {
					err = fe.Prev
				}
				return "", fmt.Errorf("{{%s}}: %w: pass it with --var or in the start's variables", s.src, err)
			}
			return "", fmt.Errorf("{{%s}}: %w", s.src, err)
		}
		if v == nil {
			return "", fmt.Errorf("{{%s}} has no value", s.src)
		}
		str := fmt.Sprint(v)
		if strings.TrimSpace(str) == "" {
			// Never send "Hello , ..." to a customer.
			return "", fmt.Errorf("{{%s}} is empty", s.src)
		}
		if b.Len()+len(str) > MaxRendered {
			return "", &BudgetError{Limit: "rendered", Msg: fmt.Sprintf("the text would render to more than %d bytes", MaxRendered)}
		}
		b.WriteString(str)
	}
	return b.String(), nil
}

// knownNames are the names problems suggest: every name but secrets, which only http and
// ai configs may read.
func knownNames() string {
	var out []string
	for _, n := range EnvNames {
		if n != "secrets" {
			out = append(out, n)
		}
	}
	return strings.Join(out, ", ")
}
