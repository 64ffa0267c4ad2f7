package flow

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// WhatsApp Flows (Meta's native forms): the interactive type flow, the action parameter of
// a template's FLOW button, and their input data. See docs/flows.md, "WhatsApp Flows (forms)".

// valueField is one templated string inside Flow input data (a map, not a *string): where
// it goes, as steps from the data's root (string keys, int indexes), and its template. A
// string that is one {{ }} keeps the value's JSON type ("{{vars.count}}" stays a number).
type valueField struct {
	root  func(*whatsapp.Message) map[string]any
	steps []any
	t     *tmpl
	path  string
}

func (f valueField) render(env *Env, m *whatsapp.Message) error {
	var v any
	if len(f.t.segs) == 1 && f.t.segs[0].prog != nil {
		raw, err := runExpr(f.t.segs[0].prog, env)
		if err != nil {
			return fmt.Errorf("{{%s}}: %w", f.t.segs[0].src, err)
		}
		v = raw
	} else {
		s, err := f.t.render(env)
		if err != nil {
			return err
		}
		v = s
	}
	root := f.root(m)
	if root == nil {
		return fmt.Errorf("no data to fill")
	}
	var c any = root
	for i, s := range f.steps {
		last := i == len(f.steps)-1
		switch k := s.(type) {
		case string:
			mm, ok := c.(map[string]any)
			if !ok {
				return fmt.Errorf("data changed shape")
			}
			if last {
				mm[k] = v
				return nil
			}
			c = mm[k]
		case int:
			a, ok := c.([]any)
			if !ok || k >= len(a) {
				return fmt.Errorf("data changed shape")
			}
			if last {
				a[k] = v
				return nil
			}
			c = a[k]
		}
	}
	return nil
}

// flowParams reads action: {name: flow, parameters: {...}} of an interactive flow message,
// in Meta's wire shape.
func (r *rp) flowAction(v *yaml.Node, path string, in *whatsapp.Interactive) {
	m, ok := r.p.mapping(v, path, "a flow action", "name", "parameters")
	if !ok {
		return
	}
	if n, nn := r.p.scalar(m, "name", "", false); nn != nil && n != "flow" {
		r.p.errf(nn, join(path, "name"), "name must be flow (or leave it out)")
	}
	in.Action.Name = "flow"
	f := &whatsapp.FlowParameters{FlowMessageVersion: whatsapp.FlowMessageVersion}
	in.Action.Flow = f
	pp := join(path, "parameters")
	pv := m.val("parameters")
	if pv == nil {
		r.p.errf(v, pp, "missing parameters: {flow_id or flow_name, flow_cta}")
		return
	}
	pm, ok := r.p.mapping(pv, pp, "flow parameters", "flow_message_version", "flow_id", "flow_name", "flow_cta", "mode", "flow_token", "flow_action", "flow_action_payload")
	if !ok {
		return
	}
	if ver, vn := r.p.scalar(pm, "flow_message_version", "", false); vn != nil && ver != whatsapp.FlowMessageVersion {
		r.p.errf(vn, join(pp, "flow_message_version"), "flow_message_version must be %q (or leave it out: gtc fills it)", whatsapp.FlowMessageVersion)
	}
	params := func(m *whatsapp.Message) *whatsapp.FlowParameters { return m.Interactive.Action.Flow }
	switch {
	case pm.has("flow_id") && pm.has("flow_name"):
		r.p.errf(pm.key("flow_name"), join(pp, "flow_name"), "give flow_id or flow_name, not both")
	case pm.has("flow_id"):
		f.FlowID, _ = r.p.scalar(pm, "flow_id", ": the Flow's id from WhatsApp Manager", true)
	case pm.has("flow_name"):
		f.FlowName, _ = r.p.scalar(pm, "flow_name", ": the Flow's name as created in WhatsApp Manager", true)
	default:
		r.p.errf(pv, join(pp, "flow_id"), "missing flow_id or flow_name: which Flow to open, like flow_id: \"1234567890\" or flow_name: signup")
	}
	f.FlowCTA = r.str(pm.val("flow_cta"), join(pp, "flow_cta"), whatsapp.MaxFlowCTA, true, func(m *whatsapp.Message) *string { return &params(m).FlowCTA })
	if cn := pm.val("flow_cta"); cn != nil && !strings.Contains(f.FlowCTA, "{{") {
		if e := firstEmoji(f.FlowCTA); e != "" {
			r.p.errf(cn, join(pp, "flow_cta"), "flow_cta has an emoji (%s): the Cloud API does not allow emoji on the Flow button", e)
		}
	}
	if mode, mn := r.p.scalar(pm, "mode", "", false); mn != nil {
		f.Mode = mode
		if mode != "draft" && mode != "published" {
			r.p.errf(mn, join(pp, "mode"), "unknown mode %s: use draft (to test an unpublished Flow) or published (the default)", mode)
		}
	}
	if pm.has("flow_token") {
		f.FlowToken = r.str(pm.val("flow_token"), join(pp, "flow_token"), 0, true, func(m *whatsapp.Message) *string { return &params(m).FlowToken })
	}
	act, an := r.p.scalar(pm, "flow_action", "", false)
	f.FlowAction = act
	switch act {
	case "", whatsapp.FlowActionNavigate:
		if pl := pm.val("flow_action_payload"); pl != nil {
			f.FlowActionPayload = r.flowPayload(pl, join(pp, "flow_action_payload"))
		}
	case whatsapp.FlowActionData:
		if pm.has("flow_action_payload") {
			r.p.errf(pm.key("flow_action_payload"), join(pp, "flow_action_payload"), "flow_action_payload is for flow_action navigate only: with data_exchange your Flow endpoint sends the first screen; remove it")
		}
	default:
		r.p.errf(an, join(pp, "flow_action"), "unknown flow_action %s: use navigate (open a screen, the default) or data_exchange (ask your Flow endpoint)", act)
	}
}

