package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// A reply that fails transiently twice is retried twice: the second retry is scheduled by
// a send job for the same reply, which a unique-by-args job would have silently dropped.
func TestRetryOfARetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), true)
		const a = "4915100777"
		h.sender.failNext("+"+a, errors.New("503 once"), errors.New("503 twice"))
		h.ingest(textEvent("rr1", a, "hello", tBase))
		h.eventually("sent after two retries", func() bool { return len(h.sender.sentTo("+"+a)) == 1 && h.idle() })
		out := h.outbound(a)
		if len(out) != 1 || out[0].State != store.OutSent || out[0].Attempts != 3 || out[0].Sender != "" {
			t.Fatalf("reply = %+v", out[0])
		}
	})
}

// instance is one Service on a shared database, as a second `gtc serve` would run it.
type instance struct {
	st  *store.Store
	svc *Service
}

// startInstance starts a Service on dsn. deadAfter is how long the others wait before
// taking its work over: short only where a test kills an instance, as a loaded machine
// can stall a live one's heartbeat for a second.
func startInstance(t *testing.T, dsn, name string, sender Sender, flows FlowRunner, clock func() time.Time, workers int, deadAfter time.Duration) *instance {
	t.Helper()
	return startInstanceWith(t, dsn, name, sender, flows, clock, workers, deadAfter, nil)
}

// startInstanceWith is startInstance with edit, when set, changing the config first.
func startInstanceWith(t *testing.T, dsn, name string, sender Sender, flows FlowRunner, clock func() time.Time, workers int, deadAfter time.Duration, edit func(*Config)) *instance {
	t.Helper()
	st, err := store.Open(context.Background(), dsn, store.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Providers:    []Provider{{Tenant: "acme", Team: "support", PhoneNumberID: "123", Sender: sender}},
		Runner:       flows,
		Store:        st,
		Classify:     classify,
		ClassifyCode: classifyCode,
		Now:          clock,
		Workers:      workers,
		PollInterval: 5 * time.Millisecond,
		Backoff:      func(int, int) time.Duration { return 20 * time.Millisecond },
		Instance:     name,
		Heartbeat:    100 * time.Millisecond,
		DeadAfter:    deadAfter,
	}
	if edit != nil {
		edit(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	in := &instance{st: st, svc: svc}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		svc.Stop(ctx)
		st.Close()
	})
	return in
}

