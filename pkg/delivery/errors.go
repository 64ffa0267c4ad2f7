package delivery

import (
	"errors"
	"fmt"
	"time"

	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
)

// ErrStopped is returned by Ingest after Stop, and by Ready before Start.
var ErrStopped = errors.New("delivery is not running")

// ErrUnknownProvider is returned by Send and StartFlow for a tenant/team without an enabled
// provider.
var ErrUnknownProvider = errors.New("no enabled provider for this tenant/team")

// ErrNoFlows is returned by StartFlow when the service has no flows loaded.
var ErrNoFlows = errors.New("no flows loaded")

// NotFoundError is a flow start naming a flow or node that does not exist.
type NotFoundError struct {
	What       string // "flow" or "node"
	Flow, Node string
	Err        error // the engine's error, which lists what exists
}

func (e *NotFoundError) Error() string { return e.Err.Error() }
func (e *NotFoundError) Unwrap() error { return e.Err }

// RunError is a flow start that failed while running (a missing variable, a template that
// renders empty or too long).
type RunError struct {
	Flow string
	Err  error
}

func (e *RunError) Error() string { return e.Err.Error() }
func (e *RunError) Unwrap() error { return e.Err }

// NoRepliesError is a flow start that sends nothing from its node.
type NoRepliesError struct{ Flow string }

func (e *NoRepliesError) Error() string {
	return fmt.Sprintf("flow %s sends nothing from this node", e.Flow)
}

// RenderError is a reply config that does not render; Path is the JSON path of the field
// at fault (message, template.name, ...).
type RenderError struct {
	Path string
	Msg  string
	Err  error
}

func (e *RenderError) Error() string { return e.Msg }
func (e *RenderError) Unwrap() error { return e.Err }

// newRenderError types a render failure by its JSON path (pkg/flow's *flow.RenderError);
// any other error keeps the whole message, with no path.
func newRenderError(err error) *RenderError {
	var re *flow.RenderError
	if errors.As(err, &re) {
		return &RenderError{Path: re.Path, Msg: re.Path + ": " + re.Msg, Err: err}
	}
	return &RenderError{Msg: err.Error(), Err: err}
}

// RefusedError is a message gtc would not send: Reason is ReasonOptedOut,
// ReasonWindowClosed, ReasonTemplateNotSendable (or ReasonNoProvider); ID is its outbound
// row, 0 when none was recorded; Msg, when set, says it in full (a template's status, reason
// and date).
type RefusedError struct {
	Reason string
	ID     int64
	Msg    string
}

func (e *RefusedError) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	switch e.Reason {
	case ReasonOptedOut:
		return "the contact opted out: gtc sends nothing to them until they opt in again"
	case ReasonWindowClosed:
		return "the 24-hour customer service window is closed: send an approved template instead"
	case ReasonMessagingLimit:
		return "the messaging limit is reached: this template would open a new business-initiated conversation, and the business portfolio (or number) reached its limit for the last 24 hours; retry when the 24 hours roll, or raise the limit with Meta and in the bundle (portfolio.messaging_limit or messaging_limit)"
	}
	return "gtc refused to send this message: " + e.Reason
}

// TemplateRefusedError is a template gtc refused because Meta paused, disabled or rejected
// it (TemplateRefusal): its status as last seen, Meta's reason, and since when.
type TemplateRefusedError struct {
	Name, Language string
	Status, Reason string
	Since          time.Time
	Source         string // store.TemplateSourceWebhook or store.TemplateSourceGraph
}

func (e *TemplateRefusedError) Error() string {
	msg := fmt.Sprintf("template %s (%s) is %s", e.Name, e.Language, e.Status)
	if !e.Since.IsZero() && e.Source != store.TemplateSourceGraph {
		// A status read from Graph's list just now says nothing of since when.
		msg += " since " + e.Since.UTC().Format(time.RFC3339)
	}
	if e.Reason != "" {
		msg += " (reason: " + e.Reason + ")"
	}
	return msg + ": Meta refuses to send it; gtc did not try\n  " + templateAdvice(e.Status)
}

// Unwrap makes it a *RefusedError with ReasonTemplateNotSendable, as every refusal.
func (e *TemplateRefusedError) Unwrap() error {
	return &RefusedError{Reason: ReasonTemplateNotSendable, Msg: e.Error()}
}

func templateAdvice(status string) string {
	switch status {
	case "PAUSED":
		return "Meta paused it after customers blocked or reported it: WhatsApp Manager → Message templates shows why and when it resumes; send another template meanwhile"
	case "DISABLED":
		return "Meta disabled it for repeated low quality: create a new template (gtc templates list shows the others)"
	case "REJECTED":
		return "read the rejection reason in WhatsApp Manager → Message templates, edit the template and submit it again"
	case "PENDING", "IN_APPEAL":
		return "wait for Meta's review (usually minutes to a day), then send again"
	}
	return "check the template in WhatsApp Manager → Message templates"
}
