package chat

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/app"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/fakes/llm"
	"github.com/greentic/gtc/pkg/fakes/orderapi"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/server"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/tui"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// FakeLLMModel is the model gtc chat --fake-llm configures.
const FakeLLMModel = "gtc-fake"

// chatAppSecret signs the simulated webhooks when the bundle has no app secret, so the
// server's signature check runs exactly as in production.
const chatAppSecret = "gtc-chat-local-app-secret"

// SessionConfig configures a local chat session.
type SessionConfig struct {
	Dir       string
	Tenant    string
	Team      string
	From      string // customer number, E.164
	Name      string // customer profile name
	LookupEnv func(string) (string, bool)
	Logger    *slog.Logger
	// Now is the wall clock the session's clock starts from (time.Now when nil).
	Now func() time.Time
	// Timeout bounds a turn.
	Timeout time.Duration
	// FakeOrderAPI starts the order API double (pkg/fakes/orderapi) and points the
	// provider's order_api_url at it; FakeLLM starts the LLM double (pkg/fakes/llm) and
	// makes it the provider's llm (model "gtc-fake").
	FakeOrderAPI, FakeLLM bool
	// KeepState, when set, is a SQLite file that keeps the session's state (messages,
	// contacts, conversations) after it ends, and continues one kept before; "" = a
	// temporary database removed on Close.
	KeepState string
}

// Session runs a bundle's flows against the real server handler and delivery, with
// graphfake as the Graph API, and plays a WhatsApp customer. It implements tui.ChatBackend.
type Session struct {
	cfg      SessionConfig
	provider *bundle.Provider
	flows    *flow.Set
	fake     *graphfake.Server
	store    *store.Store
	app      *app.App
	http     *http.Server
	ln       net.Listener
	base     string
	secret   string
	waID     string

	mu       sync.Mutex
	offset   time.Duration
	seq      int
	seen     int
	lastIn   time.Time
	statuses map[string]string
	stateDir string

	orderAPI *orderapi.Server
	llm      *llm.Server
}

// Start loads the bundle and starts everything on a loopback port over a temporary state
// directory. Close stops it and removes the state.
func Start(ctx context.Context, cfg SessionConfig) (s *Session, err error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	from, err := whatsapp.NormalizeE164(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("--as %s: %w", cfg.From, err)
	}
	b, err := bundle.Load(cfg.Dir, bundle.LoadOptions{LookupEnv: cfg.LookupEnv})
	if err != nil {
		return nil, fmt.Errorf("load bundle: %w", err)
	}
	p, err := app.SelectProvider(b, cfg.Tenant, cfg.Team)
	if err != nil {
		return nil, err
	}
	flows, err := flow.LoadDir(b.FlowsDir())
	if err != nil {
		return nil, fmt.Errorf("load flows: %w", err)
	}
	s = &Session{cfg: cfg, provider: p, flows: flows, waID: strings.TrimPrefix(from, "+"), statuses: map[string]string{}}
	sess := s // a failed start returns nil: close what was started
	defer func() {
		if err != nil {
			sess.Close()
		}
	}()
	s.secret = chatAppSecret
	if as, rerr := p.AppSecret.Resolve(cfg.LookupEnv); rerr == nil && as != "" {
		s.secret = as
	}
	token := "gtc-chat-token"
	if s.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	s.base = "http://" + s.ln.Addr().String()
	s.fake = graphfake.New(graphfake.Options{Token: token, PhoneNumberID: p.PhoneNumberID, BusinessAccountID: p.BusinessAccountID,
		Clock: s.now, StatusWebhook: graphfake.StatusWebhook{URL: s.base + p.CallbackPath(), AppSecret: s.secret}})
	dbPath := cfg.KeepState
	if dbPath == "" {
		if s.stateDir, err = os.MkdirTemp("", "gtc-chat-"); err != nil {
			return nil, fmt.Errorf("create state directory: %w", err)
		}
		dbPath = filepath.Join(s.stateDir, "gtc.db")
	} else if err = os.MkdirAll(filepath.Dir(dbPath), 0o700); err != nil {
		return nil, fmt.Errorf("--keep-state %s: %w", dbPath, err)
	}
	if s.store, err = store.Open(ctx, dbPath); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	local := *p
	local.APIBaseURL = s.fake.URL
	local.AccessToken = secret.New(token)
	// Delivery marks each inbound message read, as it would on WhatsApp.
	local.MarkRead = true
	var callTransport http.RoundTripper
	if cfg.FakeOrderAPI {
		s.orderAPI = orderapi.New(orderapi.Options{})
		to, perr := url.Parse(s.orderAPI.OrdersURL())
		if perr != nil {
			return nil, perr
		}
		if local.OrderAPIURL == "" {
			// Flows that read the setting call the double directly.
			local.OrderAPIURL = s.orderAPI.OrdersURL()
			if len(local.HTTPAllow) > 0 {
				local.HTTPAllow = append(slices.Clone(local.HTTPAllow), to.Host)
			}
		}
		callTransport = &redirectTransport{from: strings.TrimSuffix(local.OrderAPIURL, "/"), to: to, next: http.DefaultTransport}
	}
	if cfg.FakeLLM {
		s.llm = llm.New(llm.Options{})
		local.LLM = &answers.LLM{BaseURL: s.llm.BaseURL(), Model: FakeLLMModel}
	}
	flowSecret, err := app.FlowSecrets(b, cfg.LookupEnv)
	if err != nil {
		return nil, err
	}
	// The same assembly as gtc serve, over a temporary store, with the local provider.
	if s.app, err = app.Start(ctx, app.Config{Providers: []*bundle.Provider{&local}, Flows: flows, Store: s.store,
		LookupEnv: cfg.LookupEnv, Logger: cfg.Logger, Now: s.now, NoAPI: true, FlowSecret: flowSecret,
		CallTransport: callTransport,
		Tenants:       []server.Tenant{{Tenant: p.Tenant, Team: p.Team, PhoneNumberID: p.PhoneNumberID, AppSecret: secret.New(s.secret)}}}); err != nil {
		return nil, err
	}
	h := s.app.Server.Handler()
	s.http = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Watch the status webhooks graphfake sends back, for the ticks.
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if evs, perr := whatsapp.ParseWebhook(body); perr == nil {
				s.mu.Lock()
				for _, ev := range evs {
					if ev.Status != nil && rank(ev.Status.Status) > rank(s.statuses[ev.Status.ID]) {
						s.statuses[ev.Status.ID] = ev.Status.Status
					}
				}
				s.mu.Unlock()
			}
		}
		h.ServeHTTP(w, r)
	})}
	go func() { _ = s.http.Serve(s.ln) }()
	return s, nil
}

