package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/server"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

const (
	e2ePhone  = "106540352242922"
	e2eSecret = "e2e-app-secret"
	e2eToken  = "e2e-token"
)

const echoFlow = `name: echo
version: "1.0"
nodes:
  - id: echo
    type: reply
    config:
      message: "echo {{message.text}}"
      retry_on_rate_limit: true
triggers:
  - type: text
    target: echo
`

type e2e struct {
	url   string
	graph *graphfake.Server
	store *store.Store
}

// newE2E runs the real pipeline: server → delivery (River on SQLite) → flows → Cloud API
// client → graphfake, over a real listener.
func newE2E(t *testing.T) *e2e {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "echo.ygtc"), []byte(echoFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	flows, err := flow.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := startStack(t, dir, flows, []server.Tenant{{Tenant: "acme", Team: "support",
		PhoneNumberID: e2ePhone, VerifyToken: secret.New("vt"), AppSecret: secret.New(e2eSecret)}}, false)
	return &e2e{url: st.base + server.WebhookPrefix + "acme/support", graph: st.graph, store: st.store}
}

// stack is the real pipeline the end-to-end tests talk to over a real listener.
type stack struct {
	base  string
	graph *graphfake.Server
	store *store.Store
}

// startStack runs server → delivery (River on SQLite in dir) → flows → Cloud API client →
// graphfake for tenants (all on e2ePhone), with the send API when api is true.
func startStack(t *testing.T, dir string, flows *flow.Set, tenants []server.Tenant, api bool, opts ...func(*server.Config)) *stack {
	t.Helper()
	g := graphfake.New(graphfake.Options{Token: e2eToken, PhoneNumberID: e2ePhone, BusinessAccountID: "waba"})
	t.Cleanup(g.Close)
	return startStackOn(t, filepath.Join(dir, "gtc.db"), g, flows, tenants, api, opts...)
}

// startStackOn is startStack on database db (a SQLite file or a PostgreSQL URL, which
// several stacks may share, as several gtc serve do) sending to g.
func startStackOn(t *testing.T, db string, g *graphfake.Server, flows *flow.Set, tenants []server.Tenant, api bool, opts ...func(*server.Config)) *stack {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	client := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: g.URL, PhoneNumberID: e2ePhone, Token: e2eToken})
	var providers []delivery.Provider
	for _, tn := range tenants {
		providers = append(providers, delivery.Provider{Tenant: tn.Tenant, Team: tn.Team, PhoneNumberID: e2ePhone, Sender: delivery.ClientSender(client)})
	}
	svc, err := delivery.New(delivery.Config{
		Providers: providers,
		Flows:     flows, Store: st,
		Backoff: func(int, int) time.Duration { return 20 * time.Millisecond },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Delivery: svc, Tenants: tenants}
	if api {
		cfg.API = &server.API{Sender: svc, Store: st}
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		stopCtx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		if err := svc.Stop(stopCtx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		st.Close()
	})
	return &stack{base: "http://" + ln.Addr().String(), graph: g, store: st}
}

type inbound struct{ from, id, text string }

func body(msgs ...inbound) []byte {
	var ms []any
	for _, m := range msgs {
		ms = append(ms, map[string]any{"from": m.from, "id": m.id, "timestamp": fmt.Sprint(time.Now().Unix()), "type": "text", "text": map[string]any{"body": m.text}})
	}
	b, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{"id": "waba", "changes": []any{
		map[string]any{"field": "messages", "value": map[string]any{"metadata": map[string]any{"phone_number_id": e2ePhone}, "messages": ms}}}}}})
	return b
}

func (e *e2e) post(t *testing.T, msgs ...inbound) {
	t.Helper()
	b := body(msgs...)
	req, _ := http.NewRequest(http.MethodPost, e.url, bytes.NewReader(b))
	req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(b, e2eSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST answered %d", resp.StatusCode)
	}
}

// textsTo returns the text bodies graphfake accepted for recipient (digits compared).
func (e *e2e) textsTo(recipient string) []string {
	var out []string
	for _, m := range e.graph.Messages() {
		if strings.TrimPrefix(m.To, "+") == recipient && m.Text != nil {
			out = append(out, m.Text.Body)
		}
	}
	return out
}

