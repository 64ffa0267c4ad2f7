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

// recorder writes what gtc send sent into the bundle's state database (origin "send"), so
// gtc messages and gtc doctor show it and status webhooks received by gtc serve land on it
// (they match by wamid; statuses that came first are applied when the wamid is recorded).
// A message is recorded after its call, never before: a pending row is work that a gtc serve
// starting on a SQLite database takes over, so recording first could send it twice.
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

// record records m and the outcome of its send: sent with its wamid, or failed with the
// error's class and code. Nothing without a database.
func (r *recorder) record(ctx context.Context, m *whatsapp.Message, res *whatsapp.SendResult, sendErr error) error {
	if r == nil {
		return nil
	}
	// The send happened (or failed) whatever the caller does now: record it even when
	// the command was cancelled meanwhile.
	ctx = context.WithoutCancel(ctx)
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	// Its sender marks the row as this process's for the moment between the two writes.
	ids, err := r.st.RecordOutbound(ctx, r.tenant, r.team, []store.NewOutbound{{ContactKey: delivery.ContactKeyOf(m.To),
		Recipient: m.To, Origin: store.OriginSend, MessageType: m.Type, Request: raw, Sender: r.sender}})
	if err != nil {
		return fmt.Errorf("record the message in the state database: %w", err)
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
	if err := r.st.FinishOutbound(ctx, ids[0], out); err != nil {
		return fmt.Errorf("record the send in the state database: %w", err)
	}
	return nil
}
