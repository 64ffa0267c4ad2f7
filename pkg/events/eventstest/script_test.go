package eventstest

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/greentic/gtc/pkg/events"
)

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"eventsink": ScriptCmd,
			"deliver":   cmdDeliver,
		},
	})
}

// cmdDeliver posts one handoff.released event to $EVENTS_URL, signed with $EVENTS_SECRET
// (or SECRET): "deliver SEQ CONTACT [SECRET]". It fails unless the event was delivered.
func cmdDeliver(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: deliver SEQ CONTACT [SECRET]")
	}
	seq, err := strconv.ParseInt(args[0], 10, 64)
	ts.Check(err)
	secret := ts.Getenv("EVENTS_SECRET")
	if len(args) == 3 {
		secret = args[2]
	}
	ev := events.NewHandoffReleased(events.Head{ID: events.SeqID(seq), Time: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC),
		Tenant: "acme", Team: "support", Contact: events.ContactFromKey(args[1])}, events.HandoffReleased{By: events.ByTimeout})
	body, err := ev.Marshal()
	ts.Check(err)
	d := events.Deliverer{Timeout: 500 * time.Millisecond}
	res := d.Deliver(context.Background(), events.Target{URL: ts.Getenv("EVENTS_URL"), Secret: secret}, ev.ID, ev.Type, body)
	msg := string(res.Outcome)
	if res.Err != nil {
		msg += ": " + res.Err.Error()
	}
	ts.Logf("deliver %s: %s", ev.ID, msg)
	switch {
	case res.Retry() && !neg:
		ts.Fatalf("deliver %s: %s", ev.ID, msg)
	case !res.Retry() && neg:
		ts.Fatalf("deliver %s: delivered, want a failure", ev.ID)
	}
	if strings.Contains(msg, secret) && secret != "" {
		ts.Fatalf("the result reveals the secret: %s", msg)
	}
}
