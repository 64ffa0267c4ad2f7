package flow

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Conversation states: what a conversation waits for.
const (
	StateWaiting = "waiting" // at an ask, for the contact's answer
	StateCalling = "calling" // at an http or ai node, for the call's result
	StateHuman   = "handoff" // with a person, until released
)

// Conversation is the state of one contact's conversation between inputs. The caller
// stores it (with the processed input and the replies, in one transaction) and passes it to
// the next Step. It is plain data and round-trips through JSON.
type Conversation struct {
	ID    string `json:"id"`
	Flow  string `json:"flow"`
	Node  string `json:"node"`
	State string `json:"state"`
	// Vars are the conversation's vars.*: JSON values (string, float64, bool, nil, maps
	// and lists of them).
	Vars map[string]any `json:"vars,omitempty"`
	// Retries counts the invalid answers to the waiting ask.
	Retries int `json:"retries,omitempty"`
	// Choices are the buttons or list rows the waiting ask offered.
	Choices []Choice `json:"choices,omitempty"`
	// FlowToken is the flow_token of the WhatsApp Flow the waiting ask sent: a form
	// submitted with another token answers another question.
	FlowToken string `json:"flow_token,omitempty"`
	// WaitingSince and Deadline are Unix seconds; Deadline 0: no timeout.
	WaitingSince int64 `json:"waiting_since,omitempty"`
	Deadline     int64 `json:"deadline,omitempty"`
	// Step counts the nodes the conversation ran; a call is named by it (Idempotency-Key).
	Step int64 `json:"step"`
	// Queue is the handoff queue while State is StateHuman.
	Queue string `json:"queue,omitempty"`
	// History is the last turns, for ai nodes (at most MaxAIHistory).
	History []Turn `json:"history,omitempty"`
}

// Turn is one message of a conversation's history: role user (the contact) or assistant
// (the bot).
type Turn struct {
	Role string `json:"role"`
	Text string `json:"text"`
}

