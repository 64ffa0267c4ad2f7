package delivery

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/calls"
	"github.com/greentic/gtc/pkg/fakes/orderapi"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
)

// typing records the typing indicators the fake sender was asked for.
var typingMu sync.Mutex
var typingFor = map[*fakeSender][]string{}

func (f *fakeSender) Typing(ctx context.Context, wamid string) error {
	typingMu.Lock()
	defer typingMu.Unlock()
	typingFor[f] = append(typingFor[f], wamid)
	return nil
}

func (f *fakeSender) typed() []string {
	typingMu.Lock()
	defer typingMu.Unlock()
	return slices.Clone(typingFor[f])
}

const lookupFlow = `name: lookup
version: "1.0"
nodes:
  - id: ask
    type: ask
    config:
      message: "Order?"
      save_as: order_id
    next: call
  - id: call
    type: http
    config:
      url: "ORDERS/{{vars.order_id}}"
      headers:
        Authorization: "Bearer {{secrets.SHOP_TOKEN}}"
      save_as: order
      on_error: down
    next: tell
  - id: tell
    type: branch
    config:
      conditions:
        - expression: "vars.order.ok"
          next: found
      default: missing
  - id: found
    type: reply
    config:
      message: "Order {{vars.order_id}}: {{vars.order.body.status}}"
  - id: missing
    type: reply
    config:
      message: "No order {{vars.order_id}}"
  - id: down
    type: reply
    config:
      message: "The lookup is down"
triggers:
  - type: text
    keywords: [lookup]
    target: ask
`

const helloFlow = `name: hello
version: "1.0"
nodes:
  - id: hi
    type: reply
    config:
      message: "hi there"
triggers:
  - type: text
    keywords: [hello]
    target: hi
`

const shopToken = "tok-9f8e7d6c5b4a-secret"

// callHarness runs the lookup and hello flows against an order API double that wants
// shopToken; logs go to the returned buffer.
func callHarness(t *testing.T, dsn string, slowAfter time.Duration) (*harness, *orderapi.Server, *syncWriter) {
	t.Helper()
	api := orderapi.New(orderapi.Options{Token: shopToken})
	t.Cleanup(api.Close)
	dir := t.TempDir()
	writeFlow(t, dir, "lookup.ygtc", strings.Replace(lookupFlow, "ORDERS", api.OrdersURL(), 1))
	writeFlow(t, dir, "hello.ygtc", helloFlow)
	set, err := flow.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncWriter{w: &bytes.Buffer{}}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHarness(t, dsn, false)
	h.svc.cfg.Runner, h.svc.cfg.Flows, h.svc.log, h.svc.activity = SetRunner(set), set, log, newActivityLog(log)
	p := h.svc.provider("acme", "support")
	p.Calls = &calls.Runner{Logger: log, SlowAfter: slowAfter, Rand: func() float64 { return 0.01 }}
	p.Secret = func(name string) (string, bool) {
		if name == "SHOP_TOKEN" {
			return shopToken, true
		}
		return "", false
	}
	p.Settings = map[string]string{"order_api_url": api.OrdersURL()}
	if err := h.svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h, api, logs
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// The call's result comes back as an input: found, not found (404 goes to next with
// ok=false), and the API down (500 after the retries goes to on_error).
func TestCallResultFedBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h, api, _ := callHarness(t, be.DSN(t), 0)
		const a = "4915100871"
		h.say("c1", a, "lookup", 1)
		got := h.say("c2", a, "12345", 2)
		if got[1] != "Order 12345: shipped" {
			t.Fatalf("found: %q", got)
		}
		if c := h.conversation(a); c.State != nil {
			t.Fatalf("conversation still open: %+v", c)
		}
		h.say("c3", a, "lookup", 3)
		if got := h.say("c4", a, "99999", 4); got[3] != "No order 99999" {
			t.Fatalf("not found: %q", got)
		}
		api.Fail(orderapi.Fault{Status: 500, Times: -1})
		h.say("c5", a, "lookup", 5)
		if got := h.say("c6", a, "12345", 6); got[5] != "The lookup is down" {
			t.Fatalf("down: %q", got)
		}
		reqs := api.Requests()
		if len(reqs) != 2+3 {
			t.Fatalf("requests = %d, want 2 + 3 tries", len(reqs))
		}
		for _, r := range reqs {
			if r.Problem != "" {
				t.Fatalf("the double refused a request: %s", r.Problem)
			}
		}
		last := reqs[2:]
		for _, r := range last {
			if r.IdempotencyKey != last[0].IdempotencyKey {
				t.Fatalf("Idempotency-Key changed across retries: %q, %q", last[0].IdempotencyKey, r.IdempotencyKey)
			}
		}
		if reqs[0].IdempotencyKey == reqs[1].IdempotencyKey {
			t.Fatalf("two calls share an Idempotency-Key: %q", reqs[0].IdempotencyKey)
		}
	})
}

