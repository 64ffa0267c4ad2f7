package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/flow/starter"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/server"
	"github.com/greentic/gtc/pkg/store"
)

// fakeConversations is an in-memory ConversationService: contacts with their state and
// history (cursor = the item's index), and a log of every call.
type fakeConversations struct {
	mu      sync.Mutex
	now     time.Time
	convs   map[string]*server.ConversationDetail
	history map[string][]server.HistoryItem
	nodes   []string
	calls   []string
	filters []server.ConversationFilter
}

func newFakeConversations(now time.Time) *fakeConversations {
	return &fakeConversations{now: now, convs: map[string]*server.ConversationDetail{}, history: map[string][]server.HistoryItem{},
		nodes: []string{"after_human", "start"}}
}

func (f *fakeConversations) add(contact, state string, messages int) {
	closes := f.now.Add(3 * time.Hour)
	since := f.now.Add(-10 * time.Minute)
	f.convs[contact] = &server.ConversationDetail{ConversationSummary: server.ConversationSummary{Contact: contact, Name: "Ana",
		State: state, Queue: "support", Note: "order 42", WaitingSince: &since, Unread: 2, WindowClosesAt: &closes},
		User: map[string]any{"plan": "gold"}}
	for i := range messages {
		dir := "in"
		if i%2 == 1 {
			dir = "out"
		}
		f.history[contact] = append(f.history[contact], server.HistoryItem{ID: fmt.Sprintf("m%d", i), Cursor: strconv.Itoa(i),
			At: f.now.Add(time.Duration(i-messages) * time.Minute), Dir: dir, Kind: "text", Text: fmt.Sprintf("message %d", i)})
	}
}

func (f *fakeConversations) called(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeConversations) ListConversations(_ context.Context, tenant, team string, filter server.ConversationFilter) ([]server.ConversationSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, filter)
	var out []server.ConversationSummary
	keys := make([]string, 0, len(f.convs))
	for k := range f.convs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		c := f.convs[k]
		if (filter.State == "all" || c.State == filter.State) && (filter.Queue == "" || filter.Queue == c.Queue) {
			out = append(out, c.ConversationSummary)
		}
	}
	return out, nil
}

func (f *fakeConversations) GetConversation(_ context.Context, tenant, team, contact string) (*server.ConversationDetail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.convs[contact]
	if !ok {
		return nil, fmt.Errorf("read %s: %w", contact, server.ErrContactNotFound)
	}
	cp := *c
	return &cp, nil
}

func (f *fakeConversations) ConversationMessages(_ context.Context, tenant, team, contact, before string, limit int) (server.HistoryPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.convs[contact]; !ok {
		return server.HistoryPage{}, server.ErrContactNotFound
	}
	h := f.history[contact]
	end := len(h)
	if before != "" {
		n, err := strconv.Atoi(before)
		if err != nil {
			return server.HistoryPage{}, fmt.Errorf("bad cursor %q", before)
		}
		end = min(n, len(h))
	}
	start := max(0, end-limit)
	page := server.HistoryPage{Items: slices.Clone(h[start:end])}
	if start > 0 {
		page.Before = h[start].Cursor
	}
	return page, nil
}

func (f *fakeConversations) Handoff(_ context.Context, tenant, team, contact string, req server.HandoffRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.convs[contact]
	if !ok {
		return server.ErrContactNotFound
	}
	if c.State == "handoff" {
		return fmt.Errorf("hand off %s: %w", contact, server.ErrAlreadyHandedOff)
	}
	c.State, c.Queue, c.Note = "handoff", req.Queue, req.Note
	f.called("handoff %s/%s %s queue=%s note=%s by=%s", tenant, team, contact, req.Queue, req.Note, req.By)
	return nil
}

