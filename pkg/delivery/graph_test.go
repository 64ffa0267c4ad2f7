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
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

// graphHarness runs the service from a bundle with real Cloud API clients against
// graphfake, so classification, read receipts and request bodies are the real ones.
func graphHarness(t *testing.T, be storetest.Backend) (*harness, *graphfake.Server) {
	return graphHarnessWith(t, be, graphfake.Options{})
}

func graphHarnessWith(t *testing.T, be storetest.Backend, opts graphfake.Options) (*harness, *graphfake.Server) {
	t.Helper()
	return graphHarnessTimeout(t, be, opts, 0)
}

// graphHarnessTimeout is graphHarnessWith with the clients' call timeout (0: the default).
func graphHarnessTimeout(t *testing.T, be storetest.Backend, opts graphfake.Options, timeout time.Duration) (*harness, *graphfake.Server) {
	t.Helper()
	if v, err := metaschema.Default(); err == nil {
		opts.Schema = v // every body the pipeline sends must match Meta's schema
	}
	g := graphfake.New(opts)
	t.Cleanup(g.Close)
	h := &harness{t: t, path: be.DSN(t), flows: &echoFlows{}}
	h.now.Store(time.Now().UnixMilli())
	st, err := store.Open(context.Background(), h.path, store.Options{Now: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{
		Providers: []Provider{{Tenant: "acme", Team: "support", PhoneNumberID: graphfake.DefaultPhoneNumberID, MarkRead: true,
			Sender: ClientSender(whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: g.URL,
				PhoneNumberID: graphfake.DefaultPhoneNumberID, Token: graphfake.DefaultToken, Timeout: timeout}))}},
		Runner: h.flows, Store: st, Now: h.clock, Workers: 4, PollInterval: 5 * time.Millisecond,
		Backoff: func(int, int) time.Duration { return 20 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	h.st, h.svc = st, svc
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	return h, g
}

func sentTo(g *graphfake.Server, to string) int {
	n := 0
	for _, c := range g.Calls() {
		if c.Endpoint == graphfake.EndpointMessages && c.Message != nil && c.Message.To == to {
			n++
		}
	}
	return n
}

func TestGraphRateLimitThenSuccess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h, g := graphHarness(t, be)
		const a, b = "4915100011", "4915100012"
		g.Inject(graphfake.Fault{Code: 130429, Times: 1, To: a})
		now := time.Unix(h.now.Load()/1000, 0)
		h.ingest(textEvent("wamid.ga", a, "ratelimited", now), textEvent("wamid.gb", b, "hi", now))
		h.eventually("idle", h.idle)
		out := h.outbound(a)
		if len(out) != 1 || out[0].State != store.OutSent || out[0].Attempts != 2 || out[0].WAMID == "" {
			t.Fatalf("rate-limited reply = %+v", out[0])
		}
		if ob := h.outbound(b); len(ob) != 1 || ob[0].State != store.OutSent || ob[0].Attempts != 1 {
			t.Fatalf("other contact's reply = %+v", ob)
		}
		if len(g.Reads()) != 2 {
			t.Fatalf("read receipts = %d, want 2", len(g.Reads()))
		}
	})
}

func TestGraphUnreachableNotRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		h, g := graphHarness(t, be)
		const a = "4915100013"
		g.Inject(graphfake.Fault{Code: 131026, To: a})
		h.ingest(textEvent("wamid.gu", a, "hi", time.Unix(h.now.Load()/1000, 0)))
		h.eventually("idle", h.idle)
		out := h.outbound(a)
		if len(out) != 1 || out[0].State != store.OutFailed || out[0].ErrorClass != "unreachable" || out[0].ErrorCode != 131026 || out[0].Attempts != 1 {
			t.Fatalf("reply = %+v", out[0])
		}
		if n := sentTo(g, "+"+a); n != 1 {
			t.Fatalf("sends to %s = %d, want 1", a, n)
		}
		c, _ := h.st.Contact(context.Background(), "acme", "support", a)
		if c.UnreachableCode != 131026 {
			t.Fatalf("contact = %+v", c)
		}
	})
}

// TestGraphStatusWebhooksUpdateTheLog lets graphfake post its signed status webhooks (sent,
// delivered, read; failed with 131026 for one recipient) to a handler that verifies, parses
// and ingests them the way the server does.
func TestGraphStatusWebhooksUpdateTheLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		const secret = "test-app-secret"
		var svc atomic.Pointer[Service]
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if err := whatsapp.VerifySignature(body, r.Header.Get(whatsapp.SignatureHeader), secret); err != nil {
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
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
		h, g := graphHarnessWith(t, be, graphfake.Options{StatusWebhook: graphfake.StatusWebhook{URL: hook.URL, AppSecret: secret}})
		svc.Store(h.svc)
		const ok, gone = "4915100041", "4915100042"
		g.Inject(graphfake.Fault{Code: 131026, To: gone, Async: true})
		now := time.Unix(h.now.Load()/1000, 0)
		h.ingest(textEvent("wamid.s1", ok, "hi", now), textEvent("wamid.s2", gone, "hi", now))
		h.eventually("statuses applied", func() bool {
			a, b := h.outbound(ok), h.outbound(gone)
			return len(a) == 1 && a[0].State == "read" && len(b) == 1 && b[0].State == store.OutFailed
		})
		b := h.outbound(gone)[0]
		if b.ErrorClass != "unreachable" || b.ErrorCode != 131026 {
			t.Fatalf("failed status recorded as %s/%d", b.ErrorClass, b.ErrorCode)
		}
		sts, err := h.st.Statuses(context.Background(), h.outbound(ok)[0].WAMID)
		if err != nil || len(sts) != 3 {
			t.Fatalf("statuses = %+v, %v", sts, err)
		}
		c, _ := h.st.Contact(context.Background(), "acme", "support", gone)
		if c.UnreachableCode != 131026 {
			t.Fatalf("contact = %+v", c)
		}
	})
}
