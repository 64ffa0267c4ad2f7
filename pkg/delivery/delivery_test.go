package delivery

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// fakeSender records sends and fails the ones it is told to.
type fakeSender struct {
	mu    sync.Mutex
	sent  []*whatsapp.Message
	read  []string
	fails map[string][]error // by recipient: errors returned by the next sends
	calls map[string]int
	n     atomic.Int64
	delay time.Duration // per call, like an HTTP round trip
}

func newFakeSender() *fakeSender {
	return &fakeSender{fails: map[string][]error{}, calls: map[string]int{}}
}

func (f *fakeSender) Send(ctx context.Context, m *whatsapp.Message) (string, error) {
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[m.To]++
	if q := f.fails[m.To]; len(q) > 0 {
		f.fails[m.To] = q[1:]
		return "", q[0]
	}
	f.sent = append(f.sent, m)
	return fmt.Sprintf("wamid.%d", f.n.Add(1)), nil
}

func (f *fakeSender) MarkRead(ctx context.Context, wamid string) error {
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.read = append(f.read, wamid)
	return nil
}

func (f *fakeSender) failNext(to string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[to] = append(f.fails[to], errs...)
}

func (f *fakeSender) sentTo(to string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.sent {
		if m.To != to {
			continue
		}
		switch {
		case m.Text != nil:
			out = append(out, m.Text.Body)
		case m.Template != nil:
			out = append(out, "template:"+m.Template.Name)
		}
	}
	return out
}

func (f *fakeSender) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// pacedSender makes every send to one recipient wait long, once.
type pacedSender struct {
	*fakeSender
	slow  string
	delay atomic.Int64
}

func (p *pacedSender) Delay(to string) time.Duration {
	if to == p.slow {
		return time.Duration(p.delay.Swap(0))
	}
	return 0
}

type graphErr struct{ info ErrorInfo }

func (e *graphErr) Error() string { return fmt.Sprintf("graph error %d", e.info.Code) }

var (
	errRateLimited = &graphErr{ErrorInfo{Class: "rate_limited", Code: 130429, RateLimited: true}}
	errUnreachable = &graphErr{ErrorInfo{Class: "unreachable", Code: 131026, Unreachable: true}}
)

func classify(err error) ErrorInfo {
	var g *graphErr
	if errors.As(err, &g) {
		return g.info
	}
	return ErrorInfo{Class: "transient", Transient: true}
}

func classifyCode(code int) ErrorInfo {
	if code == 131026 {
		return errUnreachable.info
	}
	return ErrorInfo{Class: "unknown", Code: code}
}

// echoFlows answers "echo: <text>"; "template" gets a template; "both" gets a free-form
// reply and a template; "ratelimited" asks for retry on rate limits.
type echoFlows struct {
	runs atomic.Int64
	mu   sync.Mutex
	last []int64 // each run's last_message_time
}

func (e *echoFlows) Handle(ctx context.Context, m *whatsapp.InboundMessage, rc RunContext) ([]Reply, error) {
	e.runs.Add(1)
	e.mu.Lock()
	e.last = append(e.last, rc.LastMessageTime)
	e.mu.Unlock()
	text := whatsapp.Message{Type: "text", To: rc.To, Text: &whatsapp.Text{Body: "echo: " + m.Text}}
	tmpl := whatsapp.Message{Type: "template", To: rc.To, Template: &whatsapp.Template{Name: "hello", Language: whatsapp.Language{Code: "en"}}}
	switch m.Text {
	case "template":
		return []Reply{{Flow: "f", Node: "t", Message: tmpl}}, nil
	case "both":
		return []Reply{{Flow: "f", Node: "a", Message: text}, {Flow: "f", Node: "t", Message: tmpl}}, nil
	case "ratelimited":
		return []Reply{{Flow: "f", Node: "a", Message: text, RetryOnRateLimit: true}}, nil
	}
	return []Reply{{Flow: "f", Node: "a", Message: text}}, nil
}