// A message that arrives while the call runs waits (pending, not consumed) and is answered
// after the call's result; a slow call shows the typing indicator on the message that led
// to it.
func TestMessagesWaitForTheCall(t *testing.T) {
	h, api, _ := callHarness(t, "", 100*time.Millisecond)
	api.SetDelay(700 * time.Millisecond)
	const a = "4915100872"
	h.say("w1", a, "lookup", 1)
	h.ingest(textEvent("w2", a, "12345", h.clock()))
	h.eventually("the call to start", func() bool { return len(api.Requests()) > 0 || h.conversation(a).Status == flow.StateCalling })
	h.ingest(textEvent("w3", a, "hello", h.clock()))
	time.Sleep(150 * time.Millisecond)
	if c := h.conversation(a); c.Status == flow.StateCalling {
		evs, err := h.st.PendingEvents(context.Background(), store.ContactRef{Tenant: "acme", Team: "support", Key: a}, 10)
		if err != nil {
			t.Fatal(err)
		}
		// The call's result may already be recorded and waiting for its job (on a loaded
		// machine the 700 ms pass before this look): it is not a message.
		var msgs []string
		for _, e := range evs {
			if e.Kind != store.KindResult {
				msgs = append(msgs, e.MessageID)
			}
		}
		if !slices.Equal(msgs, []string{"w3"}) {
			t.Fatalf("while calling, pending messages = %q, want the hello message", msgs)
		}
	}
	got := h.waitBodies(a, 3)
	if want := []string{"Order?", "Order 12345: shipped", "hi there"}; !slices.Equal(got, want) {
		t.Fatalf("replies = %q, want %q", got, want)
	}
	if typed := h.sender.typed(); !slices.Contains(typed, "w2") {
		t.Fatalf("typing indicator for %q, want w2", typed)
	}
}

