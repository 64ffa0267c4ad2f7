package send

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// recorder writes what gtc send sends into the bundle's state database (origin "send"), so
// gtc messages and gtc doctor show it and status webhooks received by gtc serve land on it
// (they match by wamid). Each message is recorded as pending before the call, with this
// process as its sender (so a gtc serve never sends it too), and finished after it.
type recorder struct {
	st     *store.Store
	tenant string
	team   string
	sender string
}

// openRecorder opens the state database ($GTC_DATABASE_URL, else serve.database) when it
// exists; nil when the bundle has none (gtc send never creates one).
func openRecorder(ctx context.Context, b *bundle.Bundle, p *bundle.Provider) (*recorder, error) {
	st, err := cmdutil.OpenState(ctx, b)
	if errors.Is(err, cmdutil.ErrNoState) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return &recorder{st: st, tenant: p.Tenant, team: p.Team, sender: fmt.Sprintf("cli:%s:%d", host, os.Getpid())}, nil
}

func (r *recorder) Close() {
	if r != nil {
		r.st.Close()
	}
}

// start records m as pending and returns its id (0 without a database).
func (r *recorder) start(ctx context.Context, m *whatsapp.Message) (int64, error) {
	if r == nil {
		return 0, nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("encode message: %w", err)
	}
	ids, err := r.st.RecordOutbound(ctx, r.tenant, r.team, []store.NewOutbound{{ContactKey: delivery.ContactKeyOf(m.To),
		Recipient: m.To, Origin: store.OriginSend, MessageType: m.Type, Request: raw, Sender: r.sender}})
	if err != nil {
		return 0, fmt.Errorf("record the message in the state database: %w", err)
	}
	return ids[0], nil
}

// finish records the outcome of the send of row id.
func (r *recorder) finish(ctx context.Context, id int64, res *whatsapp.SendResult, sendErr error) error {
	if r == nil || id == 0 {
		return nil
	}
	out := store.OutboundResult{State: store.OutSent, Attempted: true}
	switch {
	case sendErr != nil:
		out.State = store.OutFailed
		out.ErrorClass = string(whatsapp.ClassOf(sendErr))
		out.ErrorCode = whatsapp.CodeOf(sendErr)
		out.ErrorMessage = sendErr.Error()
	case res != nil:
		out.WAMID = res.MessageID
	}
	// The send happened (or failed) whatever the caller does now: record it even when
	// the command was cancelled meanwhile.
	if err := r.st.FinishOutbound(context.WithoutCancel(ctx), id, out); err != nil {
		return fmt.Errorf("record the send in the state database: %w", err)
	}
	return nil
}