func (r *rp) flowPayload(v *yaml.Node, path string) *whatsapp.FlowActionPayload {
	pl := &whatsapp.FlowActionPayload{}
	m, ok := r.p.mapping(v, path, "a flow_action_payload", "screen", "data")
	if !ok {
		return pl
	}
	pl.Screen, _ = r.p.scalar(m, "screen", ": the id of the Flow's first screen, like screen: WELCOME", true)
	if dv := m.val("data"); dv != nil {
		pl.Data = r.flowData(dv, join(path, "data"), func(m *whatsapp.Message) map[string]any {
			if p := m.Interactive.Action.Flow.FlowActionPayload; p != nil {
				return p.Data
			}
			return nil
		})
	}
	return pl
}

// flowData reads a Flow's input data: a non-empty mapping of any JSON values whose strings
// may hold {{ }}. root finds the data in a copy of the message at render time.
func (r *rp) flowData(v *yaml.Node, path string, root func(*whatsapp.Message) map[string]any) map[string]any {
	if v.Kind != yaml.MappingNode {
		r.p.errf(v, path, "%s must be a mapping of the screen's input data, like {name: \"{{contact.name}}\"}", lastKey(path))
		return nil
	}
	if len(v.Content) == 0 {
		r.p.errf(v, path, "empty %s: the Cloud API wants a non-empty object; remove it or give the screen's data", lastKey(path))
		return nil
	}
	out, _ := r.dataValue(v, path, nil, root, 0).(map[string]any)
	return out
}

// maxDataDepth bounds the nesting of Flow data (a guard for hostile input, far above
// what a screen takes).
const maxDataDepth = 20

func (r *rp) dataValue(v *yaml.Node, path string, steps []any, root func(*whatsapp.Message) map[string]any, depth int) any {
	if depth > maxDataDepth {
		r.p.errf(v, path, "data nested more than %d levels deep", maxDataDepth)
		return nil
	}
	at := func(s any) []any { return append(append([]any(nil), steps...), s) }
	switch v.Kind {
	case yaml.MappingNode:
		out := map[string]any{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k := v.Content[i]
			if k.Kind != yaml.ScalarNode {
				r.p.errf(k, path, "keys must be plain names")
				continue
			}
			if _, dup := out[k.Value]; dup {
				r.p.errf(k, join(path, k.Value), "duplicate key %s: keep one", k.Value)
				continue
			}
			out[k.Value] = r.dataValue(v.Content[i+1], join(path, k.Value), at(k.Value), root, depth+1)
		}
		return out
	case yaml.SequenceNode:
		out := make([]any, len(v.Content))
		for i, c := range v.Content {
			out[i] = r.dataValue(c, fmt.Sprintf("%s[%d]", path, i), at(i), root, depth+1)
		}
		return out
	case yaml.AliasNode:
		r.p.errf(v, path, "anchors and aliases are not supported in Flow data: write the value out")
		return nil
	case yaml.ScalarNode:
		if v.Tag != "!!str" && v.Style == 0 {
			var x any
			if err := v.Decode(&x); err != nil {
				r.p.errf(v, path, "%v", err)
			}
			return x
		}
		if r.p.literal {
			return v.Value
		}
		t, errs := parseTemplate(v.Value)
		for _, e := range errs {
			r.p.errAt(r.p.stringPos(v, e.off), path, "%s", templateMessage(e.msg))
		}
		r.p.noteRefs(v, path, t)
		if t != nil && len(errs) == 0 {
			r.node.values = append(r.node.values, valueField{root: root, steps: steps, t: t, path: path})
		}
		return v.Value
	}
	return nil
}

