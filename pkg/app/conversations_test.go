package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/server"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/tui"
	"github.com/greentic/gtc/pkg/whatsapp"
)

const humanFlow = `name: human
version: "1.0"
nodes:
  - id: escalate
    type: handoff
    config:
      message: "A person will reply here."
      queue: support
      note: "wants a person"
      on_release: back
  - id: back
    type: reply
    config:
      message: "The bot is back."
triggers:
  - type: text
    keywords: [human]
    target: escalate
`

// startHumanApp runs an app on humanFlow with a SQLite store and a Graph double, stopped
// when t ends; it returns the app, its one provider, the store and the flows.
func startHumanApp(t *testing.T) (*App, *bundle.Provider, *store.Store, *flow.Set) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "human.ygtc"), []byte(humanFlow), 0o600); err != nil {
		t.Fatal(err)
	}
	flows, err := flow.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fake := graphfake.New(graphfake.Options{})
	t.Cleanup(fake.Close)
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "gtc.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := &bundle.Provider{Tenant: "acme", Team: "support", Enabled: true, PhoneNumberID: graphfake.DefaultPhoneNumberID,
		APIBaseURL: fake.URL, APIVersion: "v26.0", AccessToken: secret.New(graphfake.DefaultToken)}
	a, err := Start(ctx, Config{Providers: []*bundle.Provider{p}, Flows: flows, Store: st, NoAPI: true,
		Tenants: []server.Tenant{{Tenant: "acme", Team: "support", PhoneNumberID: p.PhoneNumberID}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop(ctx) })
	return a, p, st, flows
}