// Two instances on one PostgreSQL database: a message delivered to both is processed once,
// each contact's replies keep their order, and an opt-out recorded through one instance
// holds on the other.
func TestTwoInstancesShareOneDatabase(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	sender, flows := newFakeSender(), &echoFlows{}
	clock := func() time.Time { return tBase }
	a := startInstance(t, dsn, "a", sender, flows, clock, 4, time.Minute)
	b := startInstance(t, dsn, "b", sender, flows, clock, 4, time.Minute)
	both := []*instance{a, b}

	const contacts, perContact = 12, 10
	var wg sync.WaitGroup
	for c := range contacts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := fmt.Sprint(4915104000 + c)
			for i := range perContact {
				ev := textEvent(fmt.Sprintf("w%d-%d", c, i), from, strconv.Itoa(i), tBase)
				targets := []*instance{both[(c+i)%2]}
				if i%3 == 0 {
					targets = both // the same webhook reaches both instances
				}
				for _, in := range targets {
					if err := in.svc.Ingest(context.Background(), "acme", "support", []whatsapp.Event{ev}); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	idle := func() bool {
		d, err := a.st.QueueDepth(context.Background())
		return err == nil && d.PendingEvents == 0 && d.OpenOutbound == 0
	}
	waitFor(t, "both instances idle", func() bool { return sender.total() == contacts*perContact && idle() })
	if got := flows.runs.Load(); got != contacts*perContact {
		t.Fatalf("flow runs = %d, want %d (one per message)", got, contacts*perContact)
	}
	for c := range contacts {
		to := fmt.Sprint("+", 4915104000+c)
		var want []string
		for i := range perContact {
			want = append(want, "echo: "+strconv.Itoa(i))
		}
		if got := sender.sentTo(to); !slices.Equal(got, want) {
			t.Errorf("%s got %q, want %q (each once, in order)", to, got, want)
		}
	}

	// STOP through a, then a message through b: b refuses the reply.
	const x = "4915104999"
	if err := a.svc.Ingest(context.Background(), "acme", "support", []whatsapp.Event{textEvent("stop1", x, "STOP", tBase)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "opt-out confirmed", func() bool { return len(sender.sentTo("+"+x)) == 1 && idle() })
	if err := b.svc.Ingest(context.Background(), "acme", "support", []whatsapp.Event{textEvent("after-stop", x, "hi", tBase)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "message after STOP processed", idle)
	if got := sender.sentTo("+" + x); len(got) != 1 || !strings.Contains(got[0], "unsubscribed") {
		t.Fatalf("opted-out contact got %q", got)
	}
	out, err := b.st.OutboundMessages(context.Background(), store.OutboundFilter{ContactKey: x, Limit: 10})
	if err != nil || len(out) != 2 || out[0].State != store.OutRefused || out[0].ErrorClass != "opted_out" {
		t.Fatalf("outbound after STOP = %+v, %v", out, err)
	}
}

// blockingSender holds every send until released, like a Graph call in flight when the
// instance dies.
type blockingSender struct {
	*fakeSender
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingSender) Send(ctx context.Context, m *whatsapp.Message) (string, error) {
	b.once.Do(func() { close(b.started) })
	<-b.release // frozen: not even cancellation reaches it
	return b.fakeSender.Send(ctx, m)
}

// An instance that stops heartbeating (dead) while holding a contact and sending a reply:
// the other instance takes the contact over after DeadAfter; the reply, which may have
// reached Graph, waits as ambiguous until its status webhook settles it.
func TestDeadInstanceWorkTakenOver(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	flows := &echoFlows{}
	clock := func() time.Time { return tBase }
	stuck := &blockingSender{fakeSender: newFakeSender(), started: make(chan struct{}), release: make(chan struct{})}
	defer close(stuck.release)
	// One worker, stuck in the send: like a frozen process, a takes no other job.
	a := startInstance(t, dsn, "a", stuck, flows, clock, 1, time.Second)
	const x = "4915105000"
	if err := a.svc.Ingest(context.Background(), "acme", "support", []whatsapp.Event{textEvent("d1", x, "first", tBase)}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stuck.started:
	case <-time.After(15 * time.Second):
		t.Fatal("instance a never started sending")
	}
	a.svc.stopHeartbeat() // a is "dead" from here on: its job is stuck in the send

	live := newFakeSender()
	b := startInstance(t, dsn, "b", live, flows, clock, 4, time.Second)
	if err := b.svc.Ingest(context.Background(), "acme", "support", []whatsapp.Event{textEvent("d2", x, "second", tBase)}); err != nil {
		t.Fatal(err)
	}
	// a's reply was on its way to Graph: b does not send it again (it may have gone out) but
	// waits for its status webhook; the contact's next message is answered.
	waitFor(t, "b took over a's contact", func() bool { return len(live.sentTo("+"+x)) == 1 })
	if got := live.sentTo("+" + x); !slices.Equal(got, []string{"echo: second"}) {
		t.Fatalf("b sent %q", got)
	}
	out, err := b.st.OutboundMessages(context.Background(), store.OutboundFilter{ContactKey: x, Limit: 10})
	if err != nil || len(out) != 2 || out[1].State != store.OutAmbiguous || out[1].Attempts != 1 {
		t.Fatalf("replies = %+v, %v; want the first ambiguous", out, err)
	}
	st := whatsapp.Event{Kind: whatsapp.EventStatus, Field: "messages", Status: &whatsapp.Status{ID: "wamid.by-a", Status: "delivered",
		Timestamp: tBase.Unix(), RecipientID: x, BizOpaqueCallbackData: whatsapp.Callback{OutboundID: out[1].ID, Attempt: 1, Created: out[1].CreatedAt.UnixMilli()}.String()}}
	if err := b.svc.Ingest(context.Background(), "acme", "support", []whatsapp.Event{st}); err != nil {
		t.Fatal(err)
	}
	if o, err := b.st.OutboundByID(context.Background(), out[1].ID); err != nil || o.State != "delivered" || o.WAMID != "wamid.by-a" {
		t.Fatalf("after its status: %+v, %v", o, err)
	}
	if ins, _ := b.st.Instances(context.Background()); len(ins) != 1 {
		t.Fatalf("instances = %v, want only b", ins)
	}
	if got := flows.runs.Load(); got != 2 {
		t.Fatalf("flow runs = %d, want 2", got)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Instances starting together on a fresh database migrate gtc's and River's tables one at
// a time (the store's advisory lock) and all come up.
func TestInstancesStartTogether(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := store.Open(context.Background(), dsn)
			if err != nil {
				errs <- err
				return
			}
			svc, err := New(Config{Providers: []Provider{{Tenant: "acme", Team: "support", PhoneNumberID: "123", Sender: newFakeSender()}},
				Runner: &echoFlows{}, Store: st, Instance: fmt.Sprint("s", i)})
			if err == nil {
				err = svc.Start(context.Background())
			}
			if err != nil {
				errs <- err
				st.Close()
				return
			}
			t.Cleanup(func() { svc.Stop(context.Background()); st.Close() })
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("start: %v", err)
	}
}

// What a SQLite state left undone (acknowledged events without a flow run, a reply recorded
// but not sent) is finished once by gtc serve on PostgreSQL after gtc migrate copies it.
func TestMigratedWorkIsFinishedOnPostgres(t *testing.T) {
	pg := storetest.PostgresDSN(t)
	ctx := context.Background()
	h := newHarness(t, storetest.SQLite.DSN(t), false) // acknowledged, not processed
	for i := range 10 {
		h.ingest(textEvent(fmt.Sprint("m", i), fmt.Sprint("49151006", i%3), fmt.Sprint("m", i), tBase))
	}
	h.ingest(textEvent("recorded", "4915100699", "x", tBase))
	evs, _ := h.st.PendingEvents(ctx, store.ContactRef{Tenant: "acme", Team: "support", Key: "4915100699"}, 1)
	raw := []byte(`{"messaging_product":"whatsapp","to":"+4915100699","type":"text","text":{"body":"recorded on SQLite"}}`)
	if _, done, err := h.st.CompleteEvent(ctx, evs[0], nil, []store.NewOutbound{{ContactKey: "4915100699",
		Recipient: "+4915100699", Origin: store.OriginFlow, MessageType: "text", Request: raw}}); err != nil || !done {
		t.Fatal(err)
	}
	dst, err := store.Open(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Copy(ctx, dst, h.st, nil); err != nil {
		t.Fatal(err)
	}
	dst.Close()

	sender, flows := newFakeSender(), &echoFlows{}
	in := startInstance(t, pg, "after-migrate", sender, flows, func() time.Time { return tBase }, 4, time.Minute)
	waitFor(t, "the migrated work done", func() bool {
		d, err := in.st.QueueDepth(ctx)
		return sender.total() == 11 && err == nil && d.PendingEvents == 0 && d.OpenOutbound == 0
	})
	if n := flows.runs.Load(); n != 10 {
		t.Fatalf("flow runs = %d, want 10", n)
	}
	if got := sender.sentTo("+4915100699"); !slices.Equal(got, []string{"recorded on SQLite"}) {
		t.Fatalf("recorded reply sent %q", got)
	}
}