func rank(status string) int {
	switch status {
	case "sent":
		return 1
	case "delivered":
		return 2
	case "read":
		return 3
	case "failed":
		return 4
	}
	return 0
}

// now is the session's clock: the wall clock plus every /wait.
func (s *Session) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Now().Add(s.offset)
}

// Close stops the server, the workers and the fake, and removes the state.
func (s *Session) Close() {
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.http.Shutdown(ctx)
		cancel()
	} else if s.ln != nil {
		s.ln.Close()
	}
	if s.app != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = s.app.Stop(ctx)
		cancel()
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.fake != nil {
		s.fake.Close()
	}
	if s.orderAPI != nil {
		s.orderAPI.Close()
	}
	if s.llm != nil {
		s.llm.Close()
	}
	if s.stateDir != "" {
		os.RemoveAll(s.stateDir)
	}
}

// Customer is who the user plays.
func (s *Session) Customer() string { return "+" + s.waID }

// Advance moves the clock on (/wait 25h) and feeds the conversation timeouts that came due
// through delivery, as their jobs would on a server's wall clock, waiting until the bot has
// answered them. Their replies come with the next turn (or Pending).
func (s *Session) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	n, err := s.app.Delivery.FeedDueTimeouts(ctx)
	if err != nil {
		s.cfg.Logger.Error("feed due timeouts", "err", err)
		return
	}
	if n == 0 {
		return
	}
	deadline := time.Now().Add(s.cfg.Timeout)
	for time.Now().Before(deadline) {
		if done, err := s.turnOver(ctx, 0, "timeout"); err != nil || done {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Pending returns the bot's messages no turn has returned yet (a timeout's replies after
// Advance).
func (s *Session) Pending() []tui.ChatMessage { return s.take() }

// Waiting describes the question the customer's conversation waits on ("" when none):
// "check_status/ask_order, answer within 30m0s".
func (s *Session) Waiting(ctx context.Context) string {
	c, err := s.store.ConversationOf(ctx, store.ContactRef{Tenant: s.provider.Tenant, Team: s.provider.Team, Key: s.waID})
	if err != nil || c.State == nil {
		return ""
	}
	w := c.Flow + "/" + c.Node
	if c.Status == store.StatusHandoff {
		w += ", with a person (queue " + c.Queue + "): the bot is quiet until an agent releases it"
		if !c.Deadline.IsZero() {
			w += " or for " + c.Deadline.Sub(c.WaitingSince).String()
		}
		return w
	}
	if !c.Deadline.IsZero() {
		w += ", answer within " + c.Deadline.Sub(c.WaitingSince).String()
	}
	return w
}

// SendText posts a signed text webhook from the customer and returns the bot's replies.
func (s *Session) SendText(ctx context.Context, text string) ([]tui.ChatMessage, error) {
	return s.post(ctx, map[string]any{"type": "text", "text": map[string]any{"body": text}})
}

// Choose posts the interactive reply for a reply button (kind "button") or list row
// (kind "list") and returns the bot's replies.
func (s *Session) Choose(ctx context.Context, c tui.ChatChoice) ([]tui.ChatMessage, error) {
	if c.Kind == "list" {
		return s.post(ctx, map[string]any{"type": "interactive", "interactive": map[string]any{"type": "list_reply",
			"list_reply": map[string]any{"id": c.ID, "title": c.Title, "description": c.Description}}})
	}
	return s.post(ctx, map[string]any{"type": "interactive", "interactive": map[string]any{"type": "button_reply",
		"button_reply": map[string]any{"id": c.ID, "title": c.Title}}})
}

// SubmitForm posts a submitted WhatsApp Flow form (interactive nfm_reply) from the
// customer, as WhatsApp sends it: the fields in response_json, with the flow_token of the
// bot's latest Flow message (a Flow interactive, or a template's FLOW button) unless form
// gives one, and that message as the context. It returns the bot's replies.
func (s *Session) SubmitForm(ctx context.Context, form map[string]any) ([]tui.ChatMessage, error) {
	resp := make(map[string]any, len(form)+1)
	for k, v := range form {
		resp[k] = v
	}
	msg := map[string]any{"type": "interactive"}
	if id, token, ok := s.lastFlow(); ok {
		msg["context"] = map[string]any{"from": graphfake.DefaultDisplayPhoneNumber, "id": id}
		if _, given := resp["flow_token"]; !given && token != "" {
			resp["flow_token"] = token
		}
	}
	rj, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("encode the form: %w", err)
	}
	msg["interactive"] = map[string]any{"type": "nfm_reply",
		"nfm_reply": map[string]any{"name": "flow", "body": "Sent", "response_json": string(rj)}}
	return s.post(ctx, msg)
}

// lastFlow finds the bot's latest message that opens a Flow: its wamid and flow_token.
func (s *Session) lastFlow() (id, token string, ok bool) {
	sends := s.sends()
	for i := len(sends) - 1; i >= 0; i-- {
		m := sends[i].Message
		if in := m.Interactive; in != nil && in.Type == "flow" {
			if in.Action.Flow != nil {
				token = in.Action.Flow.FlowToken
			}
			return sends[i].MessageID, token, true
		}
		if t := m.Template; t != nil {
			for _, c := range t.Components {
				if c.SubType != "flow" {
					continue
				}
				for _, p := range c.Parameters {
					if p.Action != nil {
						token = p.Action.FlowToken
					}
				}
				return sends[i].MessageID, token, true
			}
		}
	}
	return "", "", false
}

// StartFlow starts a flow on purpose, as `gtc send --flow` does, and sends its replies
// (a business-initiated message: a template outside the 24-hour window).
func (s *Session) StartFlow(ctx context.Context, name string) ([]tui.ChatMessage, error) {
	// Through delivery, like `gtc send --flow`: the flow sees the contact's last inbound time,
	// and opt-outs, the 24-hour window and pacing apply to its replies.
	out, err := s.app.Delivery.StartFlow(ctx, s.provider.Tenant, s.provider.Team, delivery.FlowStart{Flow: name, To: "+" + s.waID})
	var none *delivery.NoRepliesError
	if errors.As(err, &none) {
		return s.collect(ctx, 0, "")
	}
	if err != nil {
		return nil, err
	}
	sent := 0
	for _, o := range out {
		switch o.State {
		case store.OutSent:
			sent++
		case store.OutRefused, store.OutFailed:
			return nil, fmt.Errorf("flow %s: reply %s/%s not sent: %s", name, o.Flow, o.Node, o.ErrorClass)
		}
	}
	return s.collect(ctx, sent, "")
}

func (s *Session) post(ctx context.Context, msg map[string]any) ([]tui.ChatMessage, error) {
	now := s.now()
	s.mu.Lock()
	s.seq++
	msg["id"] = fmt.Sprintf("wamid.chat.%d.%d", now.UnixNano(), s.seq)
	s.lastIn = now
	s.mu.Unlock()
	msg["from"] = s.waID
	msg["timestamp"] = fmt.Sprint(now.Unix())
	name := s.cfg.Name
	if name == "" {
		name = "Customer"
	}
	body, err := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": s.provider.BusinessAccountID, "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]any{"display_phone_number": graphfake.DefaultDisplayPhoneNumber, "phone_number_id": s.provider.PhoneNumberID},
			"contacts":          []any{map[string]any{"profile": map[string]any{"name": name}, "wa_id": s.waID}},
			"messages":          []any{msg},
		}}}}}})
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, []byte(s.secret))
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+s.provider.CallbackPath(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("post webhook: %w", err)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the server answered the webhook with %s: %s", resp.Status, strings.TrimSpace(string(answer)))
	}
	out, err := s.collect(ctx, 0, msg["id"].(string))
	if err != nil || len(out) > 0 {
		return out, err
	}
	return []tui.ChatMessage{{NoReply: s.noReplyReason(ctx, now)}}, nil
}

