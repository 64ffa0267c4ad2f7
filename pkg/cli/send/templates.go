package send

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// ReasonTemplateNotSendable is the Refusal reason of a template Graph lists as PAUSED,
// DISABLED, REJECTED or otherwise not APPROVED.
const ReasonTemplateNotSendable = "template_not_sendable"

// TemplateRefusal is a template gtc send refused before sending, because the business
// account's template list says Meta would refuse it. Exit code 1.
type TemplateRefusal struct {
	Name, Language string
	Status         string // PAUSED, DISABLED, REJECTED, PENDING, …
	Reason         string // rejected_reason, "" or NONE when Graph gave none
}

func (e *TemplateRefusal) Error() string {
	msg := fmt.Sprintf("template %s (%s) is %s", e.Name, e.Language, e.Status)
	if e.Reason != "" && e.Reason != "NONE" {
		msg += " (reason: " + e.Reason + ")"
	}
	return msg + ": Meta refuses to send it; gtc did not try\n  " + templateAdvice(e.Status)
}

// Unwrap lets callers decide by type, as for the other refusals.
func (e *TemplateRefusal) Unwrap() error {
	return &Refusal{Reason: ReasonTemplateNotSendable, Msg: e.Error()}
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

// templateBook looks the templates a send uses up in the business account's list, once,
// and marks marketing ones (the Marketing Messages API takes them when the bundle says so).
type templateBook struct {
	client *whatsapp.Client
	warn   io.Writer
	loaded bool
	list   []whatsapp.TemplateInfo
}

// check refuses m when it is a template the list says is not sendable, and marks a
// marketing template. A template that is not in the list, or a list Graph did not give, is
// left to Graph to judge (its error says what is wrong).
func (tb *templateBook) check(ctx context.Context, m *whatsapp.Message) error {
	if tb == nil || tb.client == nil || m.Type != whatsapp.TypeTemplate || m.Template == nil {
		return nil
	}
	if !tb.loaded {
		tb.loaded = true
		list, err := tb.client.ListTemplates(ctx)
		switch {
		case errors.Is(err, whatsapp.ErrNoBusinessAccount):
			// no account to ask: Graph judges the send
		case errors.Is(err, context.Canceled):
			return err
		case err != nil:
			fmt.Fprintf(tb.warn, "warning: could not read the templates' status (%s); sending anyway\n", firstLine(err.Error()))
		default:
			tb.list = list
		}
	}
	for i := range tb.list {
		t := &tb.list[i]
		if t.Name != m.Template.Name || t.Language != m.Template.Language.Code {
			continue
		}
		if !t.Sendable() {
			return &TemplateRefusal{Name: t.Name, Language: t.Language, Status: t.Status, Reason: t.RejectedReason}
		}
		m.Marketing = strings.EqualFold(t.Category, "MARKETING")
		return nil
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
