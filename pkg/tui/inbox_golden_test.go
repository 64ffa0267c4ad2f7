package tui

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"
)

// startInbox runs the inbox over f as a program on an 80×30 terminal, on the fake clock,
// and waits for the list.
func startInbox(t *testing.T, f *fakeInbox) *teatest.TestModel {
	t.Helper()
	m := NewInbox(context.Background(), PlainStyles(), DefaultKeyMap(), f,
		InboxOptions{Now: func() time.Time { return inboxNow }, Refresh: time.Hour})
	tm := teatest.NewTestModel(t, snapModel{m}, teatest.WithInitialTermSize(80, 30))
	waitFor(t, tm, "open conversations")
	return tm
}

func waitFor(t *testing.T, tm *teatest.TestModel, what string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(what)) },
		teatest.WithDuration(10*time.Second))
}

// waitView waits until the screen's View has what.
func waitView(t *testing.T, tm *teatest.TestModel, what string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := snapshot(t, tm)
		if strings.Contains(stripANSI(v), what) {
			// The screen may still be taking in a refresh (the history read again after a
			// send): return it once it stays the same for a while.
			for settle := time.Now().Add(2 * time.Second); time.Now().Before(settle); {
				time.Sleep(80 * time.Millisecond)
				next := snapshot(t, tm)
				if next == v && strings.Contains(stripANSI(next), what) {
					return v
				}
				v = next
			}
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("the screen never showed %q:\n%s", what, stripANSI(v))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func quitInbox(t *testing.T, tm *teatest.TestModel) *Inbox {
	t.Helper()
	tm.Send(press("ctrl+c"))
	return finalScreen(t, tm).(*Inbox)
}

func TestInboxGoldenList(t *testing.T) {
	tm := startInbox(t, newFakeInbox(t))
	golden(t, "inbox_list", waitView(t, tm, "q quit"))
	quitInbox(t, tm)
}

// TestInboxTeatestRefresh: a refresh tick shows a new handoff and new unread messages.
func TestInboxTeatestRefresh(t *testing.T) {
	f := newFakeInbox(t)
	tm := startInbox(t, f)
	f.mu.Lock()
	f.convs[0].Unread = 3
	f.convs = append(f.convs, InboxConversation{Contact: "+12025550100", Name: "Dan", Queue: "sales", Since: inboxNow})
	f.mu.Unlock()
	tm.Send(inboxTickMsg{})
	v := stripANSI(waitView(t, tm, "4 open conversations"))
	for _, w := range []string{"3 unread", "+12025550100 · Dan · sales", "waiting 0s · no window (templates only)"} {
		if !strings.Contains(v, w) {
			t.Errorf("view lacks %q:\n%s", w, v)
		}
	}
	quitInbox(t, tm)
}

func TestInboxGoldenConversation(t *testing.T) {
	tm := startInbox(t, newFakeInbox(t))
	tm.Send(press("enter"))
	golden(t, "inbox_conversation", waitView(t, tm, "Courier ticket opened"))
	quitInbox(t, tm)
}

func TestInboxGoldenReply(t *testing.T) {
	f := newFakeInbox(t)
	tm := startInbox(t, f)
	tm.Send(press("enter"))
	waitView(t, tm, "Courier ticket opened")
	tm.Send(press("r"))
	tm.Type("Hi Alice, I have asked DHL about A-1042 and will write again as soon as they answer.")
	golden(t, "inbox_reply_box", waitView(t, tm, "as soon as"))
	tm.Send(press("enter"))
	golden(t, "inbox_reply_sent", waitView(t, tm, "✓ reply queued"))
	if m := quitInbox(t, tm); len(f.replies) != 1 || m.mode != inboxConversation {
		t.Errorf("replies %v", f.replies)
	}
}

func TestInboxGoldenTemplate(t *testing.T) {
	f := newFakeInbox(t)
	tm := startInbox(t, f)
	tm.Send(press("down"))
	tm.Send(press("enter"))
	waitView(t, tm, "Why was I charged twice?")
	tm.Send(press("r"))
	golden(t, "inbox_template_picker", waitView(t, tm, "order_update"))
	tm.Send(press("enter"))
	for _, v := range []string{"A-1042", "Bob", "refunded", "A 1042"} {
		tm.Type(v)
		tm.Send(press("enter"))
	}
	golden(t, "inbox_template_preview", waitView(t, tm, "Send to +4915187654321?"))
	tm.Send(press("y"))
	waitView(t, tm, "✓ reply queued")
	// The sent card shows once the history is read again after the send.
	golden(t, "inbox_template_sent", waitView(t, tm, "10:00 ann:"))
	quitInbox(t, tm)
	if len(f.replies) != 1 || !strings.Contains(f.replies[0], `"name":"order_update"`) {
		t.Errorf("replies %v", f.replies)
	}
}

func TestInboxGoldenRefused(t *testing.T) {
	f := newFakeInbox(t)
	tm := startInbox(t, f)
	tm.Send(press("down"))
	tm.Send(press("down"))
	tm.Send(press("enter"))
	waitView(t, tm, "STOP")
	tm.Send(press("r"))
	tm.Type("Hello?")
	tm.Send(press("enter"))
	golden(t, "inbox_refused", waitView(t, tm, "✗ refused"))
	quitInbox(t, tm)
	if len(f.replies) != 0 {
		t.Errorf("replies %v", f.replies)
	}
}

func TestInboxGoldenNote(t *testing.T) {
	f := newFakeInbox(t)
	tm := startInbox(t, f)
	tm.Send(press("enter"))
	waitView(t, tm, "Courier ticket opened")
	tm.Send(press("n"))
	tm.Type("Called DHL: the parcel is due Tuesday.")
	tm.Send(press("enter"))
	golden(t, "inbox_note", waitView(t, tm, "✓ note added"))
	quitInbox(t, tm)
	if len(f.notes) != 1 || len(f.replies) != 0 {
		t.Errorf("notes %v replies %v", f.notes, f.replies)
	}
}

func TestInboxGoldenRelease(t *testing.T) {
	f := newFakeInbox(t)
	tm := startInbox(t, f)
	tm.Send(press("enter"))
	waitView(t, tm, "Courier ticket opened")
	tm.Send(press("x"))
	tm.Send(press("down"))
	golden(t, "inbox_release_pick", waitView(t, tm, "> after_human"))
	tm.Send(press("enter"))
	golden(t, "inbox_release_confirm", waitView(t, tm, "Release +4915123456789 to the bot at after_human?"))
	tm.Send(press("y"))
	golden(t, "inbox_released", waitView(t, tm, "2 open conversations"))
	quitInbox(t, tm)
	if strings.Join(f.released, ",") != alice+"@after_human" {
		t.Errorf("released %v", f.released)
	}
}