func (c *Conversation) clone() *Conversation {
	if c == nil {
		return nil
	}
	out := *c
	out.Vars = cloneMap(c.Vars)
	out.Choices = append([]Choice(nil), c.Choices...)
	out.History = append([]Turn(nil), c.History...)
	return &out
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// InputKind says what an Input is.
type InputKind string

// Input kinds.
const (
	InputMessage InputKind = "message" // an inbound message
	InputStart   InputKind = "start"   // an explicit start (send API, gtc send --flow)
	InputTimeout InputKind = "timeout" // a scheduled WaitUntil came due
	InputResult  InputKind = "result"  // the result of a Call
	InputRelease InputKind = "release" // a person hands the contact back
)

// Input is what a Step reacts to. Build it with MessageInput, StartInput, TimeoutInput,
// ResultInput or ReleaseInput.
type Input struct {
	Kind  InputKind `json:"kind"`
	Event *Event    `json:"event,omitempty"`
	// Start: the flow, the node ("" for the first) and vars. Release: where to resume ("":
	// the handoff's on_release; Flow "" the conversation's flow).
	Flow string         `json:"flow,omitempty"`
	Node string         `json:"node,omitempty"`
	Vars map[string]any `json:"vars,omitempty"`
	// Deadline is the Conversation.Deadline a timeout was scheduled for (0: any).
	Deadline int64 `json:"deadline,omitempty"`
	// Step is the Call.Step a result answers (0: any).
	Step   int64       `json:"step,omitempty"`
	Result *CallResult `json:"result,omitempty"`
}

// MessageInput is an inbound message.
func MessageInput(ev Event) Input { return Input{Kind: InputMessage, Event: &ev} }

// StartInput starts flow at node (its first when "") with vars.
func StartInput(flow, node string, vars map[string]any) Input {
	return Input{Kind: InputStart, Flow: flow, Node: node, Vars: vars}
}

// TimeoutInput is the timeout scheduled for deadline (Outcome.WaitUntil).
func TimeoutInput(deadline int64) Input { return Input{Kind: InputTimeout, Deadline: deadline} }

// ResultInput is the result of the call made at step (Call.Step).
func ResultInput(step int64, r CallResult) Input {
	return Input{Kind: InputResult, Step: step, Result: &r}
}

// ReleaseInput hands the contact back to the bot at flow/node, or at the handoff's
// on_release when node is "".
func ReleaseInput(flow, node string) Input { return Input{Kind: InputRelease, Flow: flow, Node: node} }

// CallResult is what running a Call gave. For http: Status, Headers and Body (parsed JSON
// or a string); for ai: Text, FinishReason and Usage. Err is a transport error, a timeout,
// a refused redirect or a body over the limit (after the retries); it must not contain
// secrets.
type CallResult struct {
	Status       int               `json:"status,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
	Body         any               `json:"body,omitempty"`
	Text         string            `json:"text,omitempty"`
	FinishReason string            `json:"finish_reason,omitempty"`
	Usage        map[string]any    `json:"usage,omitempty"`
	Err          string            `json:"error,omitempty"`
}

// EndReason says why a conversation ended.
type EndReason string

// End reasons.
const (
	EndCompleted   EndReason = "completed"   // reached a node with no next and nothing to wait for
	EndInvalid     EndReason = "invalid"     // too many invalid answers, no on_invalid
	EndTimeout     EndReason = "timeout"     // no answer in time, no on_timeout
	EndInterrupted EndReason = "interrupted" // an interrupt trigger started another conversation
	EndReplaced    EndReason = "replaced"    // an explicit start replaced it
	EndFlowEdited  EndReason = "flow_edited" // its flow or node is gone (or changed type)
	EndCallFailed  EndReason = "call_failed" // an http or ai call failed, no on_error
	EndReleased    EndReason = "released"    // a person released it, no on_release
)

// Ended is a conversation that ended during a Step.
type Ended struct {
	ID     string
	Flow   string
	Node   string
	Reason EndReason
	Detail string // for the log, never shown to the contact
}

// Outcome is what a Step decided. The caller sends Replies in order, stores Next (nil: no
// conversation), applies UserUpdates to the contact, and runs the effects: schedules a
// TimeoutInput at WaitUntil, runs Call and feeds back a ResultInput, or hands the contact to
// a person (Handoff).
type Outcome struct {
	Replies     []Reply
	Next        *Conversation
	Ended       []Ended
	UserUpdates map[string]any
	WaitUntil   int64
	Call        *Call
	Handoff     *Handoff
	// Invalid says why the message did not answer the waiting ask (for the log).
	Invalid string
	// Ignored says why the input changed nothing: no trigger matched, a stale timeout or
	// result, a message while with a person. Next is then the conversation as it was.
	Ignored string
}

// Handoff is the effect of a handoff node: the contact is with a person.
type Handoff struct {
	Flow, Node string
	Queue      string
	Note       string // for agents
	Timeout    time.Duration
	Deadline   int64 // Unix seconds, 0: none
}

// ErrCallPending is returned for a message that arrives while the conversation waits for a
// call's result: the caller queues it behind the result (it is not lost, not answered yet).
var ErrCallPending = errors.New("the conversation waits for a call's result: process this message after it")

// ErrWithPerson is returned for an explicit start while a person has the contact.
var ErrWithPerson = errors.New("the contact is with a person: release it first")

// NotFoundError is a flow or node that does not exist.
type NotFoundError struct {
	Flow  string
	Node  string
	Flows []string // the flows there are, when Flow is unknown
}

func (e *NotFoundError) Error() string {
	switch {
	case e.Node == "" && len(e.Flows) > 0:
		return fmt.Sprintf("no flow %s: flows are %s", e.Flow, strings.Join(e.Flows, ", "))
	case e.Node == "":
		return fmt.Sprintf("flow %s has no nodes", e.Flow)
	}
	return fmt.Sprintf("flow %s has no node %s", e.Flow, e.Node)
}

// IdempotencyKey names a conversation's call: the same on every retry of it.
func IdempotencyKey(conversationID string, step int64) string {
	return "gtc-" + conversationID + "-" + strconv.FormatInt(step, 10)
}

func newID(c Context, ev *Event) string {
	if c.NewID != nil {
		return c.NewID()
	}
	h := sha256.New()
	mid := ""
	if ev != nil {
		mid = ev.MessageID
	}
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%s", c.Tenant, c.Team, c.To, c.Now, mid)
	return hex.EncodeToString(h.Sum(nil))[:16]
}
