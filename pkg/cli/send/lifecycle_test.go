package send

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

func TestSendRefusesTemplateNotSendable(t *testing.T) {
	tests := []struct {
		status, reason string
		want           []string
	}{
		{"PAUSED", "", []string{"template follow_up (en) is PAUSED: Meta refuses to send it", "paused it after customers blocked"}},
		{"DISABLED", "", []string{"is DISABLED", "create a new template"}},
		{"REJECTED", "INCORRECT_CATEGORY", []string{"is REJECTED (reason: INCORRECT_CATEGORY)", "edit the template and submit it again"}},
		{"PENDING", "", []string{"is PENDING", "wait for Meta's review"}},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			e := newEnv(t)
			if _, err := e.fake.TemplateStatus("follow_up", "en", tt.status, tt.reason, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
			_, _, err := e.run(t, "--to +4915112345678 --template follow_up")
			var tr *TemplateRefusal
			var refused *delivery.RefusedError
			if !errors.As(err, &tr) || tr.Status != tt.status || !errors.As(err, &refused) || refused.Reason != ReasonTemplateNotSendable {
				t.Fatalf("err = %#v, want a TemplateRefusal for %s", err, tt.status)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if n := len(e.fake.Messages()); n != 0 {
				t.Errorf("%d messages sent despite the refusal", n)
			}
			// Approved again: sent.
			if _, err := e.fake.TemplateStatus("follow_up", "en", "APPROVED", "", e.clock.Now()); err != nil {
				t.Fatal(err)
			}
			if _, _, err := e.run(t, "--to +4915112345678 --template follow_up"); err != nil {
				t.Fatal(err)
			}
			if n := len(e.fake.Messages()); n != 1 {
				t.Errorf("%d messages sent after APPROVED, want 1", n)
			}
		})
	}
}

// A template the list does not have, or a list Graph cannot give, is left to Graph.
func TestSendTemplateListUnavailable(t *testing.T) {
	e := newEnv(t)
	e.fake.Inject(graphfake.Fault{Code: 131000, Endpoint: graphfake.EndpointTemplates, Times: 1})
	_, stderr, err := e.run(t, "--to +4915112345678 --template hello_world --lang en_US")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "warning: could not read the templates' status") {
		t.Errorf("stderr %q", stderr)
	}
	_, _, err = e.run(t, "--to +4915112345678 --template no_such --lang en")
	if whatsapp.CodeOf(err) != 132001 {
		t.Fatalf("err = %v, want Graph's 132001", err)
	}
}

func TestSendMarketingMessages(t *testing.T) {
	tests := []struct {
		name, more, argv, endpoint string
	}{
		{"marketing template, setting on", `"marketing_messages": true, `, "--template follow_up", graphfake.EndpointMarketing},
		{"utility template, setting on", `"marketing_messages": true, `, "--template hello_world --lang en_US", graphfake.EndpointMessages},
		{"text, setting on", `"marketing_messages": true, `, "--text hi", graphfake.EndpointMessages},
		{"marketing template, setting off", "", "--template follow_up", graphfake.EndpointMessages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvWith(t, tt.more)
			if _, _, err := e.run(t, "--to +4915112345678 "+tt.argv); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range e.fake.Calls() {
				if c.Method == "POST" {
					got = append(got, c.Endpoint)
				}
			}
			if len(got) != 1 || got[0] != tt.endpoint {
				t.Fatalf("sends went to %v, want [%s]", got, tt.endpoint)
			}
		})
	}
}

