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
	return HandleInbound(r.set, flow.EventFromInbound(m), rc)
}
