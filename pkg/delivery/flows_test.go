package delivery

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/flow/starter"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
)

// TestStarterFlowsEndToEnd runs the seed's starter flows through the pipeline: a greeting
// gets the flow's reply, a reply to a message from two days ago (Meta retried it) is
// refused as window_closed.
func TestStarterFlowsEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		set := loadStarter(t)
		h := newHarness(t, be.DSN(t), false)
		h.svc.cfg.Runner = SetRunner(set)
		if err := h.svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.ingest(textEvent("f1", "4915100020", "hello there", tBase), textEvent("f2", "4915100021", "hello", tBase.Add(-48*time.Hour)))
		h.eventually("idle", h.idle)
		fresh := h.outbound("4915100020")
		if len(fresh) == 0 || fresh[0].Flow != "greeting" || fresh[0].State != store.OutSent {
			t.Fatalf("greeting replies = %+v", fresh)
		}
		for _, o := range h.outbound("4915100021") {
			if o.MessageType != "template" && (o.State != store.OutRefused || o.ErrorClass != "window_closed") {
				t.Fatalf("free-form reply to a closed window = %s/%s", o.State, o.ErrorClass)
			}
		}
		if len(h.outbound("4915100021")) == 0 {
			t.Fatal("no flow ran for the old message")
		}
	})
}

func loadStarter(t *testing.T) *flow.Set {
	t.Helper()
	dir := t.TempDir()
	entries, err := starter.FS.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := starter.FS.ReadFile(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := flow.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestStartFlowFollowUp starts the seed's follow_up flow on purpose: free text inside the
// 24-hour window, the template outside it.
func TestStartFlowFollowUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), false)
		h.svc.cfg.Flows = loadStarter(t)
		if err := h.svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		out, err := h.svc.StartFlow(ctx, "acme", "support", FlowStart{Flow: "follow_up", To: "+4915100070"})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 1 || out[0].MessageType != "template" || out[0].State != store.OutSent {
			t.Fatalf("closed window: %+v", out)
		}
		h.ingest(textEvent("wamid.fu", "4915100070", "hi", tBase))
		h.eventually("idle", h.idle)
		out, err = h.svc.StartFlow(ctx, "acme", "support", FlowStart{Flow: "follow_up", To: "+4915100070"})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 1 || out[0].MessageType != "text" || out[0].State != store.OutSent || out[0].Flow != "follow_up" {
			t.Fatalf("open window: %+v", out)
		}
		_, err = h.svc.StartFlow(ctx, "acme", "support", FlowStart{Flow: "no_such_flow", To: "+4915100070"})
		var nf *NotFoundError
		if !errors.As(err, &nf) || nf.What != "flow" {
			t.Fatalf("unknown flow: %v, want a *NotFoundError for the flow", err)
		}
		_, err = h.svc.StartFlow(ctx, "acme", "support", FlowStart{Flow: "follow_up", Node: "nope", To: "+4915100070"})
		if !errors.As(err, &nf) || nf.What != "node" {
			t.Fatalf("unknown node: %v, want a *NotFoundError for the node", err)
		}
	})
}