type harness struct {
	t      *testing.T
	path   string
	st     *store.Store
	svc    *Service
	sender *fakeSender
	flows  *echoFlows
	now    atomic.Int64 // unix ms
}

var tBase = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, path string, start bool) *harness {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "gtc.db")
	}
	h := &harness{t: t, path: path, sender: newFakeSender(), flows: &echoFlows{}}
	h.now.Store(tBase.UnixMilli())
	h.open(start)
	return h
}

func (h *harness) clock() time.Time { return time.UnixMilli(h.now.Load()).UTC() }

func (h *harness) open(start bool) {
	t := h.t
	st, err := store.Open(context.Background(), h.path, store.Options{Now: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{
		Providers:    []Provider{{Tenant: "acme", Team: "support", PhoneNumberID: "123", MarkRead: true, Sender: h.sender}},
		Runner:       h.flows,
		Store:        st,
		Classify:     classify,
		ClassifyCode: classifyCode,
		Now:          h.clock,
		Workers:      4,
		PollInterval: 5 * time.Millisecond,
		Backoff:      func(int, int) time.Duration { return 20 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	h.st, h.svc = st, svc
	if start {
		if err := svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(h.close)
}

func (h *harness) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.svc.Stop(ctx)
	h.st.Close()
}

func textEvent(id, from, text string, ts time.Time) whatsapp.Event {
	return whatsapp.Event{Kind: whatsapp.EventMessage, Field: "messages", PhoneNumberID: "123",
		Message: &whatsapp.InboundMessage{ID: id, Type: "text", From: from, Timestamp: ts.Unix(), Text: text}}
}

func (h *harness) ingest(events ...whatsapp.Event) {
	h.t.Helper()
	if err := h.svc.Ingest(context.Background(), "acme", "support", events); err != nil {
		h.t.Fatal(err)
	}
}

// eventually polls cond until it holds or 15 s pass (the workers run on their own clock;
// this is a wait for completion, not a timing assertion).
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// idle reports no work left: no pending event, no open reply, and no contact leased (a job
// that processed the last event may still be releasing its contacts; a test that moves the
// clock on then would expire that lease under it and let a second job take the contact,
// which a running clock never does: leases last 5 minutes, jobs 2).
func (h *harness) idle() bool {
	d, err := h.st.QueueDepth(context.Background())
	if err != nil || d.PendingEvents != 0 || d.OpenOutbound != 0 {
		return false
	}
	var leased int
	err = h.st.DB().QueryRow(`SELECT COUNT(*) FROM gtc_contacts WHERE lease_owner <> ''`).Scan(&leased)
	return err == nil && leased == 0
}

func (h *harness) outbound(contact string) []*store.Outbound {
	h.t.Helper()
	out, err := h.st.OutboundMessages(context.Background(), store.OutboundFilter{ContactKey: contact, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	// oldest first
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func TestBatchOf100AllAnswered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), true)
		var evs []whatsapp.Event
		for i := range 100 {
			evs = append(evs, textEvent(fmt.Sprintf("wamid.in.%d", i), fmt.Sprintf("49151%05d", i), fmt.Sprint("hi ", i), tBase))
		}
		h.ingest(evs...)
		h.eventually("100 replies", func() bool { return h.sender.total() == 100 && h.idle() })
		for i := range 100 {
			to := fmt.Sprintf("+49151%05d", i)
			if got := h.sender.sentTo(to); len(got) != 1 || got[0] != fmt.Sprint("echo: hi ", i) {
				t.Fatalf("replies to %s = %q", to, got)
			}
		}
		if n := h.flows.runs.Load(); n != 100 {
			t.Fatalf("flow runs = %d", n)
		}
		if len(h.sender.read) != 100 {
			t.Fatalf("marked read = %d, want 100", len(h.sender.read))
		}
	})
}

func TestDuplicateIngestProcessedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), true)
		ev := textEvent("wamid.dup", "4915100001", "hello", tBase)
		h.ingest(ev)
		h.ingest(ev, ev)
		h.eventually("reply", func() bool { return h.sender.total() >= 1 && h.idle() })
		h.ingest(ev)
		h.eventually("idle", h.idle)
		if got := h.sender.sentTo("+4915100001"); len(got) != 1 {
			t.Fatalf("replies = %q, want one", got)
		}
		if n := h.flows.runs.Load(); n != 1 {
			t.Fatalf("flow runs = %d", n)
		}
	})
}

func TestOptOutAndIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), true)
		const from, to = "4915100002", "+4915100002"
		steps := []struct {
			id, text  string
			wantSent  []string
			wantState string
			wantClass string
			optedOut  bool
		}{
			{"m1", "hello", []string{"echo: hello"}, store.OutSent, "", false},
			{"m2", "  sToP ", []string{"You have unsubscribed"}, store.OutSent, "", true},
			{"m3", "hello again", nil, store.OutRefused, "opted_out", true},
			{"m4", "START", []string{"You are subscribed again"}, store.OutSent, "", false},
			{"m5", "back", []string{"echo: back"}, store.OutSent, "", false},
		}
		sentBefore := 0
		for _, s := range steps {
			t.Run(s.text, func(t *testing.T) {
				h.ingest(textEvent(s.id, from, s.text, tBase))
				h.eventually("idle", h.idle)
				got := h.sender.sentTo(to)[sentBefore:]
				sentBefore += len(got)
				if len(got) != len(s.wantSent) {
					t.Fatalf("sent %q, want %q", got, s.wantSent)
				}
				for i := range got {
					if !strings.HasPrefix(got[i], s.wantSent[i]) {
						t.Fatalf("sent %q, want %q", got, s.wantSent)
					}
				}
				out := h.outbound(from)
				last := out[len(out)-1]
				if last.State != s.wantState || last.ErrorClass != s.wantClass {
					t.Fatalf("last outbound = %s/%s, want %s/%s", last.State, last.ErrorClass, s.wantState, s.wantClass)
				}
				c, _ := h.st.Contact(context.Background(), "acme", "support", from)
				if c.OptedOut != s.optedOut {
					t.Fatalf("opted out = %v", c.OptedOut)
				}
			})
		}
	})
}

func TestWindowClosedFreeFormRefusedTemplateSent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), true)
		const from = "4915100003"
		// Meta retried this message for two days: the window it opened is closed.
		h.ingest(textEvent("old", from, "both", tBase.Add(-48*time.Hour)))
		h.eventually("idle", h.idle)
		out := h.outbound(from)
		if len(out) != 2 {
			t.Fatalf("outbound = %d rows", len(out))
		}
		if out[0].State != store.OutRefused || out[0].ErrorClass != "window_closed" || out[0].Attempts != 0 {
			t.Fatalf("free-form = %+v", out[0])
		}
		if out[1].State != store.OutSent || out[1].MessageType != "template" {
			t.Fatalf("template = %+v", out[1])
		}
		if got := h.sender.sentTo("+" + from); len(got) != 1 || got[0] != "template:hello" {
			t.Fatalf("sent %q", got)
		}
	})
}

func TestRateLimitedRetriedWithoutBlockingOthers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), true)
		const a, b = "4915100004", "4915100005"
		h.sender.failNext("+"+a, errRateLimited)
		h.ingest(textEvent("a1", a, "ratelimited", tBase), textEvent("b1", b, "hi", tBase))
		h.eventually("both sent", func() bool { return len(h.sender.sentTo("+"+a)) == 1 && h.idle() })
		if got := h.sender.sentTo("+" + b); len(got) != 1 {
			t.Fatalf("other contact got %q", got)
		}
		out := h.outbound(a)
		if len(out) != 1 || out[0].State != store.OutSent || out[0].Attempts != 2 {
			t.Fatalf("rate-limited reply = %+v", out[0])
		}

		// Without retry_on_rate_limit the rate-limited reply fails, recorded with its class.
		h.sender.failNext("+"+b, errRateLimited)
		h.ingest(textEvent("b2", b, "no retry", tBase))
		h.eventually("idle", h.idle)
		out = h.outbound(b)
		if last := out[len(out)-1]; last.State != store.OutFailed || last.ErrorClass != "rate_limited" || last.ErrorCode != 130429 {
			t.Fatalf("reply = %+v", last)
		}
	})
}

func TestUnreachableRecordedNotRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), true)
		const from = "4915100006"
		h.sender.failNext("+"+from, errUnreachable)
		h.ingest(textEvent("u1", from, "hi", tBase))
		h.eventually("idle", h.idle)
		out := h.outbound(from)
		if len(out) != 1 || out[0].State != store.OutFailed || out[0].ErrorCode != 131026 || out[0].Attempts != 1 {
			t.Fatalf("outbound = %+v", out[0])
		}
		if h.sender.calls["+"+from] != 1 {
			t.Fatalf("send calls = %d, want 1", h.sender.calls["+"+from])
		}
		c, _ := h.st.Contact(context.Background(), "acme", "support", from)
		if c.UnreachableCode != 131026 {
			t.Fatalf("contact = %+v", c)
		}
	})
}

func TestStatusesUpdateTheLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), true)
		const from = "4915100007"
		h.ingest(textEvent("s1", from, "hi", tBase), textEvent("s2", from, "again", tBase))
		h.eventually("idle", h.idle)
		out := h.outbound(from)
		status := func(wamid, st string, code int) whatsapp.Event {
			s := &whatsapp.Status{ID: wamid, Status: st, Timestamp: tBase.Unix(), RecipientID: from}
			if code != 0 {
				s.Errors = []whatsapp.ErrorDetail{{Code: code, Title: "x"}}
			}
			return whatsapp.Event{Kind: whatsapp.EventStatus, Status: s}
		}
		h.ingest(status(out[0].WAMID, "delivered", 0), status(out[0].WAMID, "read", 0), status(out[1].WAMID, "failed", 131026))
		h.ingest(status(out[0].WAMID, "sent", 0)) // late
		out = h.outbound(from)
		if out[0].State != "read" {
			t.Fatalf("first = %s, want read", out[0].State)
		}
		if out[1].State != "failed" || out[1].ErrorClass != "unreachable" {
			t.Fatalf("second = %s/%s", out[1].State, out[1].ErrorClass)
		}
		// Unknown kinds are stored, never fatal.
		if err := h.svc.Ingest(context.Background(), "acme", "support", []whatsapp.Event{{Kind: whatsapp.EventUnknown, Field: "new_thing", Raw: []byte(`{"x":1}`)}}); err != nil {
			t.Fatal(err)
		}
		evs, _ := h.st.InboundEvents(context.Background(), store.EventFilter{Kind: "unknown"})
		if len(evs) != 1 {
			t.Fatalf("unknown events stored = %d", len(evs))
		}
	})
}

func TestRestartCompletesPendingWorkExactlyOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		path := be.DSN(t)
		h := newHarness(t, path, false) // workers never start: acknowledged, not processed
		for i := range 20 {
			h.ingest(textEvent(fmt.Sprint("r", i), fmt.Sprint("49151002", i%5), fmt.Sprint("m", i), tBase))
		}
		// A reply recorded (flow ran) but never sent: the crash window after CompleteEvent.
		h.ingest(textEvent("sent-pending", "4915100999", "x", tBase))
		evs, _ := h.st.PendingEvents(context.Background(), store.ContactRef{Tenant: "acme", Team: "support", Key: "4915100999"}, 1)
		raw := []byte(`{"messaging_product":"whatsapp","to":"+4915100999","type":"text","text":{"body":"recorded before the crash"}}`)
		if _, done, err := h.st.CompleteEvent(context.Background(), evs[0], nil, []store.NewOutbound{{ContactKey: "4915100999",
			Recipient: "+4915100999", Origin: store.OriginFlow, MessageType: "text", Request: raw}}); err != nil || !done {
			t.Fatal(err)
		}
		h.close()
		if h.sender.total() != 0 {
			t.Fatal("sent before start")
		}

		h2 := &harness{t: t, path: path, sender: h.sender, flows: h.flows}
		h2.now.Store(tBase.UnixMilli())
		h2.open(true)
		h2.eventually("all replies", func() bool { return h2.sender.total() == 21 && h2.idle() })
		if n := h2.flows.runs.Load(); n != 20 {
			t.Fatalf("flow runs = %d, want 20", n)
		}
		if got := h2.sender.sentTo("+4915100999"); len(got) != 1 || got[0] != "recorded before the crash" {
			t.Fatalf("pending reply sent %q", got)
		}
		// A third start finds nothing to do.
		h2.close()
		h3 := &harness{t: t, path: path, sender: h.sender, flows: h.flows}
		h3.now.Store(tBase.UnixMilli())
		h3.open(true)
		h3.eventually("idle", h3.idle)
		if h3.sender.total() != 21 || h3.flows.runs.Load() != 20 {
			t.Fatalf("work repeated: sends %d runs %d", h3.sender.total(), h3.flows.runs.Load())
		}
	})
}

func TestPerContactOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), true)
		var wg sync.WaitGroup
		const contacts, per = 4, 15
		for c := range contacts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					if err := h.svc.Ingest(context.Background(), "acme", "support",
						[]whatsapp.Event{textEvent(fmt.Sprintf("o%d-%d", c, i), fmt.Sprint("4915101", c), fmt.Sprint(i), tBase)}); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		h.eventually("all replies", func() bool { return h.sender.total() == contacts*per && h.idle() })
		for c := range contacts {
			got := h.sender.sentTo(fmt.Sprint("+4915101", c))
			for i, body := range got {
				if body != fmt.Sprint("echo: ", i) {
					t.Fatalf("contact %d replies out of order: %q", c, got)
				}
			}
		}
	})
}

func TestKeywordMatching(t *testing.T) {
	tests := []struct {
		text string
		list []string
		want bool
	}{
		{"STOP", nil, true},
		{" stop\n", nil, true},
		{"Unsubscribe", nil, true},
		{"stop please", nil, false},
		{"", nil, false},
		{"halt", []string{"Halt"}, true},
		{"stop", []string{"halt"}, false},
		{"opt  out", []string{"OPT OUT"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			if got := matchKeyword(tt.text, tt.list, defaultOptOut); got != tt.want {
				t.Fatalf("matchKeyword(%q, %q) = %v", tt.text, tt.list, got)
			}
		})
	}
}

func TestLongPacingWaitBecomesAScheduledSend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), false)
		ps := &pacedSender{fakeSender: h.sender, slow: "+4915100008"}
		ps.delay.Store(int64(time.Hour))
		h.svc.providers["acme/support"].Sender = ps
		if err := h.svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.ingest(textEvent("p1", "4915100008", "hi", tBase), textEvent("p2", "4915100009", "hi", tBase))
		h.eventually("fast contact answered", func() bool { return len(h.sender.sentTo("+4915100009")) == 1 })
		h.eventually("slow reply scheduled", func() bool {
			out := h.outbound("4915100008")
			return len(out) == 1 && out[0].State == store.OutRetrying
		})
		out := h.outbound("4915100008")
		if out[0].Attempts != 0 || out[0].ErrorClass != "paced" || !out[0].NextAttemptAt.Equal(tBase.Add(time.Hour)) {
			t.Fatalf("paced reply = %+v", out[0])
		}
		if got := h.sender.sentTo("+4915100008"); len(got) != 0 {
			t.Fatalf("sent before its time: %q", got)
		}
	})
}