// The conversations API's service over a running app: a handoff node shows in the list
// with its queue and note, the history has both directions and notes, release resumes the
// bot, and the errors map to the server's.
func TestConversationsService(t *testing.T) {
	ctx := context.Background()
	a, p, st, flows := startHumanApp(t)
	var err error
	cs := a.Conversations
	msg := func(id, text string) {
		t.Helper()
		ev := whatsapp.Event{Kind: whatsapp.EventMessage, Field: "messages", PhoneNumberID: p.PhoneNumberID,
			Message: &whatsapp.InboundMessage{ID: id, Type: "text", From: "4915100891", Timestamp: time.Now().Unix(), Text: text}}
		if err := a.Delivery.Ingest(ctx, "acme", "support", []whatsapp.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	msg("m1", "human")
	var list []server.ConversationSummary
	waitFor("the handoff", func() bool {
		list, err = cs.ListConversations(ctx, "acme", "support", server.ConversationFilter{})
		return err == nil && len(list) == 1
	})
	if s := list[0]; s.Contact != "+4915100891" || s.State != "handoff" || s.Queue != "support" || s.Note != "wants a person" || s.WaitingSince == nil {
		t.Fatalf("summary: %+v", s)
	}
	msg("m2", "hello?")
	waitFor("the message recorded", func() bool {
		d, err := cs.GetConversation(ctx, "acme", "support", "+4915100891")
		return err == nil && d.Unread == 2
	})
	if err := cs.AddNote(ctx, "acme", "support", "+4915100891", "Ana", "call back"); err != nil {
		t.Fatal(err)
	}
	page, err := cs.ConversationMessages(ctx, "acme", "support", "+4915100891", "", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 || page.Items[1].Dir != "note" || page.Items[1].By != "Ana" || page.Before == "" {
		t.Fatalf("newest page: %+v", page)
	}
	older, err := cs.ConversationMessages(ctx, "acme", "support", "+4915100891", page.Before, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(older.Items) != 2 || older.Items[0].Text != "human" || older.Items[1].Dir != "out" || older.Before != "" {
		t.Fatalf("older page: %+v", older)
	}
	if err := cs.Handoff(ctx, "acme", "support", "+4915100891", server.HandoffRequest{}); !errors.Is(err, server.ErrAlreadyHandedOff) {
		t.Fatalf("second handoff: %v", err)
	}
	if _, err := cs.GetConversation(ctx, "acme", "support", "+4900000"); !errors.Is(err, server.ErrContactNotFound) {
		t.Fatalf("unknown contact: %v", err)
	}
	in := &Inbox{Conversations: cs.(*Conversations), Delivery: a.Delivery, Store: st, Tenant: "acme", Team: "support", Agent: "Ana", Flows: flows}
	ilist, err := in.List(ctx, tui.InboxFilter{})
	if err != nil || len(ilist) != 1 || ilist[0].Queue != "support" || ilist[0].WindowClosesAt.IsZero() {
		t.Fatalf("inbox list %+v, %v", ilist, err)
	}
	if err := in.Reply(ctx, "+4915100891", tui.InboxReply{Text: "Hi, Ana here"}); err != nil {
		t.Fatalf("reply: %v", err)
	}
	if err := in.MarkRead(ctx, "+4915100891"); err != nil {
		t.Fatal(err)
	}
	hist, err := in.History(ctx, "+4915100891", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	last := hist[len(hist)-1]
	if last.Dir != "out" || last.Out == nil || last.Out.Text == nil || last.Out.Text.Body != "Hi, Ana here" || last.Status != "sent" {
		t.Fatalf("the reply in the history: %+v", last)
	}
	if d, _ := cs.GetConversation(ctx, "acme", "support", "+4915100891"); d.Unread != 0 {
		t.Fatalf("unread after MarkRead = %d", d.Unread)
	}
	if nodes := in.Nodes(); !slices.Contains(nodes, "human/back") {
		t.Fatalf("nodes %q", nodes)
	}
	if err := cs.Release(ctx, "acme", "support", "+4915100891", server.ReleaseRequest{By: "Ana"}); err != nil {
		t.Fatal(err)
	}
	waitFor("the release", func() bool {
		d, err := cs.GetConversation(ctx, "acme", "support", "+4915100891")
		return err == nil && d.State == "none"
	})
	if err := cs.Release(ctx, "acme", "support", "+4915100891", server.ReleaseRequest{By: "Ana"}); !errors.Is(err, server.ErrNotHandedOff) {
		t.Fatalf("release twice: %v", err)
	}
	var ref *tui.InboxRefusal
	if err := in.Reply(ctx, "+4915100891", tui.InboxReply{Text: "still there?"}); !errors.As(err, &ref) || ref.Code != tui.RefusedNotHandedOff {
		t.Fatalf("reply after the release: %v", err)
	}
}

// TestConversationsFollowTheIdentity: a customer known only by a BSUID asks for a person;
// their next message carries their Mexican wa_id too. The conversations API and the inbox
// find the handoff by the BSUID, by the wa_id and by the number as people type it (52
// without the 1), and a release by the typed number hands the same contact back.
func TestConversationsFollowTheIdentity(t *testing.T) {
	ctx := context.Background()
	a, p, st, flows := startHumanApp(t)
	const bsuid, waID = "US.13491208655302741918", "5215512345678"
	msg := func(id, from, user, text string) {
		t.Helper()
		ev := whatsapp.Event{Kind: whatsapp.EventMessage, Field: "messages", PhoneNumberID: p.PhoneNumberID,
			Message: &whatsapp.InboundMessage{ID: id, Type: "text", From: from, FromUser: user, Timestamp: time.Now().Unix(), Text: text}}
		if err := a.Delivery.Ingest(ctx, "acme", "support", []whatsapp.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	cs := a.Conversations
	msg("m1", "", bsuid, "human")
	msg("m2", waID, bsuid, "hello?")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		d, err := cs.GetConversation(ctx, "acme", "support", bsuid)
		if err == nil && d.State == "handoff" && d.Unread == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the handoff with both messages: %+v, %v", d, err)
		}
	}
	for _, name := range []string{bsuid, "+" + waID, "+52 55 1234 5678"} {
		d, err := cs.GetConversation(ctx, "acme", "support", name)
		if err != nil || d.State != "handoff" || d.Queue != "support" {
			t.Errorf("GetConversation(%s) = %+v, %v; want the BSUID's handoff", name, d, err)
		}
		page, err := cs.ConversationMessages(ctx, "acme", "support", name, "", 10)
		if err != nil || len(page.Items) < 3 {
			t.Errorf("ConversationMessages(%s) = %d items, %v; want both messages and the reply", name, len(page.Items), err)
		}
	}
	in := &Inbox{Conversations: cs.(*Conversations), Delivery: a.Delivery, Store: st, Tenant: "acme", Team: "support", Agent: "Ana", Flows: flows}
	if err := in.MarkRead(ctx, "+525512345678"); err != nil {
		t.Fatal(err)
	}
	if d, err := cs.GetConversation(ctx, "acme", "support", bsuid); err != nil || d.Unread != 0 {
		t.Errorf("after MarkRead by the typed number: %+v, %v; want unread 0", d, err)
	}
	if err := cs.Release(ctx, "acme", "support", "+525512345678", server.ReleaseRequest{By: "Ana"}); err != nil {
		t.Fatalf("release by the typed number: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		d, err := cs.GetConversation(ctx, "acme", "support", bsuid)
		if err == nil && d.State != "handoff" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the release: %+v, %v", d, err)
		}
	}
}