// noReplyReason says why the bot sent nothing for the customer's last message: opted out,
// with a person, a reply refused (the 24-hour window), or no flow triggered.
func (s *Session) noReplyReason(ctx context.Context, since time.Time) string {
	ref := store.ContactRef{Tenant: s.provider.Tenant, Team: s.provider.Team, Key: s.waID}
	if c, err := s.store.Contact(ctx, ref.Tenant, ref.Team, ref.Key); err == nil && c != nil && c.OptedOut {
		return "you opted out; START opts in again"
	}
	if conv, err := s.store.ConversationOf(ctx, ref); err == nil && conv != nil && conv.Status == store.StatusHandoff {
		return "a person has this conversation; the bot stays quiet"
	}
	refused, err := s.store.OutboundMessages(ctx, store.OutboundFilter{Tenant: ref.Tenant, Team: ref.Team, ContactKey: ref.Key,
		States: []string{store.OutRefused}, Limit: 1})
	if err == nil && len(refused) > 0 && !refused[0].CreatedAt.Before(since) {
		if refused[0].ErrorClass == delivery.ReasonWindowClosed {
			return "the 24-hour window is closed: only templates may go out"
		}
		return "the reply was refused: " + refused[0].ErrorClass
	}
	return "no flow is triggered by this message"
}