func openState(t *testing.T, e *env) *store.Store {
	t.Helper()
	b, err := bundle.Load(e.dir, bundle.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), b.Serve.Database)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestSendRecordsInState(t *testing.T) {
	const to, key = "+4915112345678", "4915112345678"
	e := newEnv(t)
	seedState(t, e, key, e.clock.Now().Add(-time.Hour), false)

	stdout, _, err := e.run(t, "--to "+to+" --text hello")
	if err != nil {
		t.Fatal(err)
	}
	wamid := strings.TrimSpace(stdout)
	e.fake.FailNext(1, 131026)
	if _, _, err := e.run(t, "--to "+to+" --template hello_world --lang en_US"); err == nil {
		t.Fatal("want the send to fail")
	}
	st := openState(t, e)
	rows, err := st.OutboundMessages(context.Background(), store.OutboundFilter{Tenant: "default", Team: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	failed, sent := rows[0], rows[1] // newest first
	if sent.Origin != store.OriginSend || sent.State != store.OutSent || sent.WAMID != wamid || sent.ContactKey != key ||
		sent.Recipient != to || sent.MessageType != "text" || sent.Sender != "" || !bytes.Contains(sent.Request, []byte(`"hello"`)) {
		t.Errorf("sent row %+v", sent)
	}
	if failed.State != store.OutFailed || failed.ErrorCode != 131026 || failed.WAMID != "" || failed.MessageType != "template" {
		t.Errorf("failed row %+v", failed)
	}
}

func TestSendWithoutStateCreatesNone(t *testing.T) {
	e := newEnv(t)
	if _, _, err := e.run(t, "--to +4915112345678 --template hello_world --lang en_US"); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Load(e.dir, bundle.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := cmdutil.StatePath(b)
	if !filepath.IsAbs(path) {
		path = filepath.Join(e.dir, path)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state database %s exists after gtc send (err %v)", path, err)
	}
}

func TestGuardRefusesPausedTemplate(t *testing.T) {
	e := newEnv(t)
	if _, err := e.fake.TemplateStatus("follow_up", "en", "PAUSED", "", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	var paused, ok error
	f := &cmdutil.Factory{IO: &cmdutil.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}, InTTY: true, ErrTTY: true},
		Now: e.clock.Now, LookupEnv: func(string) (string, bool) { return "", false }}
	f.Composer = func(ctx context.Context, _ *cmdutil.IOStreams, req cmdutil.ComposeRequest) error {
		paused = req.Check(&whatsapp.Message{To: "+4915112345678", Type: whatsapp.TypeTemplate,
			Template: &whatsapp.Template{Name: "follow_up", Language: whatsapp.Language{Code: "en"}}})
		ok = req.Check(&whatsapp.Message{To: "+4915112345678", Type: whatsapp.TypeTemplate,
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
	var tr *TemplateRefusal
	if !errors.As(paused, &tr) || tr.Status != "PAUSED" {
		t.Errorf("paused template: Check = %v", paused)
	}
	if ok != nil {
		t.Errorf("approved template: Check = %v", ok)
	}
	if n := e.fake.Counts().Calls; n != 1 {
		t.Errorf("%d Graph calls, want 1 (the template list, read once)", n)
	}
}

// Without Graph's list (a failing list, or no business account) the status Meta's webhooks
// recorded in the state decides, with its date; Graph's list, read now, wins over an older
// webhook; the recorded category marks a marketing template.
func TestSendTemplateStateFromWebhooks(t *testing.T) {
	e := newEnvWith(t, `"marketing_messages": true, `)
	st := openState(t, e)
	paused := e.clock.Now().Add(-2 * time.Hour)
	if err := st.RecordTemplates(context.Background(), "default", "default", []store.TemplateUpdate{
		{Name: "hello_world", Language: "en_US", Status: "PAUSED", Reason: "FLAGGED_BY_CUSTOMERS", Category: "MARKETING", At: paused},
	}); err != nil {
		t.Fatal(err)
	}
	// Graph's list says APPROVED (it changed since): sent, through the Marketing Messages
	// API only if the live category says marketing (it says utility).
	if _, _, err := e.run(t, "--to +4915112345678 --template hello_world --lang en_US"); err != nil {
		t.Fatalf("Graph's list says APPROVED: %v", err)
	}
	// The list cannot be read: the recorded PAUSED refuses it, with its date and reason.
	e.fake.Inject(graphfake.Fault{Code: 131000, Endpoint: graphfake.EndpointTemplates, Times: 1})
	_, stderr, err := e.run(t, "--to +4915112345678 --template hello_world --lang en_US")
	var tr *TemplateRefusal
	var refused *delivery.RefusedError
	if !errors.As(err, &tr) || !errors.As(err, &refused) || refused.Reason != ReasonTemplateNotSendable ||
		!strings.Contains(err.Error(), "template hello_world (en_US) is PAUSED since "+paused.Format(time.RFC3339)+" (reason: FLAGGED_BY_CUSTOMERS)") {
		t.Fatalf("err = %v (stderr %s), want the recorded PAUSED", err, stderr)
	}
	if n := len(e.fake.Messages()); n != 1 {
		t.Fatalf("%d messages sent, want 1", n)
	}
	var endpoints []string
	for _, c := range e.fake.Calls() {
		if c.MessageID != "" {
			endpoints = append(endpoints, c.Endpoint)
		}
	}
	if len(endpoints) != 1 || endpoints[0] != graphfake.EndpointMessages {
		t.Fatalf("sent to %v, want messages (the live category is UTILITY)", endpoints)
	}
}