func (f *fakeConversations) Release(_ context.Context, tenant, team, contact string, req server.ReleaseRequest) error {
	node, by := req.Node, req.By
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.convs[contact]
	if !ok {
		return server.ErrContactNotFound
	}
	if c.State != "handoff" {
		return fmt.Errorf("release %s: %w", contact, server.ErrNotHandedOff)
	}
	if node != "" && !slices.Contains(f.nodes, node) {
		return &delivery.NotFoundError{What: "node", Node: node,
			Err: fmt.Errorf("flow support has no node %q; nodes are %s", node, strings.Join(f.nodes, ", "))}
	}
	c.State, c.Node = "none", node
	if node != "" {
		c.State = "bot"
	}
	if req.ReleaseThread {
		f.called("release %s/%s %s node=%s by=%s release_thread", tenant, team, contact, node, by)
		return nil
	}
	f.called("release %s/%s %s node=%s by=%s", tenant, team, contact, node, by)
	return nil
}

func (f *fakeConversations) AddNote(_ context.Context, tenant, team, contact, author, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.convs[contact]; !ok {
		return server.ErrContactNotFound
	}
	n := len(f.history[contact])
	f.history[contact] = append(f.history[contact], server.HistoryItem{ID: fmt.Sprintf("note-%d", n), Cursor: strconv.Itoa(n),
		At: f.now, Dir: "note", By: author, Kind: "note", Text: text})
	f.called("note %s/%s %s author=%s text=%s", tenant, team, contact, author, text)
	return nil
}

// newConvEnv runs the conversations API over the real send path (delivery, store,
// graphfake) with the fake service for conversation state.
func newConvEnv(t *testing.T) (*apiEnv, *fakeConversations) {
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
	fc := newFakeConversations(time.Now())
	tenants := []server.Tenant{{Tenant: "acme", Team: "support", PhoneNumberID: e2ePhone, VerifyToken: secret.New("vt"),
		AppSecret: secret.New(e2eSecret), APIKey: secret.New(apiKey)}}
	st := startStack(t, dir, flows, tenants, true, func(c *server.Config) { c.Conversations = fc })
	return &apiEnv{base: st.base, graph: st.graph, store: st.store}, fc
}

func (e *apiEnv) conv(t *testing.T, method, path, body string) apiAnswer {
	t.Helper()
	return e.do(t, method, path, "Bearer "+apiKey, "", body)
}

func (a apiAnswer) want(t *testing.T, code int, errCode, path string) {
	t.Helper()
	if a.code != code || a.str("code") != errCode || a.str("path") != path {
		t.Fatalf("answer %d %s, want %d code %q path %q", a.code, a.raw, code, errCode, path)
	}
	if code >= 400 && a.str("error") == "" {
		t.Fatalf("error answer without a message: %s", a.raw)
	}
}

const (
	ana  = "+4915100000101"
	ben  = "+4915100000102"
	bsu  = "US.13491208655302741918"
	cleo = "+4915100000103"
)

func TestConversationsAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end conversations API test; skipped with -short")
	}
	e, fc := newConvEnv(t)
	fc.add(ana, "handoff", 120)
	fc.add(ben, "bot", 3)
	fc.add(bsu, "none", 0)

	t.Run("auth", func(t *testing.T) {
		routes := []struct{ method, path, body string }{
			{"GET", "/v1/conversations", ""},
			{"GET", "/v1/conversations/" + ana, ""},
			{"GET", "/v1/conversations/" + ana + "/messages", ""},
			{"POST", "/v1/conversations/" + ana + "/messages", `{"message": "hi"}`},
			{"POST", "/v1/conversations/" + ana + "/handoff", ``},
			{"POST", "/v1/conversations/" + ana + "/release", ``},
			{"POST", "/v1/conversations/" + ana + "/notes", `{"text": "x"}`},
		}
		for _, rt := range routes {
			for _, auth := range []string{"", "Bearer wrong-key", "Basic " + apiKey} {
				a := e.do(t, rt.method, rt.path, auth, "", rt.body)
				if a.code != http.StatusUnauthorized || !strings.Contains(a.str("error"), "API key") {
					t.Fatalf("%s %s with %q: %d %s, want 401", rt.method, rt.path, auth, a.code, a.raw)
				}
			}
		}
		if len(fc.calls) != 0 || len(e.graph.Messages()) != 0 {
			t.Fatalf("unauthorized requests reached the service: %q, %d sends", fc.calls, len(e.graph.Messages()))
		}
	})

	t.Run("list", func(t *testing.T) {
		a := e.conv(t, "GET", "/v1/conversations", "")
		list, _ := a.m["conversations"].([]any)
		if a.code != 200 || len(list) != 1 || list[0].(map[string]any)["contact"] != ana || list[0].(map[string]any)["window_open"] != true {
			t.Fatalf("default list %d %s, want ana's handoff with the window open", a.code, a.raw)
		}
		a = e.conv(t, "GET", "/v1/conversations?state=all&queue=support&tenant=acme&team=support", "")
		if list, _ := a.m["conversations"].([]any); a.code != 200 || len(list) != 3 {
			t.Fatalf("all %d %s, want 3", a.code, a.raw)
		}
		if got := fc.filters[len(fc.filters)-1]; got != (server.ConversationFilter{State: "all", Queue: "support"}) {
			t.Fatalf("filter %+v", got)
		}
		a = e.conv(t, "GET", "/v1/conversations?state=all&queue=nobody", "")
		if a.code != 200 || !strings.Contains(a.raw, `"conversations":[]`) {
			t.Fatalf("empty list %d %s, want []", a.code, a.raw)
		}
		e.conv(t, "GET", "/v1/conversations?state=open", "").want(t, 400, server.CodeInvalid, "state")
		a = e.conv(t, "GET", "/v1/conversations?stat=bot", "")
		a.want(t, 400, server.CodeInvalid, "stat")
		if !strings.Contains(a.str("error"), "did you mean state") {
			t.Fatalf("no hint: %s", a.raw)
		}
		e.conv(t, "GET", "/v1/conversations?state=bot&state=all", "").want(t, 400, server.CodeInvalid, "state")
		e.conv(t, "GET", "/v1/conversations?tenant=acme&team=sales", "").want(t, 404, "", "tenant")
	})

	t.Run("get", func(t *testing.T) {
		for _, c := range []string{ana, strings.TrimPrefix(ana, "+"), "%2B" + ana[1:], "00" + ana[1:]} {
			a := e.conv(t, "GET", "/v1/conversations/"+c, "")
			if a.code != 200 || a.str("contact") != ana || a.str("state") != "handoff" || a.str("queue") != "support" ||
				a.str("note") != "order 42" || a.m["window_open"] != true || a.str("window_closes_at") == "" {
				t.Fatalf("GET %s: %d %s", c, a.code, a.raw)
			}
			if u, _ := a.m["user"].(map[string]any); u["plan"] != "gold" {
				t.Fatalf("GET %s: user %v", c, a.m["user"])
			}
		}
		if a := e.conv(t, "GET", "/v1/conversations/"+bsu, ""); a.code != 200 || a.str("contact") != bsu {
			t.Fatalf("BSUID: %d %s", a.code, a.raw)
		}
		e.conv(t, "GET", "/v1/conversations/"+cleo, "").want(t, 404, server.CodeContactNotFound, "contact")
		e.conv(t, "GET", "/v1/conversations/not-a-number", "").want(t, 400, server.CodeInvalid, "contact")
		e.conv(t, "GET", "/v1/conversations/"+ana+"?limit=3", "").want(t, 400, server.CodeInvalid, "limit")
	})

	t.Run("history paging", func(t *testing.T) {
		var seen []string
		before, pages := "", 0
		for {
			path := "/v1/conversations/" + ana + "/messages?limit=40"
			if before != "" {
				path += "&before=" + before
			}
			a := e.conv(t, "GET", path, "")
			items, _ := a.m["items"].([]any)
			if a.code != 200 || len(items) == 0 {
				t.Fatalf("page %d: %d %s", pages, a.code, a.raw)
			}
			var ids []string
			for _, it := range items {
				ids = append(ids, it.(map[string]any)["id"].(string))
			}
			seen = append(ids, seen...)
			pages++
			if before = a.str("before"); before == "" {
				break
			}
		}
		if pages != 3 || len(seen) != 120 || seen[0] != "m0" || seen[119] != "m119" {
			t.Fatalf("%d pages, %d items (%s … %s), want 3 pages of all 120 in order", pages, len(seen), seen[0], seen[len(seen)-1])
		}
		a := e.conv(t, "GET", "/v1/conversations/"+ana+"/messages", "")
		if items, _ := a.m["items"].([]any); len(items) != server.DefaultHistoryLimit || a.str("before") != "70" {
			t.Fatalf("default page: %d items, before %q", len(items), a.str("before"))
		}
		a = e.conv(t, "GET", "/v1/conversations/"+ana+"/messages?limit=200", "")
		if items, _ := a.m["items"].([]any); len(items) != 120 || a.str("before") != "" {
			t.Fatalf("limit 200: %d items, before %q", len(items), a.str("before"))
		}
		if a := e.conv(t, "GET", "/v1/conversations/"+bsu+"/messages", ""); a.code != 200 || !strings.Contains(a.raw, `"items":[]`) {
			t.Fatalf("empty history %d %s, want items []", a.code, a.raw)
		}
		for _, q := range []string{"limit=0", "limit=201", "limit=ten", "limit=-1", "limit=1.5"} {
			e.conv(t, "GET", "/v1/conversations/"+ana+"/messages?"+q, "").want(t, 400, server.CodeInvalid, "limit")
		}
		for _, q := range []string{"before=a%20b", "before=%00", "before=" + strings.Repeat("9", 300)} {
			e.conv(t, "GET", "/v1/conversations/"+ana+"/messages?"+q, "").want(t, 400, server.CodeInvalid, "before")
		}
		e.conv(t, "GET", "/v1/conversations/"+cleo+"/messages", "").want(t, 404, server.CodeContactNotFound, "contact")
	})

	t.Run("handoff", func(t *testing.T) {
		a := e.conv(t, "POST", "/v1/conversations/"+strings.TrimPrefix(ben, "+")+"/handoff", `{"queue": "billing", "note": "refund", "by": "dora"}`)
		if a.code != 200 || a.str("state") != "handoff" || a.str("queue") != "billing" || a.str("contact") != ben {
			t.Fatalf("handoff %d %s", a.code, a.raw)
		}
		if last := fc.calls[len(fc.calls)-1]; last != "handoff acme/support "+ben+" queue=billing note=refund by=dora" {
			t.Fatalf("call %q", last)
		}
		e.conv(t, "POST", "/v1/conversations/"+ben+"/handoff", ``).want(t, 409, server.CodeAlreadyHandedOff, "")
		e.conv(t, "POST", "/v1/conversations/"+cleo+"/handoff", ``).want(t, 404, server.CodeContactNotFound, "contact")
		a = e.conv(t, "POST", "/v1/conversations/"+ben+"/handoff", `{"queu": "x"}`)
		a.want(t, 400, server.CodeInvalid, "queu")
		if !strings.Contains(a.str("error"), "did you mean queue") {
			t.Fatalf("no hint: %s", a.raw)
		}
		e.conv(t, "POST", "/v1/conversations/"+ben+"/handoff", `{"queue": 3}`).want(t, 400, server.CodeInvalid, "queue")
		e.conv(t, "POST", "/v1/conversations/"+ben+"/handoff", `[1]`).want(t, 400, server.CodeInvalid, "")
	})

	t.Run("release", func(t *testing.T) {
		a := e.conv(t, "POST", "/v1/conversations/"+ben+"/release", `{"node": "nowhere"}`)
		a.want(t, 400, server.CodeUnknownNode, "node")
		if !strings.Contains(a.str("error"), "after_human") {
			t.Fatalf("the unknown node's error does not list the nodes: %s", a.raw)
		}
		a = e.conv(t, "POST", "/v1/conversations/"+ben+"/release", `{"node": "after_human", "by": "dora"}`)
		if a.code != 200 || a.str("state") != "bot" || a.str("node") != "after_human" {
			t.Fatalf("release %d %s", a.code, a.raw)
		}
		if last := fc.calls[len(fc.calls)-1]; last != "release acme/support "+ben+" node=after_human by=dora" {
			t.Fatalf("call %q", last)
		}
		e.conv(t, "POST", "/v1/conversations/"+ben+"/release", ``).want(t, 409, server.CodeNotHandedOff, "")
		if a := e.conv(t, "POST", "/v1/conversations/"+ana+"/release", ``); a.code != 200 || a.str("state") != "none" {
			t.Fatalf("release to none %d %s", a.code, a.raw)
		}
		if last := fc.calls[len(fc.calls)-1]; last != "release acme/support "+ana+" node= by=api" {
			t.Fatalf("call %q", last)
		}
		// release_thread gives the thread back to Meta's routing: no node with it.
		e.conv(t, "POST", "/v1/conversations/"+ben+"/release", `{"node": "after_human", "release_thread": true}`).want(t, 400, server.CodeInvalid, "release_thread")
		e.conv(t, "POST", "/v1/conversations/"+ben+"/release", `{"release_thread": "yes"}`).want(t, 400, server.CodeInvalid, "release_thread")
	})

	t.Run("notes", func(t *testing.T) {
		a := e.conv(t, "POST", "/v1/conversations/"+bsu+"/notes", `{"text": "called back <ok>", "author": "dora"}`)
		if a.code != http.StatusCreated || a.str("text") != "called back <ok>" || a.str("author") != "dora" {
			t.Fatalf("note %d %s", a.code, a.raw)
		}
		a = e.conv(t, "GET", "/v1/conversations/"+bsu+"/messages", "")
		items, _ := a.m["items"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["dir"] != "note" || items[0].(map[string]any)["by"] != "dora" {
			t.Fatalf("history after the note: %s", a.raw)
		}
		e.conv(t, "POST", "/v1/conversations/"+bsu+"/notes", `{"text": "  "}`).want(t, 400, server.CodeInvalid, "text")
		e.conv(t, "POST", "/v1/conversations/"+bsu+"/notes", ``).want(t, 400, server.CodeInvalid, "text")
		e.conv(t, "POST", "/v1/conversations/"+bsu+"/notes", `{"text": "`+strings.Repeat("x", server.MaxNoteLength+1)+`"}`).want(t, 400, server.CodeInvalid, "text")
		e.conv(t, "POST", "/v1/conversations/"+cleo+"/notes", `{"text": "x"}`).want(t, 404, server.CodeContactNotFound, "contact")
		if a := e.conv(t, "POST", "/v1/conversations/"+bsu+"/notes", `{"text": "x"}`); a.str("author") != "api" {
			t.Fatalf("default author: %s", a.raw)
		}
	})

	t.Run("reply", func(t *testing.T) {
		path := "/v1/conversations/" + strings.TrimPrefix(ana, "+") + "/messages"
		a := e.conv(t, "POST", path, `{`+order("R-1", "Ana")+`}`)
		if a.code != http.StatusAccepted || a.str("id") == "" {
			t.Fatalf("template reply %d %s", a.code, a.raw)
		}
		waitFor(t, func() bool { return len(e.sentTo(ana[1:])) == 1 })

		// Free-form text outside the 24-hour window: the send path's refusal.
		a = e.conv(t, "POST", path, `{"message": "hello"}`)
		a.want(t, http.StatusConflict, "window_closed", "")
		if a.str("reason") != "window_closed" || a.str("id") == "" {
			t.Fatalf("window closed: %s", a.raw)
		}

		// The same idempotency key and body to another contact is another request.
		body := `{` + order("R-2", "Ana") + `}`
		first := e.do(t, "POST", path, "Bearer "+apiKey, "reply-1", body)
		again := e.do(t, "POST", path, "Bearer "+apiKey, "reply-1", body)
		other := e.do(t, "POST", "/v1/conversations/"+ben+"/messages", "Bearer "+apiKey, "reply-1", body)
		if first.code != 202 || again.raw != first.raw || other.code != http.StatusUnprocessableEntity {
			t.Fatalf("idempotency: %d %s / %d %s / %d %s", first.code, first.raw, again.code, again.raw, other.code, other.raw)
		}

		e.conv(t, "POST", path, `{"to": "`+ben+`", "message": "x"}`).want(t, 400, server.CodeInvalid, "to")
		e.conv(t, "POST", path, `{"flow": "order_confirmation"}`).want(t, 400, server.CodeInvalid, "flow")
		e.conv(t, "POST", path, `{"message": "x", "tenant": "acme", "team": "sales"}`).want(t, 404, "", "tenant")
		if a := e.conv(t, "POST", path, `{"to": "`+ana+`", `+order("R-3", "Ana")+`}`); a.code != 202 {
			t.Fatalf("reply naming its own contact in to: %d %s", a.code, a.raw)
		}
		if a := e.conv(t, "POST", path, `{"mesage": "x"}`); a.code != 400 || !strings.Contains(a.raw, "message") {
			t.Fatalf("typo: %d %s", a.code, a.raw)
		}
	})

	t.Run("reply to an opted-out contact", func(t *testing.T) {
		const c = "4915100000109"
		if err := e.store.SetOptOut(context.Background(), store.ContactRef{Tenant: "acme", Team: "support", Key: c}, true, time.Now()); err != nil {
			t.Fatal(err)
		}
		a := e.conv(t, "POST", "/v1/conversations/+"+c+"/messages", `{`+order("R-9", "Opt")+`}`)
		a.want(t, http.StatusConflict, "opted_out", "")
		if !strings.Contains(a.str("error"), "opted out") {
			t.Fatalf("opted out: %s", a.raw)
		}
		if n := len(e.sentTo(c)); n != 0 {
			t.Fatalf("an opted-out contact got %d messages", n)
		}
	})
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConversationsNeedTheSendAPI(t *testing.T) {
	_, err := server.New(server.Config{Delivery: apiIngester{}, Conversations: newFakeConversations(time.Now())})
	if err == nil || !strings.Contains(err.Error(), "send API") {
		t.Fatalf("err %v, want the conversations API to need the send API", err)
	}
}

func TestParseContact(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"+4915123456789", "+4915123456789", ""},
		{"4915123456789", "+4915123456789", ""},
		{"004915123456789", "+4915123456789", ""},
		{" +49 151 2345-6789 ", "+4915123456789", ""},
		{"US.13491208655302741918", "US.13491208655302741918", ""},
		{"US.ENT.11815799212886844830", "US.ENT.11815799212886844830", ""},
		{"", "", "missing contact"},
		{"ana", "", "BSUID"},
		{"+49", "", "E.164"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := server.ParseContact(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseContact(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseContact(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseHistoryQuery(t *testing.T) {
	for _, tc := range []struct {
		before, limit string
		want          int
		field         string
	}{
		{"", "", server.DefaultHistoryLimit, ""},
		{"123", "1", 1, ""},
		{"note-7", "200", 200, ""},
		{"", "201", 0, "limit"},
		{"", "0", 0, "limit"},
		{"", "+5", 5, ""},
		{"", "5x", 0, "limit"},
		{"a b", "", 0, "before"},
		{"\x01", "", 0, "before"},
		{"\xff", "", 0, "before"},
	} {
		_, n, field, err := server.ParseHistoryQuery(tc.before, tc.limit)
		if field != tc.field || (field == "" && (err != nil || n != tc.want)) || (field != "" && err == nil) {
			t.Errorf("ParseHistoryQuery(%q, %q) = %d, %q, %v; want %d, %q", tc.before, tc.limit, n, field, err, tc.want, tc.field)
		}
	}
}

func FuzzParseContact(f *testing.F) {
	for _, s := range []string{"+4915123456789", "4915123456789", "0049 151", "US.1349", "US.ENT.x", "", "+", "٣٤٥", "+1 (555) 010-0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := server.ParseContact(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if !strings.HasPrefix(c, "+") && !strings.Contains(c, ".") {
			t.Fatalf("ParseContact(%q) = %q: neither E.164 nor a BSUID", s, c)
		}
		again, err := server.ParseContact(c)
		if err != nil || again != c {
			t.Fatalf("ParseContact(%q) = %q, but ParseContact(%q) = %q, %v", s, c, c, again, err)
		}
	})
}

func FuzzParseHistoryQuery(f *testing.F) {
	f.Add("", "")
	f.Add("42", "50")
	f.Add("a b", "-1")
	f.Fuzz(func(t *testing.T, before, limit string) {
		b, n, field, err := server.ParseHistoryQuery(before, limit)
		if err != nil {
			if field != "before" && field != "limit" {
				t.Fatalf("error %v names field %q", err, field)
			}
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error is not UTF-8: %q", err.Error())
			}
			return
		}
		if n < 1 || n > server.MaxHistoryLimit || b != before {
			t.Fatalf("ParseHistoryQuery(%q, %q) = %q, %d", before, limit, b, n)
		}
	})
}

// brokenConversations fails every call with err (and answers no conversation at all when
// err is nil).
type brokenConversations struct{ err error }

func (b brokenConversations) ListConversations(context.Context, string, string, server.ConversationFilter) ([]server.ConversationSummary, error) {
	return nil, b.err
}
func (b brokenConversations) GetConversation(context.Context, string, string, string) (*server.ConversationDetail, error) {
	return nil, b.err
}
func (b brokenConversations) ConversationMessages(context.Context, string, string, string, string, int) (server.HistoryPage, error) {
	return server.HistoryPage{}, b.err
}
func (b brokenConversations) Handoff(context.Context, string, string, string, server.HandoffRequest) error {
	return b.err
}
func (b brokenConversations) Release(context.Context, string, string, string, server.ReleaseRequest) error {
	return b.err
}
func (b brokenConversations) AddNote(context.Context, string, string, string, string, string) error {
	return b.err
}

func TestConversationsServiceFailures(t *testing.T) {
	serve := func(svc server.ConversationService, method, path, body string) (int, string) {
		t.Helper()
		st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "gtc.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		srv, err := server.New(server.Config{Delivery: apiIngester{}, Tenants: []server.Tenant{{Tenant: "acme", Team: "support",
			APIKey: secret.New(apiKey)}}, API: &server.API{Sender: &countingSender{}, Store: st}, Conversations: svc})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	secretErr := errors.New("pq: password authentication failed for user gtc: s3cret")
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v1/conversations", ""},
		{"GET", "/v1/conversations/" + ana, ""},
		{"GET", "/v1/conversations/" + ana + "/messages", ""},
		{"POST", "/v1/conversations/" + ana + "/handoff", ""},
		{"POST", "/v1/conversations/" + ana + "/release", ""},
		{"POST", "/v1/conversations/" + ana + "/notes", `{"text": "x"}`},
	} {
		code, body := serve(brokenConversations{err: secretErr}, tc.method, tc.path, tc.body)
		if code != http.StatusInternalServerError || strings.Contains(body, "s3cret") || !strings.Contains(body, "retry later") {
			t.Errorf("%s %s: %d %s, want 500 without the cause", tc.method, tc.path, code, body)
		}
		code, body = serve(brokenConversations{err: delivery.ErrStopped}, tc.method, tc.path, tc.body)
		if code != http.StatusServiceUnavailable {
			t.Errorf("%s %s while stopping: %d %s, want 503", tc.method, tc.path, code, body)
		}
	}
	// Meta refusing the thread control a handoff or a release needs: 409 thread_control.
	refused := &delivery.ThreadControlError{Action: "take", Contact: ana, Err: errors.New("(#2494191) not permitted")}
	for _, sub := range []string{"handoff", "release"} {
		code, body := serve(brokenConversations{err: refused}, "POST", "/v1/conversations/"+ana+"/"+sub, "")
		if code != http.StatusConflict || !strings.Contains(body, `"code":"thread_control"`) || !strings.Contains(body, "escalation partner") {
			t.Errorf("%s refused by Meta: %d %s, want 409 thread_control", sub, code, body)
		}
	}
	// No conversation and no error: a 404, and a handoff that cannot be read back still
	// answers its state.
	if code, body := serve(brokenConversations{}, "GET", "/v1/conversations/"+ana, ""); code != 404 || !strings.Contains(body, server.CodeContactNotFound) {
		t.Errorf("nil conversation: %d %s", code, body)
	}
	if code, body := serve(brokenConversations{}, "POST", "/v1/conversations/"+ana+"/handoff", ""); code != 200 || !strings.Contains(body, `"state":"handoff"`) {
		t.Errorf("handoff read back: %d %s", code, body)
	}
}