// collect waits until the bot's turn is over and returns its new messages. For a webhook
// (inbound != "") the store says so exactly: the acknowledged event is no longer pending (its
// flow ran and recorded its replies in the same transaction) and none of the contact's
// replies is still waiting for its first send attempt. For a flow started by the session
// (StartFlow sends synchronously) at least min sends must have reached graphfake.
func (s *Session) collect(ctx context.Context, min int, inbound string) ([]tui.ChatMessage, error) {
	deadline := time.Now().Add(s.cfg.Timeout)
	for {
		done, err := s.turnOver(ctx, min, inbound)
		if err != nil {
			return nil, err
		}
		if done {
			return s.take(), nil
		}
		if time.Now().After(deadline) {
			return nil, errors.New("the bot did not reply in time")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// turnOver reports whether the bot has finished answering.
func (s *Session) turnOver(ctx context.Context, min int, inbound string) (bool, error) {
	if inbound == "" {
		s.mu.Lock()
		seen := s.seen
		s.mu.Unlock()
		return len(s.sends())-seen >= min, nil
	}
	ref := store.ContactRef{Tenant: s.provider.Tenant, Team: s.provider.Team, Key: s.waID}
	pending, err := s.store.PendingEvents(ctx, ref, 1)
	if err != nil {
		return false, fmt.Errorf("read the bot's progress: %w", err)
	}
	if len(pending) > 0 {
		return false, nil
	}
	// A call the flow makes (http, ai) runs in its own job: the turn is over after its
	// result was processed.
	conv, err := s.store.ConversationOf(ctx, ref)
	if err != nil {
		return false, fmt.Errorf("read the bot's progress: %w", err)
	}
	if conv.Status == store.StatusCalling {
		return false, nil
	}
	unsent, err := s.store.OutboundMessages(ctx, store.OutboundFilter{Tenant: ref.Tenant, Team: ref.Team, ContactKey: ref.Key,
		States: []string{store.OutPending, store.OutSending}, Limit: 1})
	if err != nil {
		return false, fmt.Errorf("read the bot's progress: %w", err)
	}
	return len(unsent) == 0, nil
}

// sends are graphfake's accepted message sends, in order.
func (s *Session) sends() []graphfake.Call {
	var out []graphfake.Call
	for _, c := range s.fake.Calls() {
		if c.Message != nil && c.MessageID != "" {
			out = append(out, c)
		}
	}
	return out
}

func (s *Session) take() []tui.ChatMessage {
	sends := s.sends()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tui.ChatMessage
	for _, c := range sends[s.seen:] {
		out = append(out, tui.ChatMessage{ID: c.MessageID, Message: *c.Message})
	}
	s.seen = len(sends)
	return out
}

// Status returns the latest status (sent, delivered, read, failed) of a bot message.
func (s *Session) Status(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statuses[id]
}
