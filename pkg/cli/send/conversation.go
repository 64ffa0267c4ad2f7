package send

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/greentic/gtc/pkg/app"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// flowTarget reads --flow or --node and --var: the flow, its node ("" = the first), the
// flag to name in errors, and the start's variables.
func (o *SendOptions) flowTarget() (name, node, flag string, vars map[string]any, err error) {
	name, flag = o.Flow, "--flow"
	if o.Node != "" {
		name, node, _ = strings.Cut(o.Node, "/")
		flag = "--node"
	}
	vars = map[string]any{}
	for _, kv := range o.Vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", "", "", nil, cmdutil.FlagErrorf("--var %q: use name=value", kv)
		}
		vars[k] = v
	}
	return name, node, flag, vars, nil
}

// startConversation sends --flow/--node on a bundle that has state through delivery, as
// the send API does: the replies are recorded with the contact's conversation, so the
// customer's answers continue it in gtc serve (a question waits, its timeout fires there).
func (o *SendOptions) startConversation(ctx context.Context, b *bundle.Bundle, p *bundle.Provider, st *store.Store, client *whatsapp.Client) error {
	name, node, flag, vars, err := o.flowTarget()
	if err != nil {
		return err
	}
	set, err := flow.LoadDir(b.FlowsDir())
	if err != nil {
		return err
	}
	rows, err := app.StartFlowOnce(ctx, app.Config{Bundle: b, Providers: []*bundle.Provider{p}, Flows: set, Store: st,
		LookupEnv: o.LookupEnv, Now: o.Now, NoAPI: true,
		NewClient: func(*bundle.Provider) (*whatsapp.Client, error) { return client, nil }},
		p.Tenant, p.Team, delivery.FlowStart{Flow: name, Node: node, To: o.To, Vars: vars, Origin: store.OriginSend})
	var none *delivery.NoRepliesError
	var nf *delivery.NotFoundError
	switch {
	case errors.As(err, &none):
		return cmdutil.FlagErrorf("%s: the flow produced no message to send", flag)
	case errors.As(err, &nf):
		return cmdutil.FlagErrorf("%s: %v", flag, err)
	case errors.Is(err, context.Canceled):
		return cmdutil.ErrCancelled
	case err != nil:
		return fmt.Errorf("%s: %w", flag, err)
	}
	enc := json.NewEncoder(o.IO.Out)
	for _, r := range rows {
		switch r.State {
		case store.OutRefused:
			return &Refusal{Reason: r.ErrorClass, Msg: fmt.Sprintf("%s/%s to %s not sent: %s", r.Flow, r.Node, o.To, (&delivery.RefusedError{Reason: r.ErrorClass, Msg: r.ErrorMessage}).Error())}
		case store.OutFailed:
			return &SendError{Err: fmt.Errorf("%s/%s to %s failed: %s (code %d)", r.Flow, r.Node, o.To, r.ErrorClass, r.ErrorCode)}
		case store.OutRetrying, store.OutPending:
			fmt.Fprintf(o.IO.ErrOut, "… %s/%s to %s is queued (%s): gtc serve sends it\n", r.Flow, r.Node, o.To, r.State)
			continue
		case store.OutAmbiguous:
			fmt.Fprintf(o.IO.ErrOut, "… %s/%s to %s: Graph's answer was lost (%s); its status webhook settles it, else gtc serve sends it again after reconcile_window\n",
				r.Flow, r.Node, o.To, r.ErrorMessage)
			continue
		}
		if o.JSON {
			if err := enc.Encode(result{MessageID: r.WAMID, To: o.To, Status: "accepted"}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(o.IO.ErrOut, "✓ sent %s/%s to %s (accepted by the Cloud API; the conversation continues in gtc serve)\n", r.Flow, r.Node, o.To)
		fmt.Fprintln(o.IO.Out, r.WAMID)
	}
	return nil
}