// templateAction reads the action of a template's FLOW button parameter:
// {flow_token, flow_action_data}.
func (r *rp) templateAction(v *yaml.Node, path string, param func(*whatsapp.Message) *whatsapp.Parameter) *whatsapp.TemplateAction {
	a := &whatsapp.TemplateAction{}
	m, ok := r.p.mapping(v, path, "a FLOW button action", "flow_token", "flow_action_data")
	if !ok {
		return a
	}
	if !m.has("flow_token") && !m.has("flow_action_data") {
		r.p.errf(v, path, "empty action: give flow_token, flow_action_data (the first screen's data), or both")
	}
	if m.has("flow_token") {
		a.FlowToken = r.str(m.val("flow_token"), join(path, "flow_token"), 0, true, func(m *whatsapp.Message) *string { return &param(m).Action.FlowToken })
	}
	if dv := m.val("flow_action_data"); dv != nil {
		a.FlowActionData = r.flowData(dv, join(path, "flow_action_data"), func(m *whatsapp.Message) map[string]any { return param(m).Action.FlowActionData })
	}
	return a
}

// firstEmoji returns the first emoji-like rune of s, or "".
func firstEmoji(s string) string {
	for _, c := range s {
		if (c >= 0x1F000 && c <= 0x1FAFF) || (c >= 0x2600 && c <= 0x27BF) || c == 0xFE0F || c == 0x200D || (c >= 0x2B00 && c <= 0x2BFF) {
			if utf8.ValidRune(c) {
				return string(c)
			}
		}
	}
	return ""
}

// parseFlowAnswer takes a submitted WhatsApp Flow (nfm_reply) as the answer: its
// response_json as a map of JSON values (numbers as float64), flow_token included.
func parseFlowAnswer(ev Event) (any, error) {
	f := ev.Flow
	if f == nil {
		return nil, invalid(ExpectFlow, "%s message, not a submitted form", article(orAny(ev.Type)))
	}
	if f.Response == nil {
		msg := f.ResponseError
		if msg == "" {
			msg = "the form came back without response_json"
		}
		return nil, invalid(ExpectFlow, "%s", msg)
	}
	out, _ := jsonPlain(f.Response).(map[string]any)
	return out, nil
}

// jsonPlain copies v with json.Number made float64 (or the number's text when it does not
// fit one), so expressions compare numbers as numbers.
func jsonPlain(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonPlain(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonPlain(e)
		}
		return out
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	}
	return v
}

// flowTokenOf is the flow_token a question sends: of an interactive flow message, or of a
// template's FLOW button; "" when it sends none.
func flowTokenOf(m *whatsapp.Message) string {
	switch {
	case m == nil:
	case m.Interactive != nil && m.Interactive.Action.Flow != nil:
		return m.Interactive.Action.Flow.FlowToken
	case m.Template != nil:
		for _, c := range m.Template.Components {
			for _, p := range c.Parameters {
				if p.Action != nil && p.Action.FlowToken != "" {
					return p.Action.FlowToken
				}
			}
		}
	}
	return ""
}

// opensFlow says whether a question's message opens a WhatsApp Flow.
func opensFlow(m *whatsapp.Message) bool {
	if m == nil {
		return false
	}
	if m.Interactive != nil && m.Interactive.Type == "flow" {
		return true
	}
	if m.Template != nil {
		for _, c := range m.Template.Components {
			if c.Type == "button" && c.SubType == "flow" {
				return true
			}
		}
	}
	return false
}

// article puts "a" or "an" before a word.
func article(w string) string {
	if w != "" && strings.ContainsRune("aeiou", rune(w[0])) {
		return "an " + w
	}
	return "a " + w
}
