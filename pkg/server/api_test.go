package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/flow/starter"
	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/server"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

const (
	apiKey   = "test-api-key-0123456789"
	salesKey = "sales-api-key-9876543210"
)

type apiEnv struct {
	base  string
	graph *graphfake.Server
	store *store.Store
}

// newAPIEnv runs the send API over a real listener: server → delivery → store → Cloud API
// client → graphfake, with the seed's order_confirmation flow loaded.
// With sales, a second tenant/team acme/sales with its own key serves the same number.
func newAPIEnv(t *testing.T, sales bool) *apiEnv {
	t.Helper()
	dir := t.TempDir()
	seed, err := starter.FS.ReadFile("order_confirmation.ygtc")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "order_confirmation.ygtc"), seed, 0o644); err != nil {
		t.Fatal(err)
	}
	flows, err := flow.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	tenants := []server.Tenant{{Tenant: "acme", Team: "support",
		PhoneNumberID: e2ePhone, VerifyToken: secret.New("vt"), AppSecret: secret.New(e2eSecret), APIKey: secret.New(apiKey)}}
	if sales {
		tenants = append(tenants, server.Tenant{Tenant: "acme", Team: "sales", PhoneNumberID: e2ePhone,
			VerifyToken: secret.New("vt2"), AppSecret: secret.New(e2eSecret), APIKey: secret.New(salesKey)})
	}
	st := startStack(t, dir, flows, tenants, true)
	return &apiEnv{base: st.base, graph: st.graph, store: st.store}
}

type apiAnswer struct {
	code int
	raw  string
	m    map[string]any
}

func (a apiAnswer) str(key string) string { s, _ := a.m[key].(string); return s }

func (e *apiEnv) do(t *testing.T, method, path, auth, idem, body string) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if idem != "" {
		req.Header.Set(server.IdempotencyHeader, idem)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := apiAnswer{code: resp.StatusCode, raw: string(raw)}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, raw)
	}
	if err := json.Unmarshal(raw, &a.m); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v: %s", method, path, err, raw)
	}
	return a
}

func (e *apiEnv) post(t *testing.T, idem, body string) apiAnswer {
	t.Helper()
	return e.do(t, http.MethodPost, "/v1/messages", "Bearer "+apiKey, idem, body)
}

// sentTo returns the messages graphfake accepted for recipient (digits compared).
func (e *apiEnv) sentTo(recipient string) []whatsapp.Message {
	var out []whatsapp.Message
	for _, m := range e.graph.Messages() {
		if strings.TrimPrefix(m.To, "+") == recipient {
			out = append(out, m)
		}
	}
	return out
}

// order is the order_confirmation template with its two body parameters, as a send API
// caller gives them: literal values.
func order(id, name string) string {
	return `"template": {"name": "order_confirmation", "language": "en", "components": [{"type": "body",
	"parameters": [{"type": "text", "text": ` + strconv.Quote(id) + `}, {"type": "text", "text": ` + strconv.Quote(name) + `}]}]}`
}

func templateParams(m whatsapp.Message) []string {
	var out []string
	if m.Template == nil {
		return nil
	}
	for _, c := range m.Template.Components {
		for _, p := range c.Parameters {
			out = append(out, p.Text)
		}
	}
	return out
}

func TestSendAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end send API test; skipped with -short")
	}
	e := newAPIEnv(t, false)

	t.Run("auth", func(t *testing.T) {
		body := `{"to": "+4915100000001", "message": "hi"}`
		for _, tt := range []struct{ name, method, path, auth string }{
			{"POST without header", http.MethodPost, "/v1/messages", ""},
			{"POST with wrong key", http.MethodPost, "/v1/messages", "Bearer wrong-key"},
			{"POST with key as basic auth", http.MethodPost, "/v1/messages", "Basic " + apiKey},
			{"POST with empty bearer", http.MethodPost, "/v1/messages", "Bearer "},
			{"GET without header", http.MethodGet, "/v1/messages/1", ""},
			{"GET with wrong key", http.MethodGet, "/v1/messages/1", "Bearer " + apiKey + "x"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				a := e.do(t, tt.method, tt.path, tt.auth, "", body)
				if a.code != http.StatusUnauthorized || !strings.Contains(a.str("error"), "API key") {
					t.Fatalf("answer %d %s, want 401 naming the API key", a.code, a.raw)
				}
				if strings.Contains(a.raw, apiKey) {
					t.Fatalf("answer leaks the API key: %s", a.raw)
				}
			})
		}
		if n := len(e.sentTo("4915100000001")); n != 0 {
			t.Fatalf("unauthenticated requests sent %d messages", n)
		}
	})

	t.Run("bad body names the field", func(t *testing.T) {
		const to = `"to": "+4915100000002"`
		for _, tt := range []struct {
			name, body string
			code       int
			path, msg  string
		}{
			{"not JSON", `hello`, 400, "", "JSON object"},
			{"array", `[1]`, 400, "", "JSON object"},
			{"missing to", `{"message": "hi"}`, 400, "to", "missing to"},
			{"to without country code", `{"to": "015123456789", "message": "hi"}`, 400, "to", "country"},
			{"to of the wrong type", `{"to": 4915100000002, "message": "hi"}`, 400, "to", "string"},
			{"no message kind", `{` + to + `}`, 400, "", "a reply needs one of"},
			{"misspelt key", `{` + to + `, "mesage": "hi"}`, 400, "mesage", "did you mean message"},
			{"two kinds", `{` + to + `, "message": "hi", "location": {"latitude": 1, "longitude": 2}}`, 400, "location", "both message and location"},
			{"template without name", `{` + to + `, "template": {"language": "en"}}`, 400, "template.name", "missing name"},
			{"text too long", `{` + to + `, "message": "` + strings.Repeat("x", 4097) + `"}`, 400, "message", "4096"},
			{"vars without a flow", `{` + to + `, "message": "hi", "vars": {"name": "A"}}`, 400, "vars", "vars only apply when starting a flow"},
			{"next outside a flow", `{` + to + `, "message": "hi", "next": "b"}`, 400, "next", "only applies inside a flow"},
			{"flow and reply both", `{` + to + `, "flow": "order_confirmation", "message": "hi"}`, 400, "message", "not both"},
			{"unknown flow", `{` + to + `, "flow": "nope"}`, 400, "flow", "no flow nope"},
			{"unknown node", `{` + to + `, "flow": "order_confirmation", "node": "nope"}`, 400, "node", "no node nope"},
			{"flow var not given", `{` + to + `, "flow": "order_confirmation", "vars": {"order_id": "1"}}`, 400, "flow", "missing variable customer_name: give it in vars"},
			{"vars not an object", `{` + to + `, "flow": "order_confirmation", "vars": [1]}`, 400, "vars", "object"},
			{"unknown tenant", `{` + to + `, "tenant": "acme", "team": "sales", "message": "hi"}`, 404, "tenant", "no enabled provider"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				a := e.post(t, "", tt.body)
				if a.code != tt.code || a.str("path") != tt.path || !strings.Contains(a.str("error"), tt.msg) {
					t.Fatalf("answer %d %s, want %d with path %q and an error containing %q", a.code, a.raw, tt.code, tt.path, tt.msg)
				}
			})
		}
		if n := len(e.sentTo("4915100000002")); n != 0 {
			t.Fatalf("bad requests sent %d messages", n)
		}
	})

	t.Run("template with vars goes without a window", func(t *testing.T) {
		a := e.post(t, "", `{"to": "+49 151 0000 0003", `+order("A-17", "Ana")+`}`)
		if a.code != http.StatusAccepted || a.str("id") == "" || a.str("status") != store.OutSent {
			t.Fatalf("answer %d %s, want 202 sent", a.code, a.raw)
		}
		id, _ := json.Number(a.str("id")).Int64()
		if o, err := e.store.OutboundByID(context.Background(), id); err != nil || o.Origin != store.OriginAPI || o.Recipient != "+4915100000003" {
			t.Fatalf("recorded %+v, %v", o, err)
		}
		got := e.sentTo("4915100000003")
		if len(got) != 1 || got[0].Template == nil || got[0].Template.Name != "order_confirmation" ||
			fmt.Sprint(templateParams(got[0])) != "[A-17 Ana]" {
			t.Fatalf("graphfake got %+v", got)
		}
	})

	t.Run("flow start with vars", func(t *testing.T) {
		a := e.post(t, "", `{"flow": "order_confirmation", "to": "+4915100000004", "vars": {"order_id": "B-2", "customer_name": "Bo"}}`)
		if a.code != http.StatusAccepted || a.str("status") != store.OutSent {
			t.Fatalf("answer %d %s, want 202 sent", a.code, a.raw)
		}
		got := e.sentTo("4915100000004")
		if len(got) != 1 || fmt.Sprint(templateParams(got[0])) != "[B-2 Bo]" {
			t.Fatalf("graphfake got %+v", got)
		}
		id, _ := json.Number(a.str("id")).Int64()
		o, err := e.store.OutboundByID(context.Background(), id)
		if err != nil || o.Flow != "order_confirmation" || o.Node != "send_template" || o.State != store.OutSent ||
			o.Origin != store.OriginAPI {
			t.Fatalf("recorded %+v, %v", o, err)
		}
	})

	t.Run("free-form needs the window", func(t *testing.T) {
		const c = "4915100000005"
		a := e.post(t, "", `{"to": "+`+c+`", "message": "hello"}`)
		if a.code != http.StatusConflict || a.str("reason") != "window_closed" || a.str("id") == "" {
			t.Fatalf("answer %d %s, want 409 window_closed", a.code, a.raw)
		}
		postWebhook(t, e.base, body(inbound{c, "wamid.api.win", "hi"}))
		a = e.post(t, "", `{"to": "+`+c+`", "message": "hello Cy"}`)
		if a.code != http.StatusAccepted || a.str("status") != store.OutSent {
			t.Fatalf("after an inbound message: answer %d %s, want 202 sent", a.code, a.raw)
		}
		got := e.sentTo(c)
		if len(got) != 1 || got[0].Text == nil || got[0].Text.Body != "hello Cy" {
			t.Fatalf("graphfake got %+v", got)
		}
	})

	t.Run("caller text is sent as written", func(t *testing.T) {
		// A shop backend puts a customer's name into the text: whatever the customer typed
		// must reach WhatsApp as written, never run as an expression.
		const c = "4915100000009"
		postWebhook(t, e.base, body(inbound{c, "wamid.api.lit", "hi"}))
		for _, tt := range []struct{ name, body, want string }{
			{"expression", `"message": "Dear {{replace(repeat('x', 1000), 'x', repeat('y', 1000))}}"`, "Dear {{replace(repeat('x', 1000), 'x', repeat('y', 1000))}}"},
			{"lone braces", `"message": "use {{ to open and }} to close"`, "use {{ to open and }} to close"},
			{"unclosed", `"message": "price {{"`, "price {{"},
			{"env name", `"message": "hi {{contact.name}} {{now}}"`, "hi {{contact.name}} {{now}}"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				before := len(e.sentTo(c))
				a := e.post(t, "", `{"to": "+`+c+`", `+tt.body+`}`)
				if a.code != http.StatusAccepted {
					t.Fatalf("answer %d %s, want 202", a.code, a.raw)
				}
				got := e.sentTo(c)
				if len(got) != before+1 || got[before].Text == nil || got[before].Text.Body != tt.want {
					t.Fatalf("graphfake got %+v, want the text %q", got[before:], tt.want)
				}
			})
		}
		a := e.post(t, "", `{"to": "+`+c+`", `+order("{{order_id}}", "{{repeat('A', 9)}}")+`}`)
		if a.code != http.StatusAccepted {
			t.Fatalf("template: answer %d %s, want 202", a.code, a.raw)
		}
		got := e.sentTo(c)
		if p := templateParams(got[len(got)-1]); len(p) != 2 || p[0] != "{{order_id}}" || p[1] != "{{repeat('A', 9)}}" {
			t.Fatalf("template parameters %q, want them as written", p)
		}
	})

	t.Run("opted-out contact", func(t *testing.T) {
		const c = "4915100000006"
		if err := e.store.SetOptOut(context.Background(), store.ContactRef{Tenant: "acme", Team: "support", Key: c}, true, time.Now()); err != nil {
			t.Fatal(err)
		}
		for _, b := range []string{
			`{"to": "+` + c + `", ` + order("1", "Di") + `}`,
			`{"to": "+` + c + `", "flow": "order_confirmation", "vars": {"order_id": "1", "customer_name": "Di"}}`,
		} {
			a := e.post(t, "", b)
			if a.code != http.StatusConflict || a.str("reason") != "opted_out" || !strings.Contains(a.str("error"), "opted out") {
				t.Fatalf("answer %d %s, want 409 opted_out", a.code, a.raw)
			}
		}
		if n := len(e.sentTo(c)); n != 0 {
			t.Fatalf("an opted-out contact got %d messages", n)
		}
	})

	t.Run("idempotent retry", func(t *testing.T) {
		const c = "4915100000007"
		b := `{"to": "+` + c + `", ` + order("C-3", "Ed") + `}`
		first := e.post(t, "order-C-3", b)
		if first.code != http.StatusAccepted || first.str("id") == "" {
			t.Fatalf("first answer %d %s", first.code, first.raw)
		}
		var wg sync.WaitGroup
		answers := make([]apiAnswer, 4)
		for i := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = e.post(t, "order-C-3", b)
			}()
		}
		wg.Wait()
		for _, a := range answers {
			if a.code != http.StatusAccepted || a.str("id") != first.str("id") {
				t.Fatalf("retry answered %d %s, want 202 with id %s", a.code, a.raw, first.str("id"))
			}
		}
		if n := len(e.sentTo(c)); n != 1 {
			t.Fatalf("graphfake got %d messages for one idempotency key, want 1", n)
		}
		changed := e.post(t, "order-C-3", strings.Replace(b, "C-3", "C-9", 1))
		if changed.code != http.StatusUnprocessableEntity || changed.str("path") != server.IdempotencyHeader {
			t.Fatalf("same key, other body: answer %d %s, want 422", changed.code, changed.raw)
		}
		if n := len(e.sentTo(c)); n != 1 {
			t.Fatalf("graphfake got %d messages after reusing the key, want 1", n)
		}
		other := e.post(t, "order-C-4", b)
		if other.code != http.StatusAccepted || other.str("id") == first.str("id") {
			t.Fatalf("another key answered %d %s, want a new message", other.code, other.raw)
		}
	})

	t.Run("GET status", func(t *testing.T) {
		const c = "4915100000008"
		a := e.post(t, "", `{"to": "+`+c+`", `+order("D-4", "Flo")+`}`)
		if a.code != http.StatusAccepted {
			t.Fatalf("POST answered %d %s", a.code, a.raw)
		}
		id := a.str("id")
		get := func() apiAnswer { return e.do(t, http.MethodGet, "/v1/messages/"+id, "Bearer "+apiKey, "", "") }
		g := get()
		if g.code != http.StatusOK || g.str("id") != id || g.str("state") != store.OutSent || g.str("to") != "+"+c ||
			!strings.HasPrefix(g.str("wamid"), "wamid.") || g.str("type") != "template" {
			t.Fatalf("GET answered %d %s", g.code, g.raw)
		}
		postWebhook(t, e.base, statusBody(g.str("wamid"), c, "delivered"))
		deadline := time.Now().Add(20 * time.Second)
		for g.str("status") != "delivered" {
			if time.Now().After(deadline) {
				t.Fatalf("status never became delivered: %s", g.raw)
			}
			time.Sleep(10 * time.Millisecond)
			g = get()
		}
		for _, tt := range []struct{ name, path string }{
			{"unknown id", "/v1/messages/999999"},
			{"not a number", "/v1/messages/abc"},
			{"zero", "/v1/messages/0"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if a := e.do(t, http.MethodGet, tt.path, "Bearer "+apiKey, "", ""); a.code != http.StatusNotFound || a.str("path") != "id" {
					t.Fatalf("answer %d %s, want 404", a.code, a.raw)
				}
			})
		}
	})
}

