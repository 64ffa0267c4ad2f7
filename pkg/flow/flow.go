// Package flow is gtc's .ygtc flow language: it parses flow files with positions, validates
// them (every problem at once, with file:line:col), compiles their expressions, and runs
// them. The engine (Set.Step) has no I/O: it turns a conversation's state and one input (a
// message, a start, a timeout, a call's result, a release) into the replies to send, the
// next state and effects (wait, call, hand off) for the caller to run. See docs/flows.md.
package flow

import (
	"regexp"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// Ext is the file extension of flow files.
const Ext = ".ygtc"

// Node types.
const (
	NodeReply   = "reply"
	NodeBranch  = "branch"
	NodeAsk     = "ask"     // send a question, wait for the answer
	NodeSet     = "set"     // set conversation (vars) and contact (user) variables
	NodeGoto    = "goto"    // continue in another flow
	NodeHTTP    = "http"    // call a backend (an effect the caller runs)
	NodeAI      = "ai"      // ask an OpenAI-compatible model (an effect the caller runs)
	NodeHandoff = "handoff" // hand the contact to a person
)

// NodeTypes lists every node type.
var NodeTypes = []string{NodeReply, NodeBranch, NodeAsk, NodeSet, NodeGoto, NodeHTTP, NodeAI, NodeHandoff}

// Trigger types.
const (
	TriggerMessage     = "message"     // any inbound message
	TriggerText        = "text"        // a text message, optionally by keywords or regex
	TriggerInteractive = "interactive" // a reply-button or list reply, optionally by kind and id
	TriggerButton      = "button"      // a template quick-reply button, optionally by payload
	TriggerMedia       = "media"       // an image, video, audio, document or sticker
	TriggerLocation    = "location"    // a shared location
)

// MaxSteps bounds the nodes one run may visit, so that a flow whose replies loop through
// next forever still ends.
const MaxSteps = 100

// Flow is one parsed and compiled .ygtc file.
type Flow struct {
	File        string
	Name        string
	Version     string
	Description string
	Nodes       []*Node
	Triggers    []*Trigger

	byID      map[string]*Node
	pos       pos
	userReads []userRead
	// unreachable are the nodes no trigger, next or first node reaches within the flow.
	unreachable []unreachable
}

// Node returns the node with id, if any.
func (f *Flow) Node(id string) (*Node, bool) {
	n, ok := f.byID[id]
	return n, ok
}

// Node is a reply or a branch.
type Node struct {
	ID   string
	Type string
	// Next is the node run after this reply, if any.
	Next string

	// Reply nodes.
	RetryOnRateLimit bool
	msg              *whatsapp.Message // the request body with literal strings in place
	fields           []field           // the templated strings, rendered at send time
	values           []valueField      // the templated strings inside Flow data

	// Branch nodes.
	Conditions []*Condition
	Default    string

	// The nodes of conversations (DESIGN.md §8–10); the one matching Type is set. An ask's
	// question, when it has one, is the reply part above (Render, Message).
	Ask     *Ask
	Set     *SetConfig
	Goto    *Goto
	HTTP    *HTTPConfig
	AI      *AIConfig
	Handoff *HandoffConfig

	pos     pos
	nextPos pos
	defPos  pos
}

// Message returns a copy of the reply's request body as written, before templates are
// rendered and without a recipient. It is nil for branch nodes.
func (n *Node) Message() *whatsapp.Message {
	if n.msg == nil {
		return nil
	}
	m, _ := cloneMessage(n.msg)
	return m
}

// Condition is one `expression → next` of a branch.
type Condition struct {
	Expression string
	Next       string

	prog    *vm.Program
	pos     pos // of the expression
	nextPos pos
}

// Trigger starts a flow at Target when an inbound message matches.
type Trigger struct {
	Type   string
	Target string
	// Text triggers: any of Keywords (whole message, case-insensitive, trimmed) or Regex.
	Keywords []string
	Regex    string
	// Interactive triggers: ReplyType button|list|flow and the chosen ID (a submitted
	// Flow's flow_token).
	ReplyType string
	ID        string
	// Button triggers (template quick replies): the payload.
	Payload string
	// Media triggers: image|video|audio|document|sticker.
	MediaType string
	// Interrupt: the trigger also fires while a conversation waits for an answer, ending it.
	Interrupt bool

	re    *regexp.Regexp
	flow  *Flow
	index int // position in the flow's trigger list
	pos   pos
	tpos  pos // of target
}

// Event is an inbound message as the flow engine sees it.
type Event struct {
	Type        string // text, interactive, button, image, video, audio, document, sticker, location, ...
	MessageID   string
	From        string
	Timestamp   int64
	ContactName string
	Text        string
	// Button is the chosen reply button (interactive) or template quick reply (button; ID is
	// the payload).
	Button *whatsapp.ButtonReply
	List   *whatsapp.ListReply
	// MediaType is set for media messages.
	MediaType string
	Location  *whatsapp.InboundLocation
	// Media is the received media (id, mime type, caption), for media messages.
	Media *whatsapp.InboundMedia
	// Flow is a submitted WhatsApp Flow form (interactive nfm_reply), with its
	// response_json parsed.
	Flow *whatsapp.FlowReply
}

// EventFromInbound converts an inbound message from the webhook into an Event.
func EventFromInbound(m *whatsapp.InboundMessage) Event {
	if m == nil {
		return Event{}
	}
	ev := Event{
		Type:        m.Type,
		MessageID:   m.ID,
		From:        m.ContactKey(),
		Timestamp:   m.Timestamp,
		ContactName: m.ContactName,
		Text:        m.Text,
		Button:      m.Button,
		List:        m.List,
		Location:    m.Location,
		Flow:        m.FlowReply,
	}
	if m.Media != nil {
		md := *m.Media
		ev.Media = &md
		ev.MediaType = m.Media.Type
		if ev.MediaType == "" {
			ev.MediaType = m.Type
		}
		if ev.Text == "" {
			ev.Text = m.Media.Caption
		}
	}
	return ev
}

// Context is what a run knows besides the event: who it talks to and the variables.
type Context struct {
	Tenant string
	Team   string
	// To is the recipient of the replies (E.164 digits or wa_id).
	To string
	// ReplyTo, when set, is the inbound message id replies quote (message.context).
	ReplyTo string
	// Now and LastMessageTime are Unix seconds.
	Now             int64
	LastMessageTime int64
	Vars            map[string]any

	// User is the contact's persisted user.* variables (read-only here: Step returns
	// updates in Outcome.UserUpdates).
	User map[string]any
	// Secret looks up secrets.NAME for http and ai nodes (secrets.env, then the
	// environment). Nil: every secret is missing.
	Secret func(name string) (string, bool)
	// Settings are the bundle settings flows read as settings.NAME (SettingNames; in
	// delivery bundle.Provider.FlowSettings). A name missing reads as "".
	Settings map[string]string
	// ConversationTimeout applies to asks without a timeout (0: DefaultConversationTimeout).
	ConversationTimeout time.Duration
	// NewID names a conversation Step starts (nil: an id derived from the contact and time).
	NewID func() string
}

// Reply is one request body the engine wants sent, in order.
type Reply struct {
	Flow             string
	Node             string
	Message          whatsapp.Message
	RetryOnRateLimit bool
}

type pos struct{ Line, Col int }