// The Idempotency-Key is the same when the job runs the call again after a crash between
// the call and its recorded result, and the repeated result is dropped (one step).
func TestCallAgainAfterCrashSameKey(t *testing.T) {
	h, api, _ := callHarness(t, "", 0)
	const a = "4915100873"
	h.say("k1", a, "lookup", 1)
	api.SetDelay(3 * time.Second)
	h.ingest(textEvent("k2", a, "12345", h.clock()))
	h.eventually("the call to start", func() bool { return h.conversation(a).Status == flow.StateCalling })
	time.Sleep(300 * time.Millisecond) // the try is waiting for the API's answer
	// Crash: stop with a short drain, so the job is cancelled mid-call (its result never
	// recorded); restart on the same database.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	h.svc.Stop(ctx)
	cancel()
	h.st.Close()
	api.SetDelay(0)
	h2 := reopen(t, h, api)
	got := h2.waitBodies(a, 2)
	if got[1] != "Order 12345: shipped" {
		t.Fatalf("after the restart: %q", got)
	}
	keys := map[string]bool{}
	for _, r := range api.Requests() {
		keys[r.IdempotencyKey] = true
	}
	if len(api.Requests()) < 2 || len(keys) != 1 {
		t.Fatalf("requests %d with keys %v: want the call made again with the same key", len(api.Requests()), keys)
	}
	// A result queued twice (the job ran again after recording it) is one input.
	c := h2.conversation(a)
	if c.State != nil || c.LastEnd.Reason != string(flow.EndCompleted) {
		t.Fatalf("conversation: %+v", c)
	}
	n := len(h2.sender.bodies("+" + a))
	args := callArgs{Contact: store.ContactRef{Tenant: "acme", Team: "support", Key: a}, Conversation: "x", Call: &flow.Call{Step: 3}}
	for range 2 {
		if err := h2.svc.queueResult(context.Background(), args, flow.CallResult{Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := h2.st.InboundEvents(context.Background(), store.EventFilter{ContactKey: a, Kind: store.KindResult, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 { // the real one and one of the two repeats
		t.Fatalf("result events = %d, want 2", len(evs))
	}
	h2.eventually("idle", h2.idle)
	if m := len(h2.sender.bodies("+" + a)); m != n {
		t.Fatalf("a stale result sent %d replies", m-n)
	}
}

// reopen starts a new service over h's database, configured like callHarness.
func reopen(t *testing.T, h *harness, api *orderapi.Server) *harness {
	t.Helper()
	h2 := &harness{t: t, path: h.path, sender: h.sender, flows: h.flows}
	h2.now.Store(h.now.Load())
	h2.open(false)
	t.Cleanup(h2.close)
	p := h2.svc.provider("acme", "support")
	hp := h.svc.provider("acme", "support")
	p.Calls, p.Secret, p.Settings = hp.Calls, hp.Secret, hp.Settings
	h2.svc.cfg.Runner, h2.svc.cfg.Flows, h2.svc.log = h.svc.cfg.Runner, h.svc.cfg.Flows, h.svc.log
	if err := h2.svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h2
}

// No secret value reaches the database (job args included) or the logs; the request
// itself carried it (the double accepts only that token).
func TestCallSecretsStayOut(t *testing.T) {
	h, api, logs := callHarness(t, "", 0)
	const a = "4915100874"
	h.say("s1", a, "lookup", 1)
	if got := h.say("s2", a, "12345", 2); got[1] != "Order 12345: shipped" {
		t.Fatalf("replies %q (the token did not reach the API?)", got)
	}
	if rs := api.Requests(); len(rs) != 1 || rs[0].Status != 200 {
		t.Fatalf("requests: %+v", rs)
	}
	h.close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(h.path + suffix)
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(shopToken)) {
			t.Fatalf("the secret is in %s", filepath.Base(h.path+suffix))
		}
	}
	if strings.Contains(logs.String(), shopToken) {
		t.Fatal("the secret is in the logs")
	}
}

func TestWithSecretsEscapes(t *testing.T) {
	lookup := func(n string) (string, bool) { return map[string]string{"K": "a b/c\"d"}[n], n == "K" }
	p := secretPlaceholder("K")
	c := &flow.Call{HTTP: &flow.HTTPRequest{URL: "https://x.test/" + p + "?k=" + p,
		Headers: []flow.HTTPHeader{{Name: "X", Value: "v " + p, Secret: true}}, Body: []byte(`{"k":"` + p + `"}`), ContentType: "application/json"}}
	got, err := withSecrets(c, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if got.HTTP.URL != "https://x.test/a%20b%2Fc%22d?k=a+b%2Fc%22d" {
		t.Errorf("url = %s", got.HTTP.URL)
	}
	if got.HTTP.Headers[0].Value != `v a b/c"d` || string(got.HTTP.Body) != `{"k":"a b/c\"d"}` {
		t.Errorf("header %q body %s", got.HTTP.Headers[0].Value, got.HTTP.Body)
	}
	if !slices.Equal(got.Secrets, []string{`a b/c"d`}) || c.HTTP.URL == got.HTTP.URL {
		t.Errorf("secrets %q, original changed: %v", got.Secrets, c.HTTP.URL == got.HTTP.URL)
	}
	if _, err := withSecrets(&flow.Call{HTTP: &flow.HTTPRequest{URL: "https://x/" + secretPlaceholder("GONE")}}, lookup); err == nil ||
		!strings.Contains(err.Error(), "secret GONE is not set") {
		t.Errorf("missing secret: %v", err)
	}
}

// One info line per inbound input and per reply, with a masked number and never the text;
// under load the lines give way to a summary.
func TestActivityLog(t *testing.T) {
	h, _, logs := callHarness(t, "", 0)
	const a = "4915100875"
	h.say("l1", a, "lookup", 1)
	h.say("l2", a, "12345", 2)
	out := logs.String()
	for _, want := range []string{"msg=inbound", "kind=text", "contact=+49151***875", "result=answered", "msg=reply", "result=sent", "flow=lookup"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	for _, never := range []string{"4915100875", "12345", "Order?"} {
		if strings.Contains(out, never) {
			t.Errorf("logs show %q", never)
		}
	}
	if got := maskContact("US.13491208655302741918"); got != "US.1***" {
		t.Errorf("masked user id %q", got)
	}
}

// More messages wait behind a call than one round reads: the result is still found and
// processed first, then every message in order.
func TestManyMessagesWaitForTheCall(t *testing.T) {
	h, api, _ := callHarness(t, "", 0)
	api.SetDelay(500 * time.Millisecond)
	const a = "4915100876"
	h.say("n1", a, "lookup", 1)
	h.ingest(textEvent("n2", a, "12345", h.clock()))
	h.eventually("the call", func() bool { return h.conversation(a).Status == flow.StateCalling })
	for i := range eventsPerRound + 8 {
		h.ingest(textEvent(fmt.Sprintf("n3-%d", i), a, "hello", h.clock()))
	}
	got := h.waitBodies(a, 2+eventsPerRound+8)
	if got[1] != "Order 12345: shipped" || got[len(got)-1] != "hi there" {
		t.Fatalf("replies %q", got)
	}
}
