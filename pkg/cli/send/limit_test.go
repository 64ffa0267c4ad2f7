package send

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// gtc send applies the portfolio's messaging limit as gtc serve does: a template to a
// recipient outside any window beyond the limit is refused (messaging_limit) and not sent;
// a recipient already reached goes; a send Graph refuses gives its place back.
func TestSendMessagingLimit(t *testing.T) {
	e := newEnvWith(t, `"portfolio": {"id": "555000111222333", "messaging_limit": 2}, `)
	seedState(t, e, "someone-else", e.clock.Now(), false)
	tmpl := func(to string) string { return "--to " + to + " --template hello_world --lang en_US" }

	if _, _, err := e.run(t, tmpl("+4915100000001")); err != nil {
		t.Fatal(err)
	}
	// Graph refuses a send: its place comes back.
	e.fake.FailNext(1, 132001)
	if _, _, err := e.run(t, tmpl("+4915100000002")); err == nil {
		t.Fatal("the failed send succeeded")
	}
	if _, _, err := e.run(t, tmpl("+4915100000003")); err != nil {
		t.Fatalf("second conversation: %v", err)
	}
	sent := len(e.fake.Messages())
	_, _, err := e.run(t, tmpl("+4915100000004"))
	var r *Refusal
	var refused *delivery.RefusedError
	if !errors.As(err, &r) || !errors.As(err, &refused) || refused.Reason != delivery.ReasonMessagingLimit {
		t.Fatalf("third conversation: err = %v, want a messaging_limit refusal", err)
	}
	for _, want := range []string{"+4915100000004 not sent", "business portfolio 555000111222333", "2 of 2", "portfolio.messaging_limit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q lacks %q", err, want)
		}
	}
	if n := len(e.fake.Messages()); n != sent {
		t.Fatalf("%d messages sent despite the refusal", n-sent)
	}
	// Already reached in the last 24 hours: no new conversation.
	if _, _, err := e.run(t, tmpl("+4915100000001")); err != nil {
		t.Fatalf("already reached: %v", err)
	}
	b, err := bundle.Load(e.dir, bundle.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), b.Serve.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.LimitUse(context.Background(), "portfolio:555000111222333", e.clock.Now().Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("use %d %v, want 2", n, err)
	}
}

// The composer checks the limit at the preview (the user may still cancel: nothing is
// kept) and counts the conversation when the message went.
func TestComposerMessagingLimit(t *testing.T) {
	e := newEnvWith(t, `"messaging_limit": 1, `)
	seedState(t, e, "someone-else", e.clock.Now(), false)
	tmpl := func(to string) *whatsapp.Message {
		return &whatsapp.Message{To: to, Type: whatsapp.TypeTemplate,
			Template: &whatsapp.Template{Name: "hello_world", Language: whatsapp.Language{Code: "en_US"}}}
	}
	var first, again, second error
	f := &cmdutil.Factory{IO: &cmdutil.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}, InTTY: true, ErrTTY: true},
		Now: e.clock.Now, LookupEnv: func(string) (string, bool) { return "", false }}
	f.Composer = func(ctx context.Context, _ *cmdutil.IOStreams, req cmdutil.ComposeRequest) error {
		m := tmpl("+4915100000001")
		first = req.Check(m)
		again = req.Check(tmpl("+4915100000002")) // previews cost nothing
		res, err := req.Client.Send(ctx, m)
		req.Sent(m, res, err)
		second = req.Check(tmpl("+4915100000002"))
		return nil
	}
	cmd := NewCmdSend(f, nil)
	cmd.SetArgs([]string{e.dir})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if first != nil || again != nil {
		t.Fatalf("previews within the limit: %v, %v", first, again)
	}
	var refused *delivery.RefusedError
	if !errors.As(second, &refused) || refused.Reason != delivery.ReasonMessagingLimit {
		t.Fatalf("after the first went: Check = %v, want a messaging_limit refusal", second)
	}
}
