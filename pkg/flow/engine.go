package flow

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// Match returns the trigger that wins for ev (see the precedence in the README), or nil.
func (s *Set) Match(ev Event) *Trigger {
	for _, t := range s.triggers {
		if t.matches(ev) {
			return t
		}
	}
	return nil
}

// FlowName is the name of the flow the trigger belongs to.
func (t *Trigger) FlowName() string { return t.flow.Name }

func (t *Trigger) matches(ev Event) bool {
	switch t.Type {
	case TriggerMessage:
		return ev.Type != ""
	case TriggerText:
		if ev.Type != whatsapp.TypeText {
			return false
		}
		if len(t.Keywords) > 0 {
			txt := normalizeText(ev.Text)
			for _, k := range t.Keywords {
				if txt == k {
					return true
				}
			}
			return false
		}
		if t.re != nil {
			return t.re.MatchString(ev.Text)
		}
		return true
	case TriggerInteractive:
		if ev.Type != whatsapp.TypeInteractive {
			return false
		}
		var kind, id string
		switch {
		case ev.List != nil:
			kind, id = "list", ev.List.ID
		case ev.Button != nil:
			kind, id = "button", ev.Button.ID
		case ev.Flow != nil:
			kind, id = "flow", ev.Flow.FlowToken
		default:
			return false
		}
		return (t.ReplyType == "" || t.ReplyType == kind) && (t.ID == "" || t.ID == id)
	case TriggerButton:
		if ev.Type != "button" || ev.Button == nil {
			return false
		}
		return t.Payload == "" || t.Payload == ev.Button.ID
	case TriggerMedia:
		if ev.MediaType == "" || !contains(whatsapp.MediaTypes, ev.MediaType) {
			return false
		}
		return t.MediaType == "" || t.MediaType == ev.MediaType
	case TriggerLocation:
		return ev.Type == whatsapp.TypeLocation
	}
	return false
}

// Handle runs the flow whose trigger wins for ev and returns the replies to send, in order.
// No matching trigger is not an error: it returns nil, nil. It is one Step without a stored
// conversation: a flow that asks sends its question, and the answer goes to the triggers.
func (s *Set) Handle(ev Event, c Context) ([]Reply, error) {
	out, err := s.Step(nil, MessageInput(ev), c)
	if err != nil {
		return nil, err
	}
	return out.Replies, nil
}

// Start runs flowName from nodeID (its first node when empty) without an inbound event, as
// gtc send --flow and the send API do; c.Vars fill the templates. Like Handle, it is one
// Step without a stored conversation.
func (s *Set) Start(flowName, nodeID string, c Context) ([]Reply, error) {
	out, err := s.Step(nil, StartInput(flowName, nodeID, nil), c)
	if err != nil {
		return nil, err
	}
	return out.Replies, nil
}

// NewEnv builds the expression environment of a run.
func NewEnv(ev *Event, c Context) *Env {
	env := &Env{
		Vars:            c.Vars,
		User:            c.User,
		Now:             c.Now,
		LastMessageTime: c.LastMessageTime,
		Tenant:          c.Tenant,
		Team:            c.Team,
		Contact:         ContactEnv{WaID: c.To},
		Settings:        settingsEnv(c.Settings),
	}
	if env.Vars == nil {
		env.Vars = map[string]any{}
	}
	if env.User == nil {
		env.User = map[string]any{}
	}
	if ev == nil {
		return env
	}
	env.Message = MessageEnv{ID: ev.MessageID, Type: ev.Type, Text: ev.Text, From: ev.From, Timestamp: ev.Timestamp, MediaType: ev.MediaType, Form: map[string]any{}}
	if ev.Flow != nil && ev.Flow.Response != nil {
		env.Message.Form, _ = jsonPlain(ev.Flow.Response).(map[string]any)
	}
	env.Contact.Name = ev.ContactName
	if ev.From != "" {
		env.Contact.WaID = ev.From
	}
	if ev.Button != nil {
		env.Button = ButtonEnv{ID: ev.Button.ID, Title: ev.Button.Title}
	}
	if ev.List != nil {
		env.List = ListEnv{ID: ev.List.ID, Title: ev.List.Title, Description: ev.List.Description}
	}
	if ev.Location != nil {
		env.Location = LocationEnv{Latitude: ev.Location.Latitude, Longitude: ev.Location.Longitude, Name: ev.Location.Name, Address: ev.Location.Address}
	}
	return env
}