// FuzzConversationsRequest sends arbitrary contacts, queries and bodies to every route:
// never a panic or a 500, and every answer of the API is JSON.
func FuzzConversationsRequest(f *testing.F) {
	st, err := store.Open(context.Background(), filepath.Join(f.TempDir(), "gtc.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	srv, err := server.New(server.Config{Delivery: apiIngester{}, Tenants: []server.Tenant{{Tenant: "acme", Team: "support",
		APIKey: secret.New(apiKey)}}, API: &server.API{Sender: &countingSender{}, Store: st}, Conversations: brokenConversations{}})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Add(uint8(0), "+4915100000101", "state=all&queue=x", "")
	f.Add(uint8(2), "4915100000101", "before=12&limit=50", "")
	f.Add(uint8(3), "US.1349", "", `{"message": "hi"}`)
	f.Add(uint8(5), "%2B49151", "tenant=acme", `{"node": "x", "by": "d"}`)
	f.Add(uint8(6), "0049", "", `{"text": "n", "author": 3}`)
	f.Fuzz(func(t *testing.T, route uint8, contact, query, body string) {
		routes := []struct{ method, sub string }{{"GET", "-"}, {"GET", ""}, {"GET", "messages"}, {"POST", "messages"},
			{"POST", "handoff"}, {"POST", "release"}, {"POST", "notes"}}
		rt := routes[int(route)%len(routes)]
		path := "/v1/conversations"
		if rt.sub != "-" {
			path += "/" + contact
			if rt.sub != "" {
				path += "/" + rt.sub
			}
		}
		u, err := url.Parse(path + "?" + query)
		if err != nil || u.Path != path && u.RawPath == "" {
			return
		}
		req := &http.Request{Method: rt.method, URL: u, Header: http.Header{"Authorization": {"Bearer " + apiKey}},
			Body: io.NopCloser(strings.NewReader(body)), Host: "gtc", RequestURI: u.RequestURI()}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(context.Background()))
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", rt.method, u, rec.Code, rec.Body)
		}
		if rec.Header().Get("Content-Type") == "application/json" && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: answer is not JSON: %s", rt.method, u, rec.Body)
		}
	})
}