func TestSendAPITenants(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end send API test; skipped with -short")
	}
	e := newAPIEnv(t, true)
	const c = "4915100000010"
	tmpl := `"to": "+` + c + `", ` + order("T-1", "Gus") + ``
	support := e.do(t, http.MethodPost, "/v1/messages", "Bearer "+apiKey, "", `{"tenant": "acme", "team": "support", `+tmpl+`}`)
	if support.code != http.StatusAccepted {
		t.Fatalf("support's own tenant: answer %d %s", support.code, support.raw)
	}
	for _, tt := range []struct {
		name, method, path, key, body string
		code                          int
		field                         string
	}{
		{"no tenant with several served", http.MethodPost, "/v1/messages", apiKey, `{` + tmpl + `}`, 400, "tenant"},
		{"another team's key", http.MethodPost, "/v1/messages", salesKey, `{"tenant": "acme", "team": "support", ` + tmpl + `}`, 401, ""},
		{"own team", http.MethodPost, "/v1/messages", salesKey, `{"tenant": "acme", "team": "sales", ` + tmpl + `}`, 202, ""},
		{"unknown team", http.MethodPost, "/v1/messages", salesKey, `{"tenant": "acme", "team": "ops", ` + tmpl + `}`, 404, "tenant"},
		{"GET another team's message", http.MethodGet, "/v1/messages/" + support.str("id"), salesKey, "", 404, "id"},
		{"GET own message", http.MethodGet, "/v1/messages/" + support.str("id"), apiKey, "", 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := e.do(t, tt.method, tt.path, "Bearer "+tt.key, "", tt.body)
			if a.code != tt.code || a.str("path") != tt.field {
				t.Fatalf("answer %d %s, want %d with path %q", a.code, a.raw, tt.code, tt.field)
			}
		})
	}
	if n := len(e.sentTo(c)); n != 2 {
		t.Fatalf("graphfake got %d messages, want 2 (one per team that may send)", n)
	}
	t.Run("idempotency keys are per tenant/team", func(t *testing.T) {
		const d = "4915100000011"
		b := `"to": "+` + d + `", ` + order("T-2", "Hal") + ``
		a1 := e.do(t, http.MethodPost, "/v1/messages", "Bearer "+apiKey, "same", `{"tenant": "acme", "team": "support", `+b+`}`)
		a2 := e.do(t, http.MethodPost, "/v1/messages", "Bearer "+salesKey, "same", `{"tenant": "acme", "team": "sales", `+b+`}`)
		if a1.code != 202 || a2.code != 202 || a1.str("id") == a2.str("id") {
			t.Fatalf("answers %d %s and %d %s, want two messages", a1.code, a1.raw, a2.code, a2.raw)
		}
	})
}

func postWebhook(t *testing.T, base string, b []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+server.WebhookPrefix+"acme/support", bytes.NewReader(b))
	req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(b, e2eSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook POST answered %d", resp.StatusCode)
	}
}

func statusBody(wamid, recipient, status string) []byte {
	b, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{"id": "waba", "changes": []any{
		map[string]any{"field": "messages", "value": map[string]any{"metadata": map[string]any{"phone_number_id": e2ePhone},
			"statuses": []any{map[string]any{"id": wamid, "status": status, "timestamp": fmt.Sprint(time.Now().Unix()), "recipient_id": recipient}}}}}}}})
	return b
}