// waitText waits until recipient got a text containing want.
func (e *e2e) waitText(t *testing.T, recipient, want string) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		texts := e.textsTo(recipient)
		for _, s := range texts {
			if strings.Contains(s, want) {
				return texts
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never got a text containing %q; got %q", recipient, want, texts)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end pipeline test; skipped with -short")
	}
	e := newE2E(t)

	t.Run("batch of 100 in one POST all answered", func(t *testing.T) {
		var msgs []inbound
		for i := range 100 {
			msgs = append(msgs, inbound{from: fmt.Sprintf("4915200000%03d", i), id: fmt.Sprintf("wamid.batch.%d", i), text: fmt.Sprintf("b%d", i)})
		}
		e.post(t, msgs...)
		for i := range 100 {
			e.waitText(t, fmt.Sprintf("4915200000%03d", i), fmt.Sprintf("echo b%d", i))
		}
	})

	t.Run("duplicate POST answered once", func(t *testing.T) {
		const c = "4915300000001"
		e.post(t, inbound{c, "wamid.dup.1", "once"})
		e.post(t, inbound{c, "wamid.dup.1", "once"})
		// A contact's messages run in order: once the next one is answered, a duplicate
		// run of the first would already have replied.
		e.post(t, inbound{c, "wamid.dup.2", "after"})
		texts := e.waitText(t, c, "echo after")
		if n := strings.Count(strings.Join(texts, "\n"), "echo once"); n != 1 {
			t.Errorf("duplicate answered %d times: %q", n, texts)
		}
	})

	t.Run("STOP, refused, START", func(t *testing.T) {
		const c = "4915300000002"
		e.post(t, inbound{c, "wamid.stop.1", "  stop "})
		e.waitText(t, c, "unsubscribed")
		e.post(t, inbound{c, "wamid.stop.2", "are you there"})
		e.post(t, inbound{c, "wamid.stop.3", "START"})
		e.waitText(t, c, "subscribed again")
		e.post(t, inbound{c, "wamid.stop.4", "back"})
		texts := e.waitText(t, c, "echo back")
		if strings.Contains(strings.Join(texts, "\n"), "are you there") {
			t.Errorf("a reply went to an opted-out contact: %q", texts)
		}
	})

	t.Run("130429 then success", func(t *testing.T) {
		const c = "4915300000003"
		e.graph.FailNext(1, whatsapp.CodeThroughput)
		e.post(t, inbound{c, "wamid.rl.1", "limited"})
		e.waitText(t, c, "echo limited")
		attempts := 0
		for _, call := range e.graph.Calls() {
			if call.Endpoint == graphfake.EndpointMessages && strings.Contains(string(call.Body), "echo limited") {
				attempts++
			}
		}
		if attempts != 2 {
			t.Errorf("%d send attempts, want 2 (one 130429, one success)", attempts)
		}
	})

	t.Run("131026 recorded, not retried", func(t *testing.T) {
		const c = "4915300000004"
		e.graph.FailFor(c, whatsapp.CodeUndeliverable)
		e.post(t, inbound{c, "wamid.un.1", "unreachable"})
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, err := e.store.OutboundMessages(context.Background(), store.OutboundFilter{ContactKey: c})
			if err != nil {
				t.Fatal(err)
			}
			if len(out) == 1 && out[0].ErrorCode != 0 {
				if out[0].ErrorCode != whatsapp.CodeUndeliverable || out[0].ErrorClass != "unreachable" || out[0].Attempts != 1 {
					t.Errorf("outbound = state %s class %s code %d attempts %d", out[0].State, out[0].ErrorClass, out[0].ErrorCode, out[0].Attempts)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no failed outbound recorded for %s: %+v", c, out)
			}
			time.Sleep(10 * time.Millisecond)
		}
		contact, err := e.store.Contact(context.Background(), "acme", "support", c)
		if err != nil {
			t.Fatal(err)
		}
		if contact.UnreachableCode != whatsapp.CodeUndeliverable {
			t.Errorf("contact's unreachable code = %d, want 131026 recorded", contact.UnreachableCode)
		}
	})
}
