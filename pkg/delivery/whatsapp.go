package delivery

import (
	"context"
	"errors"
	"time"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// ClientSender adapts a whatsapp.Client to Sender (and to Pacer when the client has one).
func ClientSender(c *whatsapp.Client) Sender { return clientSender{c} }

type clientSender struct{ c *whatsapp.Client }

func (s clientSender) Send(ctx context.Context, m *whatsapp.Message) (string, error) {
	r, err := s.c.Send(ctx, m)
	if err != nil {
		return "", err
	}
	return r.MessageID, nil
}

func (s clientSender) SendContacts(ctx context.Context, m *whatsapp.Message) (string, []whatsapp.SendContact, error) {
	r, err := s.c.Send(ctx, m)
	if err != nil {
		return "", nil, err
	}
	return r.MessageID, r.Contacts, nil
}

func (s clientSender) MarkRead(ctx context.Context, wamid string) error {
	return s.c.MarkRead(ctx, wamid, false)
}

func (s clientSender) Typing(ctx context.Context, wamid string) error {
	return s.c.MarkRead(ctx, wamid, true)
}

func (s clientSender) Delay(recipient string) time.Duration {
	if p := s.c.Pacer(); p != nil {
		return p.Delay(recipient)
	}
	return 0
}

func (s clientSender) BackOff(recipient string, d time.Duration) {
	if p := s.c.Pacer(); p != nil {
		p.BackOff(recipient, d)
	}
}

func (s clientSender) ThreadControl(ctx context.Context, action, user, metadata string) error {
	return s.c.ThreadControl(ctx, action, user, metadata)
}

func (s clientSender) ListTemplates(ctx context.Context) ([]whatsapp.TemplateInfo, error) {
	return s.c.ListTemplates(ctx)
}

// ClassifyError is the default Config.Classify: the Cloud API client's error classes.
func ClassifyError(err error) ErrorInfo {
	class := whatsapp.ClassOf(err)
	info := classInfo(class, whatsapp.CodeOf(err))
	var ge *whatsapp.GraphError
	if errors.As(err, &ge) {
		info.Message = ge.Message
	}
	return info
}

// ClassifyCode is the default Config.ClassifyCode, for failed status webhooks.
func ClassifyCode(code int) ErrorInfo { return classInfo(whatsapp.ClassOfCode(code), code) }

func classInfo(class whatsapp.ErrorClass, code int) ErrorInfo {
	info := ErrorInfo{Class: string(class), Code: code, Message: string(class),
		Transient:   class == whatsapp.ClassTransient,
		RateLimited: class == whatsapp.ClassRateLimited,
		Unreachable: class == whatsapp.ClassUnreachable,
	}
	if info.Class == "" {
		info.Class = string(whatsapp.ClassUnknown)
	}
	return info
}

// DefaultBackoff is the wait before retry n (1-based) of a reply that failed with the Graph
// error code (0: none): whatsapp.RetryDelay at its ceiling (1 s doubling, at most 5 min; at
// least 4^n s after 131056), the function gtc send's client retries with. Jobs are spread by
// the pacer, not by jitter.
func DefaultBackoff(n, code int) time.Duration {
	return whatsapp.RetryDelay(n, code, time.Second, 5*time.Minute, nil)
}