// Choose evaluates a branch's conditions in order and returns the next node id: the first
// true condition's, else the default ("" when there is none: the run ends).
func (n *Node) Choose(env *Env) (string, error) {
	for i, c := range n.Conditions {
		if c.prog == nil {
			return "", fmt.Errorf("node %s: condition %d did not compile: run gtc flow validate", n.ID, i+1)
		}
		v, err := runExpr(c.prog, env)
		if err != nil {
			return "", fmt.Errorf("node %s: condition %d (%s): %w", n.ID, i+1, c.Expression, err)
		}
		if b, _ := v.(bool); b {
			return c.Next, nil
		}
	}
	return n.Default, nil
}

// Render builds the reply's request body with every {{ }} rendered in env, and checks the
// rendered values against the Cloud API limits. The recipient is left empty.
func (n *Node) Render(env *Env) (*whatsapp.Message, error) {
	if n.msg == nil {
		return nil, fmt.Errorf("node %s is not a reply", n.ID)
	}
	m, err := cloneMessage(n.msg)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.ID, err)
	}
	for _, f := range n.fields {
		s, err := f.t.render(env)
		if err != nil {
			return nil, &RenderError{Node: n.ID, Path: f.path, Msg: err.Error(), Err: err}
		}
		switch {
		case f.required && strings.TrimSpace(s) == "":
			return nil, &RenderError{Node: n.ID, Path: f.path, Msg: "rendered empty: set the variables it uses"}
		case f.max > 0 && utf8.RuneCountInString(s) > f.max:
			return nil, &RenderError{Node: n.ID, Path: f.path, Msg: fmt.Sprintf("rendered to %d characters, the Cloud API allows %d", utf8.RuneCountInString(s), f.max)}
		case f.url:
			if err := checkURL(s); err != nil {
				return nil, &RenderError{Node: n.ID, Path: f.path, Msg: err.Error(), Err: err}
			}
		}
		*f.ref(m) = s
	}
	for _, f := range n.values {
		if err := f.render(env, m); err != nil {
			return nil, &RenderError{Node: n.ID, Path: f.path, Msg: err.Error(), Err: err}
		}
	}
	return m, nil
}

// RenderError is a reply that did not render: Path is the JSON path of the field in the
// node's config (text.body, template.components[0]...), Msg what went wrong.
type RenderError struct {
	Node, Path, Msg string
	Err             error // the cause, when there is one (an expression's error)
}

func (e *RenderError) Error() string { return fmt.Sprintf("node %s: %s: %s", e.Node, e.Path, e.Msg) }
func (e *RenderError) Unwrap() error { return e.Err }

// cloneMessage deep-copies m through its JSON form, which is all a Message is.
func cloneMessage(m *whatsapp.Message) (*whatsapp.Message, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("copy message: %w", err)
	}
	var out whatsapp.Message
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("copy message: %w", err)
	}
	return &out, nil
}

// Only returns a set with just the flow called name (for trying one flow's triggers).
func (s *Set) Only(name string) *Set {
	out := &Set{byName: map[string]*Flow{}}
	if f, ok := s.byName[name]; ok {
		out.Flows = []*Flow{f}
		out.byName[name] = f
	}
	for _, t := range s.triggers {
		if t.flow.Name == name {
			out.triggers = append(out.triggers, t)
		}
	}
	out.keep = historyKeep(out.Flows)
	return out
}

// Describe says what the trigger matches and where it is defined.
func (t *Trigger) Describe() string {
	return fmt.Sprintf("%s -> %s (%s:%d)", strings.Join(t.keys(), ", "), t.Target, t.flow.File, t.pos.Line)
}
