package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/server"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

const (
	token       = "FAKE-DEMO-ACCESS-TOKEN-not-a-real-token"
	verifyToken = "fake-demo-verify-token"
	appSecret   = "fake-demo-app-secret"
	phoneID     = "100000000000001"
	wabaID      = "200000000000002"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

const orderFlow = `name: order
version: "1.0"
nodes:
  - id: send_template
    type: reply
    config:
      template:
        name: "order_confirmation"
        language: "en"
        components:
          - type: body
            parameters:
              - type: text
                text: "{{order_id}}"
              - type: text
                text: "{{customer_name}}"
`

// newBundle writes a bundle from testdata/answers/local.json with one flow sending the
// order_confirmation template (en), and sets the provider's settings given.
func newBundle(t *testing.T, settings map[string]string) string {
	t.Helper()
	data, err := os.ReadFile("../../../testdata/answers/local.json")
	if err != nil {
		t.Fatal(err)
	}
	a, probs := answers.Parse("local.json", data)
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := bundle.Write(dir, a, bundle.WriteOptions{GTCVersion: "test", Flows: map[string][]byte{"order.ygtc": []byte(orderFlow)}}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, filepath.FromSlash(bundle.ProviderFile("default", "default")))
	pf, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range settings {
		re := regexp.MustCompile(`(?m)^` + k + `: .*$`)
		if !re.Match(pf) {
			t.Fatalf("provider file has no %s", k)
		}
		pf = re.ReplaceAll(pf, []byte(k+": "+v))
	}
	if err := os.WriteFile(file, pf, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

type nopIngester struct{}

func (nopIngester) Ingest(context.Context, string, string, []whatsapp.Event) error { return nil }
func (nopIngester) Ready() error                                                   { return nil }

// servedWebhook stands in for gtc serve behind a TLS tunnel: the real server handler for
// tenant default/default with the given verify token.
func servedWebhook(t *testing.T, verify string) *httptest.Server {
	t.Helper()
	srv, err := server.New(server.Config{Delivery: nopIngester{}, Tenants: []server.Tenant{{Tenant: "default", Team: "default",
		PhoneNumberID: phoneID, VerifyToken: secret.New(verify), AppSecret: secret.New(appSecret)}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

type env struct {
	dir   string
	graph *graphfake.Server
	hc    *http.Client
}

// setup builds a bundle whose public URL is a TLS server running gtc's real webhook handler
// (with verify, "" for a server that does not exist) and whose Graph API is a graphfake.
// The app's callback URL is the bundle's per-tenant URL (one number, one app), unless
// graph changes the fake's options.
func setup(t *testing.T, verify string, settings map[string]string) *env {
	t.Helper()
	return setupGraph(t, verify, settings, nil)
}

func setupGraph(t *testing.T, verify string, settings map[string]string, graph func(public string, o *graphfake.Options)) *env {
	t.Helper()
	hook := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(hook.Close)
	public := hook.URL
	if verify != "" {
		public = servedWebhook(t, verify).URL
	}
	if verify == "closed" {
		hook.Close()
		public = hook.URL
	}
	if v, ok := settings["public_base_url"]; ok {
		public = v
	}
	gopts := graphfake.Options{Token: token, PhoneNumberID: phoneID, BusinessAccountID: wabaID,
		DisplayPhoneNumber: "15550001111", VerifiedName: "Demo Shop", AppCallbackURL: public + "/webhook/whatsapp/default/default"}
	if graph != nil {
		graph(public, &gopts)
	}
	g := graphfake.New(gopts)
	t.Cleanup(g.Close)
	s := map[string]string{"public_base_url": public, "api_base_url": g.URL, "api_version": NewestAPIVersion}
	for k, v := range settings {
		s[k] = v
	}
	return &env{dir: newBundle(t, s), graph: g, hc: hook.Client()}
}

func (e *env) run(t *testing.T, mod func(*DoctorOptions)) (*Report, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	o := &DoctorOptions{IO: &cmdutil.IOStreams{Out: &out, ErrOut: &errOut}, LookupEnv: func(string) (string, bool) { return "", false },
		Now: func() time.Time { return now }, BundleDir: e.dir, JSON: true, Timeout: 5 * time.Second, HTTPClient: e.hc}
	if mod != nil {
		mod(o)
	}
	err := doctorRun(o)
	for _, s := range []string{token, verifyToken, appSecret} {
		if strings.Contains(out.String()+errOut.String(), s) {
			t.Fatalf("a secret appears in the output:\n%s", out.String())
		}
	}
	var r Report
	if jerr := json.Unmarshal(out.Bytes(), &r); jerr != nil {
		t.Fatalf("output is not JSON: %v\n%s", jerr, out.String())
	}
	return &r, err
}

func find(r *Report, name string) []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

func wantCheck(t *testing.T, r *Report, name, status, msg string) Check {
	t.Helper()
	for _, c := range find(r, name) {
		if c.Status == status && strings.Contains(c.Message, msg) {
			return c
		}
	}
	t.Fatalf("no %s check %s containing %q in:\n%s", status, name, msg, dump(r))
	return Check{}
}

func dump(r *Report) string {
	b, _ := json.MarshalIndent(r.Checks, "", "  ")
	return string(b)
}

func wantExit(t *testing.T, err error, code int) {
	t.Helper()
	if code == 0 {
		if err != nil {
			t.Fatalf("err = %v, want exit 0", err)
		}
		return
	}
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != code {
		t.Fatalf("err = %v, want exit %d", err, code)
	}
}

func TestAllGood(t *testing.T) {
	e := setup(t, verifyToken, nil)
	r, err := e.run(t, nil)
	wantExit(t, err, 0)
	if r.Problems != 0 || r.Warnings != 0 {
		t.Fatalf("problems %d, warnings %d:\n%s", r.Problems, r.Warnings, dump(r))
	}
	wantCheck(t, r, "webhook", OK, "answered the handshake")
	wantCheck(t, r, "token", OK, "valid for phone number "+phoneID)
	wantCheck(t, r, "phone_number", OK, `+1 555-000-1111 "Demo Shop", quality GREEN, throughput STANDARD`)
	wantCheck(t, r, "messaging_tier", OK, "Meta's messaging limit is 2000 (TIER_2K); gtc enforces 1000 (messaging_limit): set it to 2000 to use all of it")
	wantCheck(t, r, "templates", OK, "order_confirmation (en), used by order/send_template: APPROVED")
	wantCheck(t, r, "flows", OK, "1 flow(s) valid")
	wantCheck(t, r, "state", OK, "no state database yet")
}

func TestGraphChecks(t *testing.T) {
	tests := []struct {
		name      string
		prepare   func(g *graphfake.Server)
		check     string
		msg, fix  string
		settings  map[string]string
		wantCalls bool
	}{
		{name: "token expired", prepare: func(g *graphfake.Server) {
			g.Inject(graphfake.Fault{Code: 190, Subcode: 463, Endpoint: "*", Message: "Error validating access token: Session has expired"})
		}, check: "token", msg: "the access token is invalid or expired", fix: "token"},
		{name: "template missing", prepare: func(g *graphfake.Server) {
			g.SetTemplates([]graphfake.Template{{ID: "1", Name: "hello_world", Language: "en_US", Status: "APPROVED", Category: "UTILITY"}})
		}, check: "templates", msg: "order_confirmation (en), used by order/send_template: does not exist in business account " + wabaID, fix: "WhatsApp Manager"},
		{name: "template pending", prepare: func(g *graphfake.Server) {
			g.SetTemplates([]graphfake.Template{{ID: "1", Name: "order_confirmation", Language: "en", Status: "PENDING", Category: "UTILITY"}})
		}, check: "templates", msg: "status PENDING", fix: "wait for Meta's review"},
		{name: "template rejected", prepare: func(g *graphfake.Server) {
			g.SetTemplates([]graphfake.Template{{ID: "1", Name: "order_confirmation", Language: "en", Status: "REJECTED", Category: "UTILITY"}})
		}, check: "templates", msg: "status REJECTED", fix: "rejection reason"},
		{name: "template paused by webhook", prepare: func(g *graphfake.Server) {
			if _, err := g.TemplateStatus("order_confirmation", "en", "PAUSED", "", now); err != nil {
				panic(err)
			}
		}, check: "templates", msg: "status PAUSED, Meta refuses to send it", fix: "customers reported it"},
		{name: "template rejected with a reason", prepare: func(g *graphfake.Server) {
			if _, err := g.TemplateStatus("order_confirmation", "en", "REJECTED", "INCORRECT_CATEGORY", now); err != nil {
				panic(err)
			}
		}, check: "templates", msg: "status REJECTED (reason: INCORRECT_CATEGORY)", fix: "rejection reason"},
		{name: "template in another language", prepare: func(g *graphfake.Server) {
			g.SetTemplates([]graphfake.Template{{ID: "1", Name: "order_confirmation", Language: "en_US", Status: "APPROVED", Category: "UTILITY"},
				{ID: "2", Name: "order_confirmation", Language: "de", Status: "APPROVED", Category: "UTILITY"}})
		}, check: "templates", msg: "exists only in de, en_US", fix: "add the en translation"},
		{name: "wrong phone number id", settings: map[string]string{"phone_number_id": `"100000000000999"`},
			check: "token", msg: "read phone number 100000000000999", fix: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, verifyToken, tt.settings)
			if tt.prepare != nil {
				tt.prepare(e.graph)
			}
			r, err := e.run(t, nil)
			wantExit(t, err, 1)
			c := wantCheck(t, r, tt.check, Problem, tt.msg)
			if !strings.Contains(c.Fix, tt.fix) || c.Fix == "" {
				t.Errorf("fix = %q, want it to mention %q", c.Fix, tt.fix)
			}
		})
	}
}

func TestTemplateQuality(t *testing.T) {
	for _, tt := range []struct{ quality, status string }{{"GREEN", OK}, {"UNKNOWN", OK}, {"YELLOW", Warning}, {"RED", Warning}} {
		t.Run(tt.quality, func(t *testing.T) {
			e := setup(t, verifyToken, nil)
			if _, err := e.graph.TemplateQuality("order_confirmation", "en", "GREEN", tt.quality, now); err != nil {
				t.Fatal(err)
			}
			r, _ := e.run(t, nil)
			msg := "order_confirmation (en), used by order/send_template: APPROVED"
			if tt.status == Warning {
				msg += ", quality " + tt.quality
			}
			wantCheck(t, r, "templates", tt.status, msg)
		})
	}
}

func TestPublicURL(t *testing.T) {
	tests := []struct {
		name     string
		verify   string
		settings map[string]string
		check    string
		msg      string
		status   string
	}{
		{"not reaching the server", "closed", nil, "webhook", "cannot be reached", Problem},
		{"another server", "", nil, "webhook", "answered HTTP 404", Problem},
		{"a gtc serve of another bundle", "another-verify-token", nil, "webhook", "refused the verify token (403)", Problem},
		// Plain http is allowed for this machine only: fine locally, but Meta cannot call it.
		{"plain http on this machine", verifyToken, map[string]string{"public_base_url": "http://127.0.0.1:1"}, "public_url", "Meta cannot deliver webhooks to it", Warning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, tt.verify, tt.settings)
			r, err := e.run(t, nil)
			wantExit(t, err, 1)
			c := wantCheck(t, r, tt.check, tt.status, tt.msg)
			if c.Fix == "" {
				t.Errorf("no fix for %+v", c)
			}
		})
	}
}

func TestOfflineMakesNoCalls(t *testing.T) {
	e := setup(t, "closed", map[string]string{"api_version": "v18.0"})
	r, err := e.run(t, func(o *DoctorOptions) { o.Offline = true })
	wantExit(t, err, 0)
	if n := len(e.graph.Calls()); n != 0 {
		t.Errorf("--offline made %d Graph calls", n)
	}
	wantCheck(t, r, "webhook", OK, "--offline")
	c := wantCheck(t, r, "api_version", Warning, "v18.0 retired on 2026-01-26: Meta now serves calls to it as the oldest version still available")
	if !strings.Contains(c.Fix, "api_version: "+NewestAPIVersion) {
		t.Errorf("fix = %q", c.Fix)
	}
}

func TestSecretsAndSettings(t *testing.T) {
	t.Run("env reference not set", func(t *testing.T) {
		e := setup(t, verifyToken, nil)
		sec := filepath.Join(e.dir, bundle.SecretsFile)
		data, err := os.ReadFile(sec)
		if err != nil {
			t.Fatal(err)
		}
		// Drop the access token from secrets.env: it is then read from the environment.
		re := regexp.MustCompile(`(?m)^WHATSAPP_DEFAULT_DEFAULT_ACCESS_TOKEN=.*\n`)
		if !re.Match(data) {
			t.Fatalf("secrets.env has no access token line:\n%s", data)
		}
		if err := os.WriteFile(sec, re.ReplaceAll(data, nil), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := e.run(t, nil)
		wantExit(t, err, 1)
		wantCheck(t, r, "secrets", Problem, "access_token comes from the environment variable WHATSAPP_DEFAULT_DEFAULT_ACCESS_TOKEN, which is not set")
		// With the variable set, all is well again.
		r, err = e.run(t, func(o *DoctorOptions) {
			o.LookupEnv = func(k string) (string, bool) { return token, k == "WHATSAPP_DEFAULT_DEFAULT_ACCESS_TOKEN" }
		})
		wantExit(t, err, 0)
		wantCheck(t, r, "secrets", OK, "every secret resolves")
	})
	t.Run("no app secret", func(t *testing.T) {
		e := setup(t, verifyToken, nil)
		file := filepath.Join(e.dir, filepath.FromSlash(bundle.ProviderFile("default", "default")))
		data, _ := os.ReadFile(file)
		data = regexp.MustCompile(`(?m)^  app_secret: .*\n`).ReplaceAll(data, nil)
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := e.run(t, func(o *DoctorOptions) { o.Offline = true })
		wantExit(t, err, 1)
		wantCheck(t, r, "app_secret", Problem, "no app secret")
	})
	t.Run("invalid bundle", func(t *testing.T) {
		e := setup(t, verifyToken, map[string]string{"recipient_interval": "soon"})
		r, err := e.run(t, func(o *DoctorOptions) { o.Offline = true })
		wantExit(t, err, 1)
		wantCheck(t, r, "bundle", Problem, "recipient_interval")
	})
	t.Run("invalid flow", func(t *testing.T) {
		e := setup(t, verifyToken, nil)
		if err := os.WriteFile(filepath.Join(e.dir, "flows", "bad.ygtc"), []byte("name: bad\nnodes: 3\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := e.run(t, func(o *DoctorOptions) { o.Offline = true })
		wantExit(t, err, 1)
		wantCheck(t, r, "flows", Problem, "bad.ygtc:")
	})
}

func TestState(t *testing.T) {
	e := setup(t, verifyToken, map[string]string{"messaging_limit": "2"})
	ctx := context.Background()
	clock := now.Add(-23*time.Hour - 30*time.Minute)
	st, err := store.Open(ctx, filepath.Join(e.dir, "state", "gtc.db"), store.Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(from, id string, at time.Time) store.InboundEvent {
		raw, _ := json.Marshal(whatsapp.Event{Kind: whatsapp.EventMessage, Message: &whatsapp.InboundMessage{ID: id, From: from, Type: "text"}})
		return store.InboundEvent{Kind: store.KindMessage, DedupeKey: id, Raw: raw, ContactKey: from, MessageID: id, MessageType: "text", WaID: from, Timestamp: at}
	}
	errRaw, _ := json.Marshal(whatsapp.Event{Kind: whatsapp.EventError, Error: &whatsapp.ErrorDetail{Code: 131000, Title: "Something went wrong"}})
	if _, err := st.Ingest(ctx, "default", "default", []store.InboundEvent{
		ev("4915100000001", "wamid.a", clock),                   // window closes in 30 minutes
		ev("4915100000002", "wamid.b", now.Add(-48*time.Hour)),  // closed
		{Kind: store.KindError, DedupeKey: "err1", Raw: errRaw}, // a webhook error
	}); err != nil {
		t.Fatal(err)
	}
	var news []store.NewOutbound
	for range 4 {
		news = append(news, store.NewOutbound{ContactKey: "4915100000001", Recipient: "+4915100000001", Origin: store.OriginSend, MessageType: "text", Request: []byte(`{}`)})
	}
	ids, err := st.RecordOutbound(ctx, "default", "default", news)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.FinishOutbounds(ctx, []store.Finish{
		{ID: ids[0], Result: store.OutboundResult{State: store.OutSent, WAMID: "wamid.1", Attempted: true}},
		{ID: ids[1], Result: store.OutboundResult{State: store.OutSent, WAMID: "wamid.2", Attempted: true}},
		{ID: ids[2], Result: store.OutboundResult{State: store.OutFailed, ErrorClass: "auth", ErrorCode: 190, Attempted: true}},
		{ID: ids[3], Result: store.OutboundResult{State: store.OutRefused, ErrorClass: "window_closed"}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.SetOptOut(ctx, store.ContactRef{Tenant: "default", Team: "default", Key: "4915100000002"}, true, clock); err != nil {
		t.Fatal(err)
	}
	// Two business-initiated conversations of the limit's 2; the statuses' pricing.
	for _, to := range []string{"4915100000003", "4915100000004"} {
		if g, err := st.OpenConversation(ctx, "phone:100000000000001", to, 2, clock); err != nil || !g.OK {
			t.Fatalf("open conversation %+v %v", g, err)
		}
	}
	pricing := func(wamid string, p *store.Pricing) store.InboundEvent {
		return store.InboundEvent{Kind: store.KindStatus, DedupeKey: "status:" + wamid + ":delivered", Raw: []byte(`{}`),
			Status: &store.StatusUpdate{WAMID: wamid, Status: "delivered", At: clock, Pricing: p}}
	}
	if _, err := st.Ingest(ctx, "default", "default", []store.InboundEvent{
		pricing("wamid.1", &store.Pricing{Billable: true, PricingModel: "PMP", Category: "utility", Type: "regular"}),
		pricing("wamid.2", &store.Pricing{Billable: false, PricingModel: "PMP", Category: "service", Type: "free_customer_service"}),
	}); err != nil {
		t.Fatal(err)
	}
	// Two event webhooks waiting, the first failing.
	oe := store.OutboxEvent{Type: "message.received", Body: func(id, _ int64) ([]byte, error) { return []byte(`{}`), nil }}
	ref := store.ContactRef{Tenant: "default", Team: "default", Key: "4915100000001"}
	if err := st.RecordOutbox(ctx, ref, []store.OutboxEvent{oe, oe}); err != nil {
		t.Fatal(err)
	}
	due, err := st.DueOutbox(ctx, clock, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due %d, %v", len(due), err)
	}
	if err := st.FinishOutbox(ctx, due[0].ID, store.OutboxAttempt{NextAt: clock.Add(time.Hour), Status: 401,
		Error: "POST https://helpdesk.example.com/hooks/gtc: answered 401 Unauthorized"}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	r, err := e.run(t, func(o *DoctorOptions) { o.Offline = true })
	wantExit(t, err, 1)
	wantCheck(t, r, "webhook_errors", Warning, `1 error webhook(s) from Meta in the last 24 hours; the newest: {"code":131000`)
	wantCheck(t, r, "failed_sends", Problem, "auth 1, window_closed 1")
	wantCheck(t, r, "windows", OK, "2 contact(s); 1 window(s) close within 2h0m0s; 1 closed")
	wantCheck(t, r, "opt_outs", OK, "1 contact(s) opted out")
	wantCheck(t, r, "messaging_limit", Problem, "this number: 2 of 2 business-initiated conversation(s) in the last 24 hours, 0 left: the limit is reached")
	wantCheck(t, r, "billing", OK, "1 billable message(s) in the last 30 days (utility 1), 1 free; by day: gtc report ")
	wantCheck(t, r, "retention", OK, "keeps message content 90d and idempotency keys 24h: 3 inbound event(s) with content (oldest 2026-11-")
	wantCheck(t, r, "events", Warning, "2 event(s) waiting, the oldest for 23h30m0s; 1 failing; last error: POST https://helpdesk.example.com/hooks/gtc: answered 401 Unauthorized")
}

func TestTextOutput(t *testing.T) {
	e := setup(t, "closed", nil)
	var out bytes.Buffer
	err := doctorRun(&DoctorOptions{IO: &cmdutil.IOStreams{Out: &out, ErrOut: &out}, LookupEnv: func(string) (string, bool) { return "", false },
		Now: func() time.Time { return now }, BundleDir: e.dir, Timeout: 5 * time.Second, HTTPClient: e.hc})
	wantExit(t, err, 1)
	s := out.String()
	for _, want := range []string{"ok       bundle: 1 provider(s) configured\n", "problem  default/default webhook: ", "fix: start gtc serve ", "\n1 problem(s), 0 warning(s)\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestNotABundle(t *testing.T) {
	err := doctorRun(&DoctorOptions{IO: &cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, BundleDir: t.TempDir()})
	var fe *cmdutil.FlagError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "not a gtc bundle") {
		t.Fatalf("err = %v, want a usage error", err)
	}
}

func TestOlder(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{{"v18.0", "v23.0", true}, {"v23.0", "v23.0", false}, {"v24.0", "v23.0", false}, {"v23.1", "v23.0", false}, {"v9.0", "v23.0", true}, {"latest", "v23.0", false}} {
		if got := older(tt.a, tt.b); got != tt.want {
			t.Errorf("older(%s, %s) = %v", tt.a, tt.b, got)
		}
	}
}

func FuzzOlder(f *testing.F) {
	for _, s := range []string{"v18.0", "v23.0", "v9.9", "23.0", "v.", "v1.2.3", "latest"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if older(v, v) {
			t.Fatalf("%q is older than itself", v)
		}
		if older(v, NewestAPIVersion) && older(NewestAPIVersion, v) {
			t.Fatalf("%q is both older and newer than %s", v, NewestAPIVersion)
		}
	})
}

func TestAPIVersionCheck(t *testing.T) {
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		version, status, msg string
	}{
		{NewestAPIVersion, OK, NewestAPIVersion},
		{"v25.0", OK, "v25.0, available until 2028-07-29"},
		{"v20.0", Warning, "v20.0 retired on 2026-09-24: Meta now serves calls to it as the oldest version still available"},
		{"v18.0", Warning, "v18.0 retired on 2026-01-26"},
		{"v21.0", Warning, "v21.0 retires on 2027-01-21; after that Meta serves calls to it as the oldest version still available"},
		{"v99.0", Warning, "v99.0 is newer than " + NewestAPIVersion},
		{"v9.0", Warning, "v9.0 is not a Graph API version gtc knows"},
	}
	for _, tt := range tests {
		c := apiVersionCheck(tt.version, now, "p.yaml")
		if c.Status != tt.status || !strings.Contains(c.Message, tt.msg) {
			t.Errorf("%s: %s %q, want %s containing %q", tt.version, c.Status, c.Message, tt.status, tt.msg)
		}
	}
}

func TestWebhookOverride(t *testing.T) {
	const route = "/webhook/whatsapp/default/default"
	tests := []struct {
		name     string
		verify   string // the token the server behind public_base_url knows
		public   string // public_base_url; "" = that server
		app      string // the app's callback URL; "-" = the bundle's route
		override string // preset override; "-" = the bundle's route
		fix      bool
		status   string
		msg      string
		want     string // the override afterwards; "-" = the bundle's route
		posts    int    // POST /{phone} calls
	}{
		{name: "app URL is the route", app: "-", status: OK, msg: "no override on phone number " + phoneID + ": Meta sends its webhooks to the app's callback URL"},
		{name: "unset, app unknown", status: Warning, msg: "no override on phone number " + phoneID + ": Meta sends its messages and statuses to the app's callback URL, not necessarily"},
		{name: "unset, app elsewhere", app: "https://other.example.com/hook", status: Warning, msg: "to the app's callback URL, https://other.example.com/hook, not to this bundle's"},
		{name: "set to the route", override: "-", want: "-", status: OK, msg: "sends its webhooks to https://"},
		{name: "points elsewhere", override: "https://other.example.com/hook", want: "https://other.example.com/hook", status: Warning, msg: "override callback URL is https://other.example.com/hook, not this bundle's"},
		{name: "fix unset", fix: true, want: "-", posts: 1, status: OK, msg: "override callback URL set to https://"},
		{name: "fix elsewhere", fix: true, override: "https://other.example.com/hook", want: "-", posts: 1, status: OK, msg: "(was https://other.example.com/hook)"},
		{name: "fix when already set", fix: true, override: "-", want: "-", status: OK, msg: "sends its webhooks to"},
		{name: "fix, handshake refused", fix: true, verify: "another-token", posts: 1, status: Problem, msg: "Callback verification failed"},
		{name: "fix, http URL", fix: true, public: "http://127.0.0.1:1", status: Problem, msg: "is not https: Meta only calls https webhooks"},
		{name: "http URL", public: "http://127.0.0.1:1", status: OK, msg: "not checked: http://127.0.0.1:1/webhook/whatsapp/default/default cannot be an override callback URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verify := tt.verify
			if verify == "" {
				verify = verifyToken
			}
			settings := map[string]string{}
			if tt.public != "" {
				settings["public_base_url"] = tt.public
			}
			var want string
			e := setupGraph(t, verify, settings, func(public string, o *graphfake.Options) {
				want = public + route
				o.AppCallbackURL = ""
				switch tt.app {
				case "-":
					o.AppCallbackURL = want
				case "":
				default:
					o.AppCallbackURL = tt.app
				}
				// Meta's handshake, through a client that trusts the test TLS servers (they
				// share httptest's certificate).
				ts := httptest.NewTLSServer(http.NotFoundHandler())
				t.Cleanup(ts.Close)
				o.CallbackClient = ts.Client()
			})
			switch tt.override {
			case "-":
				e.graph.SetWebhookOverride(want)
			case "":
			default:
				e.graph.SetWebhookOverride(tt.override)
			}
			r, _ := e.run(t, func(o *DoctorOptions) { o.Fix = tt.fix })
			wantCheck(t, r, "webhook_override", tt.status, tt.msg)
			wantOverride := tt.want
			if wantOverride == "-" {
				wantOverride = want
			}
			if got := e.graph.WebhookOverride(); got != wantOverride {
				t.Errorf("override = %q, want %q", got, wantOverride)
			}
			posts := 0
			for _, c := range e.graph.Calls() {
				if c.Endpoint == graphfake.EndpointPhoneSettings {
					posts++
					if bytes.Contains(c.Body, []byte(verify)) {
						t.Errorf("the fake recorded the verify token: %s", c.Body)
					}
				}
			}
			if posts != tt.posts {
				t.Errorf("%d POST /{phone} calls, want %d", posts, tt.posts)
			}
		})
	}
}

func TestFixOffline(t *testing.T) {
	f := cmdutil.NewFactory(&cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	cmd := NewCmdDoctor(f, func(*DoctorOptions) error { return nil })
	cmd.SetArgs([]string{"b", "--fix", "--offline"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	err := cmd.Execute()
	var fe *cmdutil.FlagError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "cannot be combined with --offline") {
		t.Fatalf("err = %v, want a usage error", err)
	}
}

// Meta's messaging limit (Graph's whatsapp_business_manager_messaging_limit) against the
// one gtc enforces: above Meta's is a warning, below it a note.
func TestMessagingTier(t *testing.T) {
	for _, tt := range []struct {
		tier      string
		limit     int
		portfolio string
		status    string
		want      string
	}{
		{"TIER_2K", 2000, "", OK, "2000 (TIER_2K), as gtc enforces (messaging_limit)"},
		{"TIER_2K", 1000, "", OK, "Meta's messaging limit is 2000 (TIER_2K); gtc enforces 1000 (messaging_limit): set it to 2000 to use all of it"},
		{"TIER_250", 1000, "", Warning, "Meta's messaging limit is 250 (TIER_250) but gtc enforces 1000 (messaging_limit): Meta refuses the conversations beyond 250"},
		{"TIER_10K", 0, "555", Warning, "gtc enforces no limit (portfolio.messaging_limit)"},
		{"TIER_UNLIMITED", 100000, "555", OK, "Meta's messaging limit is unlimited (TIER_UNLIMITED); gtc enforces 100000 (portfolio.messaging_limit)"},
		{"TIER_UNLIMITED", 0, "", OK, "unlimited (TIER_UNLIMITED), as gtc enforces"},
		{"TIER_MAYBE", 1000, "", OK, "Graph reports the messaging limit TIER_MAYBE, which gtc does not know"},
	} {
		t.Run(tt.tier, func(t *testing.T) {
			p := &bundle.Provider{PhoneNumberID: "1", MessagingLimit: tt.limit}
			if tt.portfolio != "" {
				p.Portfolio = answers.Portfolio{ID: tt.portfolio, MessagingLimit: tt.limit}
			}
			c := messagingTier(tt.tier, p)
			if c.Status != tt.status || !strings.Contains(c.Message, tt.want) {
				t.Fatalf("%s: %s, want %s: %s", c.Status, c.Message, tt.status, tt.want)
			}
		})
	}
}

// A template a flow uses that Meta's webhook paused is a problem, offline (the state says
// so) and online when Graph's list agrees, with the date the webhook gave.
func TestRecordedTemplateNotSendable(t *testing.T) {
	e := setup(t, verifyToken, nil)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(e.dir, "state", "gtc.db"))
	if err != nil {
		t.Fatal(err)
	}
	paused := now.Add(-3 * time.Hour)
	if err := st.RecordTemplates(ctx, "default", "default", []store.TemplateUpdate{
		{Name: "order_confirmation", Language: "en", Status: "PAUSED", Reason: "FLAGGED_BY_CUSTOMERS", At: paused}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	const msg = "template order_confirmation (en), used by order/send_template: status PAUSED since 2026"
	r, err := e.run(t, func(o *DoctorOptions) { o.Offline = true })
	wantExit(t, err, 1)
	wantCheck(t, r, "templates", Problem, msg)
	// Graph's list says APPROVED now: newer than the webhook, so it is sendable.
	r, _ = e.run(t, nil)
	wantCheck(t, r, "templates", OK, "order_confirmation (en), used by order/send_template: APPROVED")
	// Graph agrees it is paused: a problem with the webhook's date and reason.
	if _, err := e.graph.TemplateStatus("order_confirmation", "en", "PAUSED", "FLAGGED_BY_CUSTOMERS", paused); err != nil {
		t.Fatal(err)
	}
	r, err = e.run(t, nil)
	wantExit(t, err, 1)
	wantCheck(t, r, "templates", Problem, msg)
	wantCheck(t, r, "templates", Problem, "(reason: FLAGGED_BY_CUSTOMERS), Meta refuses to send it")
}