func TestOddEventsAreKeptNeverFatal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), true)
		ctx := context.Background()
		pref := whatsapp.Event{Kind: whatsapp.EventPreference, Field: "user_preferences", Raw: []byte(`{"wa_id":"4915100030","value":"stop"}`),
			Preference: &whatsapp.UserPreference{WaID: "4915100030", Category: "marketing_messages", Value: "stop", Timestamp: tBase.Unix()}}
		tests := []struct {
			name     string
			ev       whatsapp.Event
			wantKind string
		}{
			{"preference", pref, "user_preferences"},
			{"message without sender", whatsapp.Event{Kind: whatsapp.EventMessage, Raw: []byte(`{"id":"x"}`),
				Message: &whatsapp.InboundMessage{ID: "x", Type: "text"}}, "unknown"},
			{"status without id", whatsapp.Event{Kind: whatsapp.EventStatus, Raw: []byte(`{"status":"sent"}`),
				Status: &whatsapp.Status{Status: "sent"}}, "unknown"},
			{"error", whatsapp.Event{Kind: whatsapp.EventError, Raw: []byte(`{"code":131000}`),
				Error: &whatsapp.ErrorDetail{Code: 131000}}, "error"},
			{"unknown field", whatsapp.Event{Kind: whatsapp.EventUnknown, Field: "calls", Raw: []byte(`{"calls":[]}`)}, "unknown"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before, _ := h.st.InboundEvents(ctx, store.EventFilter{Kind: tt.wantKind, Limit: 1000})
				for range 2 { // the second is a duplicate
					if err := h.svc.Ingest(ctx, "acme", "support", []whatsapp.Event{tt.ev}); err != nil {
						t.Fatal(err)
					}
				}
				after, _ := h.st.InboundEvents(ctx, store.EventFilter{Kind: tt.wantKind, Limit: 1000})
				if len(after) != len(before)+1 {
					t.Fatalf("%s events: %d → %d, want one more", tt.wantKind, len(before), len(after))
				}
			})
		}
		c, _ := h.st.Contact(ctx, "acme", "support", "4915100030")
		if c.Marketing != "stop" {
			t.Fatalf("marketing preference = %q", c.Marketing)
		}
	})
}

func TestStopMidFlightThenRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		path := be.DSN(t)
		h := newHarness(t, path, true)
		const n = 300
		for i := range n / 10 {
			var evs []whatsapp.Event
			for j := range 10 {
				k := i*10 + j
				evs = append(evs, textEvent(fmt.Sprint("x", k), fmt.Sprint(4915103000+k%37), fmt.Sprint(k), tBase))
			}
			h.ingest(evs...)
		}
		// Stop at once: running jobs are cancelled, whatever they had not recorded is open work.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h.svc.Stop(ctx)
		h.st.Close()

		h2 := &harness{t: t, path: path, sender: h.sender, flows: h.flows}
		h2.now.Store(tBase.UnixMilli())
		h2.open(true)
		h2.eventually("idle", h2.idle)
		out, err := h2.st.OutboundMessages(context.Background(), store.OutboundFilter{Limit: 10 * n})
		if err != nil {
			t.Fatal(err)
		}
		perEvent := map[int64]int{}
		for _, o := range out {
			perEvent[o.InboundSeq]++
			if o.State != store.OutSent {
				t.Fatalf("reply %d left %s", o.ID, o.State)
			}
		}
		if len(out) != n || len(perEvent) != n {
			t.Fatalf("%d replies recorded for %d events, want exactly one each of %d", len(out), len(perEvent), n)
		}
		if sent := h2.sender.total(); sent < n {
			t.Fatalf("sent %d, want at least %d", sent, n)
		} else if sent > n {
			t.Logf("%d replies sent twice (the documented crash window between Graph's answer and the commit)", sent-n)
		}
	})
}
