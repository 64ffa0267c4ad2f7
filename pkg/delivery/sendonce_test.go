package delivery

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// sendJobs reads the gtc_send jobs River holds: how many, and the most errors and snoozes
// one of them had (River keeps errors and metadata as JSON: jsonb[] and jsonb on
// PostgreSQL, SQLite's binary JSON there).
func (h *harness) sendJobs() (n, errs, snoozes int) {
	h.t.Helper()
	q := `SELECT COUNT(*), COALESCE(MAX(json_array_length(errors)), 0), COALESCE(MAX(CAST(json_extract(metadata, '$.snoozes') AS INTEGER)), 0)
		FROM river_job WHERE kind = 'gtc_send'`
	if h.st.Postgres() {
		q = `SELECT COUNT(*), COALESCE(MAX(array_length(errors, 1)), 0), COALESCE(MAX(CAST(metadata->>'snoozes' AS INTEGER)), 0)
			FROM river_job WHERE kind = 'gtc_send'`
	}
	if err := h.st.DB().QueryRowContext(context.Background(), q).Scan(&n, &errs, &snoozes); err != nil {
		h.t.Fatal(err)
	}
	return n, errs, snoozes
}

// A reply that keeps failing transiently is retried by its one gtc_send job through River's
// own retries (an error, then NextRetry at the row's next attempt), not by a new job per
// retry; the attempts are the row's.
func TestSendRetriesThroughRiver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), true)
		const a = "4915100901"
		errTransient := &graphErr{ErrorInfo{Class: "transient", Code: 131000, Transient: true}}
		h.sender.failNext("+"+a, errTransient, errTransient, errTransient)
		h.ingest(textEvent("wamid.r1", a, "hi", tBase))
		h.eventually("the reply sent", func() bool { return len(h.sender.sentTo("+"+a)) == 1 && h.idle() })
		out := h.outbound(a)
		if len(out) != 1 || out[0].State != store.OutSent || out[0].Attempts != 4 {
			t.Fatalf("reply = %+v", out[0])
		}
		h.eventually("the job finished", func() bool {
			var n int
			err := h.st.DB().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM river_job WHERE kind = 'gtc_send' AND state = 'completed'`).Scan(&n)
			return err == nil && n == 1
		})
		n, errs, _ := h.sendJobs()
		// The first send was the inbound job's; its failure made the one send job, which
		// failed twice (River retried it) and then sent.
		if n != 1 || errs != 2 {
			t.Fatalf("gtc_send jobs = %d with %d errors, want 1 job with 2 errors", n, errs)
		}
	})
}

// heldSender's pacer holds every recipient back d for its first times sends.
type heldSender struct {
	*fakeSender
	times int64
	d     time.Duration
	n     atomic.Int64
}

func (p *heldSender) Delay(string) time.Duration {
	if p.n.Add(1) <= p.times {
		return p.d
	}
	return 0
}

// A pacing wait longer than a job sits through makes the reply's job (scheduled at the
// wait's end); when the pacer still holds the recipient then, the job snoozes
// (river.JobSnooze): no attempt is used up and no new job is made.
func TestSendPacingSnoozes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), false)
		ps := &heldSender{fakeSender: h.sender, times: 2, d: 1500 * time.Millisecond}
		h.svc.providers["acme/support"].Sender = ps
		if err := h.svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		const a = "4915100902"
		h.ingest(textEvent("wamid.p1", a, "hi", tBase))
		h.eventually("the paced reply in the log", func() bool {
			out := h.outbound(a)
			return len(out) == 1 && out[0].State == store.OutRetrying && out[0].ErrorClass == "paced"
		})
		h.now.Add(3000) // the service's clock passes the waits; River's (the wall clock) follows
		h.eventually("the reply sent", func() bool { return len(h.sender.sentTo("+"+a)) == 1 && h.idle() })
		if out := h.outbound(a); out[0].State != store.OutSent || out[0].Attempts != 1 {
			t.Fatalf("reply = %+v", out[0])
		}
		if n, errs, snoozes := h.sendJobs(); n != 1 || errs != 0 || snoozes < 1 {
			t.Fatalf("gtc_send jobs = %d (errors %d, snoozes %d), want 1 snoozed job without errors", n, errs, snoozes)
		}
	})
}

// statusFor is a "sent" status webhook for a send, as Meta posts it (with the send's
// biz_opaque_callback_data).
func statusFor(wamid, callback string, at time.Time) whatsapp.Event {
	return whatsapp.Event{Kind: whatsapp.EventStatus, Field: "messages", PhoneNumberID: "123",
		Status: &whatsapp.Status{ID: wamid, Status: "sent", Timestamp: at.Unix(), RecipientID: "4915100903",
			BizOpaqueCallbackData: callback}}
}

// A send whose outcome is unclear (the request was written, no answer) is not retried: the
// row waits as ambiguous, and the status webhook that carries its callback data settles it
// (sent, with Graph's wamid); nothing is sent again after the window. Without a status, the
// reply goes again once the window has passed, as attempt 2.
func TestUnclearSendWaitsForItsStatus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h := newHarness(t, be.DSN(t), false)
		h.svc.cfg.ReconcileWindow, h.svc.minWindow = 2*time.Second, 2*time.Second
		if err := h.svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		const a, b = "4915100903", "4915100904"
		unclear := &whatsapp.UnclearError{Err: context.DeadlineExceeded}
		h.sender.failNext("+"+a, unclear)
		h.sender.failNext("+"+b, unclear)
		h.ingest(textEvent("wamid.u1", a, "hi", tBase), textEvent("wamid.u2", b, "hi", tBase))
		h.eventually("both replies ambiguous", func() bool {
			oa, ob := h.outbound(a), h.outbound(b)
			return len(oa) == 1 && oa[0].State == store.OutAmbiguous && len(ob) == 1 && ob[0].State == store.OutAmbiguous
		})
		ra, rb := h.outbound(a)[0], h.outbound(b)[0]
		if ra.Attempts != 1 || ra.ErrorClass != "unclear" {
			t.Fatalf("ambiguous reply = %+v", ra)
		}
		// The status of a's send arrives: settled, never sent again.
		cb := func(o *store.Outbound, attempt int) string {
			return whatsapp.Callback{OutboundID: o.ID, Attempt: attempt, Created: o.CreatedAt.UnixMilli()}.String()
		}
		h.ingest(statusFor("wamid.graph.a", cb(ra, 1), tBase))
		if o := h.outbound(a)[0]; o.State != store.OutSent || o.WAMID != "wamid.graph.a" {
			t.Fatalf("after its status: %+v", o)
		}
		// A status for another attempt, or another app's callback data, or the same row id
		// and attempt of another database (a reset one, a copy on the same number: its row
		// was created at another time), settles nothing.
		other := whatsapp.Callback{OutboundID: rb.ID, Attempt: 1, Created: rb.CreatedAt.UnixMilli() + 1}.String()
		h.ingest(statusFor("wamid.graph.x", cb(rb, 2), tBase),
			statusFor("wamid.graph.y", "order-77", tBase), statusFor("wamid.graph.z", other, tBase))
		if o := h.outbound(b)[0]; o.State != store.OutAmbiguous {
			t.Fatalf("settled by a stranger's status: %+v", o)
		}
		h.now.Add(3000) // past the window
		h.eventually("b sent again", func() bool { return len(h.sender.sentTo("+"+b)) == 1 && h.idle() })
		if o := h.outbound(b)[0]; o.State != store.OutSent || o.Attempts != 2 {
			t.Fatalf("b after the window: %+v", o)
		}
		time.Sleep(300 * time.Millisecond)
		if got := h.sender.sentTo("+" + a); len(got) != 0 {
			t.Fatalf("a was sent again after its status settled it: %q", got)
		}
		h.sender.mu.Lock()
		var sent []string
		for _, m := range h.sender.sent {
			sent = append(sent, m.BizOpaqueCallbackData)
		}
		h.sender.mu.Unlock()
		if want := cb(rb, 2); len(sent) != 1 || sent[0] != want {
			t.Fatalf("callback data sent = %q, want [%s]", sent, want)
		}
	})
}

// A Graph slower than the client's timeout accepts the send and answers too late: the
// pipeline sends it once (today's transient retry sent it again at every backoff), waits,
// and the status webhook Graph posts for it settles it.
func TestSlowGraphSendsOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		const secret = "test-app-secret"
		var svc atomic.Pointer[Service]
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			evs, err := whatsapp.ParseWebhook(body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if err := svc.Load().Ingest(r.Context(), "acme", "support", evs); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
			}
		}))
		defer hook.Close()
		h, g := graphHarnessTimeout(t, be, graphfake.Options{StatusWebhook: graphfake.StatusWebhook{URL: hook.URL, AppSecret: secret}},
			300*time.Millisecond)
		svc.Store(h.svc)
		g.SlowAnswers(2 * time.Second)
		const a = "4915100905"
		h.ingest(textEvent("wamid.slow", a, "hi", time.UnixMilli(h.now.Load())))
		h.eventually("the reply settled by its status", func() bool {
			out := h.outbound(a)
			return len(out) == 1 && (out[0].State == store.OutSent || out[0].State == "delivered" || out[0].State == "read") && h.idle()
		})
		time.Sleep(2 * time.Second) // the backoff that used to resend it has passed
		if n := sentTo(g, "+"+a); n != 1 {
			t.Fatalf("Graph accepted the reply %d times, want once", n)
		}
		o := h.outbound(a)[0]
		if o.Attempts != 1 || o.WAMID == "" {
			t.Fatalf("reply = %+v", o)
		}
	})
}
