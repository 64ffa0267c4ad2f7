package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// Conversation Routing: when a number has several responders (another app, Meta's business
// agent), Meta gives each thread one owner. What gtc knows of it is recorded per contact
// (store.Thread: standby copies and control_taken say another responder has it,
// control_passed that gtc does); AnswersThread decides whether a message is answered; an
// agent's handoff takes the thread when another responder has it, and a release may give
// it back to Meta's routing.

// ErrNoThreadControl is returned when the provider's Sender cannot take or release threads.
var ErrNoThreadControl = errors.New("this number's client cannot take or release threads")

// ThreadControlError is a thread control call Graph refused (take by an app that is not
// the business's escalation partner, release of a thread gtc does not control).
type ThreadControlError struct {
	Action  string
	Contact string
	Err     error
}

func (e *ThreadControlError) Error() string {
	msg := fmt.Sprintf("Meta refused to %s the thread with %s", e.Action, e.Contact)
	var ge *whatsapp.GraphError
	if errors.As(e.Err, &ge) && ge.Message != "" {
		msg += ": " + ge.Message
	}
	switch e.Action {
	case whatsapp.ThreadTake:
		msg += " (only the business's escalation partner may take a thread: WhatsApp Manager → Conversation Routing)"
	case whatsapp.ThreadRelease:
		msg += " (gtc can only release a thread it controls)"
	}
	return msg
}

func (e *ThreadControlError) Unwrap() error { return e.Err }

// threadOwnerAfter is who controls a thread after gtc's action succeeded.
var threadOwnerAfter = map[string]string{
	whatsapp.ThreadTake:    store.ThreadGTC,
	whatsapp.ThreadRelease: store.ThreadReleased,
	whatsapp.ThreadPass:    store.ThreadOther,
}

// ThreadControl takes, releases or passes the thread with contact through the Graph API
// and records who controls it now. A refusal by Graph is a *ThreadControlError.
func (s *Service) ThreadControl(ctx context.Context, tenant, team, contact, action, metadata string) error {
	p := s.provider(tenant, team)
	if p == nil {
		return fmt.Errorf("thread control for %s/%s: %w", tenant, team, ErrUnknownProvider)
	}
	owner, ok := threadOwnerAfter[action]
	if !ok {
		return fmt.Errorf("thread control action %q: use take, release or pass", action)
	}
	tc, ok := p.Sender.(ThreadController)
	if !ok {
		return fmt.Errorf("thread control for %s/%s: %w", tenant, team, ErrNoThreadControl)
	}
	ref, err := s.contactRef(ctx, tenant, team, contact)
	if err != nil {
		return err
	}
	if err := tc.ThreadControl(ctx, action, contact, metadata); err != nil {
		var ge *whatsapp.GraphError
		if errors.As(err, &ge) && ge.HTTPStatus >= 400 && ge.HTTPStatus < 500 {
			return &ThreadControlError{Action: action, Contact: contact, Err: err}
		}
		return fmt.Errorf("thread control %s: %w", action, err)
	}
	s.log.Info("thread control", "tenant", tenant, "team", team, "action", action)
	// Cut to the second, as Meta's handover and message times are: a handover Meta sends in
	// the same second is taken as the newer.
	return s.st.SetThread(ctx, tenant, team, store.ThreadUpdate{ContactKey: ref.Key, Owner: owner, Why: action,
		At: s.now().Truncate(time.Second)})
}

// takeThreadIfNeeded takes the thread with contact when another responder has it, so a
// person gtc hands the contact to can write to them.
func (s *Service) takeThreadIfNeeded(ctx context.Context, ref store.ContactRef, contact, by string) error {
	th, err := s.st.ThreadOf(ctx, ref)
	if err != nil {
		return err
	}
	if AnswersThread(th, s.now()) {
		return nil
	}
	return s.ThreadControl(ctx, ref.Tenant, ref.Team, contact, whatsapp.ThreadTake, "handed off to "+byOr(by))
}
