package delivery

import (
	"context"

	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// SetRunner adapts a flow.Set to FlowRunner.
func SetRunner(set *flow.Set) FlowRunner { return setRunner{set} }

type setRunner struct{ set *flow.Set }

func (r setRunner) Handle(ctx context.Context, m *whatsapp.InboundMessage, rc RunContext) ([]Reply, error) {
	out, err := r.set.Handle(flow.EventFromInbound(m), flow.Context{Tenant: rc.Tenant, Team: rc.Team, To: rc.To,
		ReplyTo: rc.ReplyTo, Now: rc.Now, LastMessageTime: rc.LastMessageTime})
	if err != nil {
		return nil, err
	}
	replies := make([]Reply, len(out))
	for i, r := range out {
		replies[i] = Reply{Flow: r.Flow, Node: r.Node, Message: r.Message, RetryOnRateLimit: r.RetryOnRateLimit}
	}
	return replies, nil
}
