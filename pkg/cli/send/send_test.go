package send

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/flow/starter"
	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// fakeClock never sleeps: Sleep moves the time on and records the wait.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

type env struct {
	fake  *graphfake.Server
	dir   string
	clock *fakeClock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, "")
}

// newEnvWith is newEnv with more answers (`"key": value, ` pairs).
func newEnvWith(t *testing.T, more string) *env {
	t.Helper()
	fake := graphfake.New(graphfake.Options{Token: "tok-go", PhoneNumberID: "1111", BusinessAccountID: "2222"})
	t.Cleanup(fake.Close)
	data := fmt.Sprintf(`{"messaging-whatsapp":{%s"enabled":true,"public_base_url":"https://bot.example.com",
		"phone_number_id":"1111","business_account_id":"2222","access_token":"tok-go","verify_token":"v",
		"app_secret":"s","api_base_url":%q,"api_version":"v23.0"}}`, more, fake.URL)
	a, probs := answers.Parse("answers.json", []byte(data))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := bundle.Write(dir, a, bundle.WriteOptions{StarterFlows: starter.FS}); err != nil {
		t.Fatal(err)
	}
	return &env{fake: fake, dir: dir, clock: &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
}

// run parses argv like the command does and calls sendRun with fake IO and the fake clock.
func (e *env) run(t *testing.T, argv string) (stdout, stderr string, err error) {
	t.Helper()
	args := strings.Fields(argv)
	var out, errOut bytes.Buffer
	f := &cmdutil.Factory{IO: &cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Now: e.clock.Now, LookupEnv: func(string) (string, bool) { return "", false }}
	cmd := NewCmdSend(f, func(o *SendOptions) error {
		o.Clock = e.clock
		return sendRun(o)
	})
	cmd.SetArgs(append([]string{e.dir}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestSendRetries(t *testing.T) {
	tests := []struct {
		name      string
		code      int
		times     int
		argv      string
		wantErr   string
		wantCalls int
	}{
		{"130429 then success is retried", 130429, 1, "--to +4915112345678 --text hi", "", 2},
		{"5xx then success is retried", 131000, 2, "--to +4915112345678 --text hi", "", 3},
		{"131047 is not retried", 131047, 1, "--to +4915112345678 --text hi", "send an approved template", 1},
		{"190 is not retried", 190, 1, "--to +4915112345678 --text hi", "access token is invalid or expired", 1},
		{"transient gives up after 5 attempts", 131000, 10, "--to +4915112345678 --text hi", "gave up after 5 attempts", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.FailNext(tt.times, tt.code)
			stdout, stderr, err := e.run(t, tt.argv)
			calls := 0
			for _, c := range e.fake.Calls() {
				if c.Endpoint == "messages" {
					calls++
				}
			}
			if calls != tt.wantCalls {
				t.Errorf("%d send attempts, want %d", calls, tt.wantCalls)
			}
			if tt.wantErr == "" {
				if err != nil || !strings.HasPrefix(stdout, "wamid.") {
					t.Fatalf("err = %v, stdout %q, stderr %q", err, stdout, stderr)
				}
				if !strings.Contains(stderr, "retrying in") {
					t.Errorf("stderr does not tell about the retry: %q", stderr)
				}
				if len(e.clock.sleeps) == 0 {
					t.Error("no backoff wait on the clock")
				}
				return
			}
			var se *SendError
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if !asSendError(err, &se) {
				t.Errorf("err is %T, want *SendError (exit 1)", err)
			}
			if strings.Contains(err.Error(), "tok-go") || strings.Contains(stderr, "tok-go") {
				t.Error("the token leaked")
			}
		})
	}
}

func asSendError(err error, target **SendError) bool {
	se, ok := err.(*SendError)
	if ok {
		*target = se
	}
	return ok
}

// seedState writes the server's state: a contact who wrote at lastInbound, opted out or not.
func seedState(t *testing.T, e *env, key string, lastInbound time.Time, optedOut bool) {
	t.Helper()
	ctx := context.Background()
	b, err := bundle.Load(e.dir, bundle.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, b.Serve.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !lastInbound.IsZero() {
		if _, err := st.Ingest(ctx, "default", "default", []store.InboundEvent{{Kind: "message", DedupeKey: "wamid.in-" + key,
			Raw: []byte(`{}`), ContactKey: key, MessageID: "wamid.in-" + key, MessageType: "text", WaID: key, Timestamp: lastInbound}}); err != nil {
			t.Fatal(err)
		}
	}
	if optedOut {
		if err := st.SetOptOut(ctx, store.ContactRef{Tenant: "default", Team: "default", Key: key}, true, lastInbound); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSendRespectsState(t *testing.T) {
	const to, key = "+4915112345678", "4915112345678"
	tests := []struct {
		name        string
		lastInbound time.Duration // before now; 0 = never wrote
		optedOut    bool
		argv        string
		wantErr     string
		wantText    string // the body sent, for flows
	}{
		{"window open: free-form ok", time.Hour, false, "--text hi", "", ""},
		{"window closed: free-form refused", 25 * time.Hour, false, "--text hi", "the 24-hour window with +4915112345678 is closed", ""},
		{"never wrote: free-form refused", 0, false, "--text hi", "has never written", ""},
		{"window closed: template ok", 25 * time.Hour, false, "--template hello_world --lang en_US", "", ""},
		{"opted out: even a template is refused", time.Hour, true, "--template hello_world --lang en_US", "opted out", ""},
		{"flow inside the window sends free text", time.Hour, false, "--flow follow_up", "", "text"},
		{"flow outside the window sends the template", 30 * time.Hour, false, "--flow follow_up", "", "template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var last time.Time
			if tt.lastInbound > 0 {
				last = e.clock.Now().Add(-tt.lastInbound)
			}
			if tt.lastInbound > 0 || tt.optedOut {
				seedState(t, e, key, last, tt.optedOut)
			} else {
				seedState(t, e, "someone-else", e.clock.Now(), false)
			}
			_, _, err := e.run(t, "--to "+to+" "+tt.argv)
			if tt.wantErr != "" {
				var r *Refusal
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if _, ok := err.(*Refusal); !ok {
					t.Errorf("err is %T, want %T", err, r)
				}
				if n := len(e.fake.Messages()); n != 0 {
					t.Errorf("%d messages sent despite the refusal", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			msgs := e.fake.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages sent, want 1", len(msgs))
			}
			if tt.wantText != "" && msgs[0].Type != tt.wantText {
				t.Errorf("flow sent %s, want %s", msgs[0].Type, tt.wantText)
			}
		})
	}
}

func TestNewCmdSendBindsFlags(t *testing.T) {
	tests := []struct {
		argv    string
		check   func(*SendOptions) error
		wantErr string
	}{
		{argv: "b --to 004915112345678 --template t --param name=Ada --param order=A-1 --button-payload 0=x", check: func(o *SendOptions) error {
			if o.To != "+4915112345678" || o.Template != "t" || o.Lang != "en" || len(o.Params) != 2 || o.ButtonPayload[0] != "0=x" {
				return fmt.Errorf("opts = %+v", o)
			}
			return nil
		}},
		{argv: "b --to +4915112345678 --image 12345 --caption c", check: func(o *SendOptions) error {
			if o.Media["image"] != "12345" || o.Caption != "c" {
				return fmt.Errorf("media = %v", o.Media)
			}
			return nil
		}},
		{argv: "b --to +4915112345678 --flow f --var a=1 --var b=2", check: func(o *SendOptions) error {
			if o.Flow != "f" || len(o.Vars) != 2 {
				return fmt.Errorf("opts = %+v", o)
			}
			return nil
		}},
		{argv: "b --to +4915112345678 --text a --template t", wantErr: "--text and --template cannot be combined"},
		{argv: "b --to 015112345678 --text a", wantErr: "add the country code"},
		{argv: "b --to +4915112345678 --preview-url --template t", wantErr: "--preview-url only goes with --text"},
		{argv: "b --to +4915112345678 --var a=1 --text x", wantErr: "--var only goes with --flow or --node"},
	}
	for _, tt := range tests {
		t.Run(tt.argv, func(t *testing.T) {
			var got *SendOptions
			f := &cmdutil.Factory{IO: &cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
			cmd := NewCmdSend(f, func(o *SendOptions) error { got = o; return nil })
			args := strings.Fields(tt.argv)
			cmd.SetArgs(args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				var fe *cmdutil.FlagError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if _, ok := err.(*cmdutil.FlagError); !ok {
					t.Errorf("err is %T, want %T (exit 2)", err, fe)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.check(got); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestComposerHookOnTerminal(t *testing.T) {
	e := newEnv(t)
	called := false
	f := &cmdutil.Factory{IO: &cmdutil.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}, InTTY: true, ErrTTY: true},
		Now: e.clock.Now, LookupEnv: func(string) (string, bool) { return "", false }}
	f.Composer = func(ctx context.Context, _ *cmdutil.IOStreams, req cmdutil.ComposeRequest) error {
		called = req.Client != nil && req.To == "+4915112345678" && req.Check != nil
		return nil
	}
	cmd := NewCmdSend(f, nil)
	cmd.SetArgs([]string{e.dir, "--to", "004915112345678"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !called {
		t.Error("the composer was not called on a terminal without a message flag")
	}
}

func TestGuardForComposer(t *testing.T) {
	e := newEnv(t)
	seedState(t, e, "4915112345678", e.clock.Now().Add(-30*time.Hour), false)
	var guardText, guardTemplate error
	f := &cmdutil.Factory{IO: &cmdutil.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}, InTTY: true, ErrTTY: true},
		Now: e.clock.Now, LookupEnv: func(string) (string, bool) { return "", false }}
	f.Composer = func(ctx context.Context, _ *cmdutil.IOStreams, req cmdutil.ComposeRequest) error {
		guardText = req.Check(&whatsapp.Message{To: "+4915112345678", Type: whatsapp.TypeText, Text: &whatsapp.Text{Body: "hi"}})
		guardTemplate = req.Check(&whatsapp.Message{To: "+4915112345678", Type: whatsapp.TypeTemplate,
			Template: &whatsapp.Template{Name: "hello_world", Language: whatsapp.Language{Code: "en_US"}}})
		return nil
	}
	cmd := NewCmdSend(f, nil)
	cmd.SetArgs([]string{e.dir})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var refused *delivery.RefusedError
	if _, ok := guardText.(*Refusal); !ok || !errors.As(guardText, &refused) || refused.Reason != delivery.ReasonWindowClosed {
		t.Errorf("free-form outside the window: Check = %v, want a window_closed refusal", guardText)
	}
	if guardTemplate != nil {
		t.Errorf("template outside the window: Guard = %v, want nil", guardTemplate)
	}
}

// TestComposerRefusesAnotherNameOfAnOptedOutContact: the wa_id opted out; the composer's
// recipient check and its message check refuse the number as people type it (Mexico's 52
// without the 1, Brazil's number with the ninth digit), as the flags do.
func TestComposerRefusesAnotherNameOfAnOptedOutContact(t *testing.T) {
	for _, tt := range []struct{ waID, typed string }{
		{"5215512345678", "+525512345678"},
		{"551187654321", "+5511987654321"},
	} {
		t.Run(tt.typed, func(t *testing.T) {
			e := newEnv(t)
			seedState(t, e, tt.waID, e.clock.Now().Add(-time.Hour), true)
			var recipient, check error
			f := &cmdutil.Factory{IO: &cmdutil.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}, InTTY: true, ErrTTY: true},
				Now: e.clock.Now, LookupEnv: func(string) (string, bool) { return "", false }}
			f.Composer = func(ctx context.Context, _ *cmdutil.IOStreams, req cmdutil.ComposeRequest) error {
				recipient = req.CheckRecipient(tt.typed)
				check = req.Check(&whatsapp.Message{To: tt.typed, Type: whatsapp.TypeTemplate,
					Template: &whatsapp.Template{Name: "hello_world", Language: whatsapp.Language{Code: "en_US"}}})
				return nil
			}
			cmd := NewCmdSend(f, nil)
			cmd.SetArgs([]string{e.dir})
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			for name, err := range map[string]error{"recipient check": recipient, "message check": check} {
				var refused *delivery.RefusedError
				if !errors.As(err, &refused) || refused.Reason != delivery.ReasonOptedOut || !strings.Contains(err.Error(), "+"+tt.waID) {
					t.Errorf("%s = %v, want an opted_out refusal naming +%s", name, err, tt.waID)
				}
			}
			if n := len(e.fake.Messages()); n != 0 {
				t.Errorf("%d messages sent", n)
			}
		})
	}
}
