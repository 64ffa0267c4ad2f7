package messages

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// now is the fixed clock of these tests.
var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// newBundle writes a bundle from testdata/answers/local.json.
func newBundle(t *testing.T) string {
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
	if _, err := bundle.Write(dir, a, bundle.WriteOptions{GTCVersion: "test"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func msgEvent(t *testing.T, from, id, text string, at time.Time) store.InboundEvent {
	t.Helper()
	ev := whatsapp.Event{Kind: whatsapp.EventMessage, Message: &whatsapp.InboundMessage{ID: id, Type: "text", From: from, Text: text}}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return store.InboundEvent{Kind: store.KindMessage, DedupeKey: id, Raw: raw, ContactKey: from, MessageID: id,
		MessageType: "text", WaID: from, Timestamp: at}
}

// seed records, through pkg/store's API, what a running gtc serve would have: two contacts
// (one opted out, one whose window closed), one delivered and one failed message.
func seed(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	clock := now.Add(-30 * time.Hour)
	st, err := store.Open(ctx, filepath.Join(dir, "state", "gtc.db"), store.Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Ingest(ctx, "default", "default", []store.InboundEvent{msgEvent(t, "4915100000002", "wamid.in2", "old hello", clock)}); err != nil {
		t.Fatal(err)
	}
	clock = now.Add(-10 * time.Minute)
	if _, err := st.Ingest(ctx, "default", "default", []store.InboundEvent{msgEvent(t, "4915100000001", "wamid.in1", "hello   there", clock)}); err != nil {
		t.Fatal(err)
	}
	ids, err := st.RecordOutbound(ctx, "default", "default", []store.NewOutbound{
		{ContactKey: "4915100000001", Recipient: "+4915100000001", Origin: store.OriginSend, MessageType: "text", Request: []byte(`{}`)},
		{ContactKey: "4915100000002", Recipient: "+4915100000002", Origin: store.OriginFlow, Flow: "echo", Node: "echo", MessageType: "text", Request: []byte(`{}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.FinishOutbounds(ctx, []store.Finish{
		{ID: ids[0], Result: store.OutboundResult{State: store.OutSent, WAMID: "wamid.out1", Attempted: true}},
		{ID: ids[1], Result: store.OutboundResult{State: store.OutRefused, ErrorClass: "window_closed", ErrorMessage: "the 24-hour window is closed"}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ingest(ctx, "default", "default", []store.InboundEvent{{Kind: store.KindStatus, DedupeKey: "wamid.out1/delivered",
		Raw: []byte(`{"kind":"status"}`), Status: &store.StatusUpdate{WAMID: "wamid.out1", Status: "delivered", At: clock,
			Pricing: &store.Pricing{Billable: true, PricingModel: "PMP", Category: "utility", Type: "regular"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetOptOut(ctx, store.ContactRef{Tenant: "default", Team: "default", Key: "4915100000002"}, true, clock); err != nil {
		t.Fatal(err)
	}
	// The second contact is also known by a BSUID and by a number as typed.
	if _, err := st.LinkAliases(ctx, "default", "default", []store.Alias{{Value: "4915100000002", Kind: store.AliasWaID},
		{Value: "US.13491208655302741918", Kind: store.AliasBSUID}, {Value: "4915100000022", Kind: store.AliasPhone}}); err != nil {
		t.Fatal(err)
	}
	// One contact waits for an answer; the other's conversation ended when its flow changed.
	waiting := &store.ConversationUpdate{State: []byte(`{"id":"c1","flow":"check_status","node":"ask_order","state":"waiting"}`),
		Flow: "check_status", Node: "ask_order", Status: "waiting", WaitingSince: clock, Deadline: clock.Add(30 * time.Minute),
		User: map[string]any{"last_order": "12345"}}
	if err := st.SaveConversation(ctx, store.ContactRef{Tenant: "default", Team: "default", Key: "4915100000001"}, waiting, nil); err != nil {
		t.Fatal(err)
	}
	ended := &store.ConversationUpdate{User: map[string]any{"rating": "good", "visits": 3.0},
		Ended: &store.ConversationEnd{Flow: "feedback", Node: "ask_comment", Reason: "flow_edited", Detail: "node ask_comment is gone", At: clock}}
	if err := st.SaveConversation(ctx, store.ContactRef{Tenant: "default", Team: "default", Key: "4915100000002"}, ended, nil); err != nil {
		t.Fatal(err)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func TestMessagesRun(t *testing.T) {
	dir := newBundle(t)
	seed(t, dir)
	tests := []struct {
		name string
		opts MessagesOptions
	}{
		{"all", MessagesOptions{}},
		{"failed", MessagesOptions{Status: "refused"}},
		{"to", MessagesOptions{To: "+49 151 0000 0001"}},
		{"since", MessagesOptions{Since: "1h", JSON: true}},
		{"all_json", MessagesOptions{JSON: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			o := tt.opts
			o.IO = &cmdutil.IOStreams{Out: &out, ErrOut: &errOut}
			o.Now = func() time.Time { return now }
			o.BundleDir = dir
			o.Limit = 100
			if err := messagesRun(&o); err != nil {
				t.Fatal(err)
			}
			golden(t, "messages_"+tt.name+".golden", out.Bytes())
		})
	}
}

func TestMessagesSinceFilters(t *testing.T) {
	dir := newBundle(t)
	seed(t, dir)
	var out bytes.Buffer
	o := MessagesOptions{IO: &cmdutil.IOStreams{Out: &out, ErrOut: &out}, Now: func() time.Time { return now },
		BundleDir: dir, Limit: 100, Since: "1h", JSON: true}
	if err := messagesRun(&o); err != nil {
		t.Fatal(err)
	}
	var log Log
	if err := json.Unmarshal(out.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if len(log.Inbound) != 2 { // the recent message and the status; not the 30-hour-old message
		t.Errorf("inbound = %+v, want the two events of the last hour", log.Inbound)
	}
	for _, e := range log.Inbound {
		if e.MessageID == "wamid.in2" {
			t.Errorf("--since 1h listed the 30-hour-old message")
		}
	}
	if len(log.Outbound) != 2 {
		t.Errorf("outbound = %d, want 2", len(log.Outbound))
	}
}

func TestContactsRun(t *testing.T) {
	dir := newBundle(t)
	seed(t, dir)
	for _, tt := range []struct {
		name string
		opts ContactsOptions
	}{
		{"all", ContactsOptions{}},
		{"opted_out_json", ContactsOptions{OptedOut: true, JSON: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			o := tt.opts
			o.IO = &cmdutil.IOStreams{Out: &out, ErrOut: &errOut}
			o.Now = func() time.Time { return now }
			o.BundleDir = dir
			o.Limit = 100
			if err := contactsRun(&o); err != nil {
				t.Fatal(err)
			}
			golden(t, "contacts_"+tt.name+".golden", out.Bytes())
		})
	}
}

func TestNoStateIsNotCreated(t *testing.T) {
	dir := newBundle(t)
	var out bytes.Buffer
	err := messagesRun(&MessagesOptions{IO: &cmdutil.IOStreams{Out: &out, ErrOut: &out}, BundleDir: dir, Limit: 10})
	if !errors.Is(err, cmdutil.ErrNoState) {
		t.Fatalf("err = %v, want ErrNoState", err)
	}
	if !strings.Contains(err.Error(), "run gtc serve") {
		t.Errorf("err = %v, want the fix", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "gtc.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("gtc messages created the state database")
	}
}

func TestNewCmdMessagesFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		check   func(*MessagesOptions) bool
	}{
		{[]string{"b", "--status", "failed", "--since", "7d", "--to", "+4915100000001"}, "", func(o *MessagesOptions) bool {
			return o.Status == "failed" && o.Since == "7d" && o.To == "+4915100000001" && o.BundleDir == "b"
		}},
		{[]string{"b", "--status", "lost"}, `invalid --status "lost"`, nil},
		{[]string{"b", "--since", "yesterday"}, `invalid --since "yesterday"`, nil},
		{[]string{"b", "--since", "-1h"}, `invalid --since "-1h"`, nil},
		{[]string{"b", "--to", "015123"}, `invalid --to "015123"`, nil},
		{[]string{"b", "--limit", "0"}, `invalid --limit 0`, nil},
		{[]string{}, "expected a bundle directory", nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f := &cmdutil.Factory{IO: &cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, Now: time.Now}
			var got *MessagesOptions
			cmd := NewCmdMessages(f, func(o *MessagesOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				var fe *cmdutil.FlagError
				if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a usage error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got == nil || !tt.check(got) {
				t.Fatalf("err = %v, opts = %+v", err, got)
			}
		})
	}
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"1h", "7d", "30m", "0d", "-1h", "d", "1.5d", "99999999999999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseSince(s)
		if err == nil && d <= 0 {
			t.Fatalf("ParseSince(%q) = %v without error", s, d)
		}
	})
}

func TestPhone(t *testing.T) {
	for in, want := range map[string]string{"4915100000001": "+4915100000001", "+4915100000001": "+4915100000001",
		"": "", "US.13491208655302741918": "US.13491208655302741918"} {
		if got := Phone(in); got != want {
			t.Errorf("Phone(%q) = %q, want %q", in, got, want)
		}
	}
	tests := []struct{ in, want, err string }{
		{"+4915100000001", "+4915100000001", ""},
		{"4915100000001", "+4915100000001", ""},
		{"004915100000001", "+4915100000001", ""},
		{"015100000001", "", "no country code"},
		{"49x", "", "unexpected character"},
	}
	for _, tt := range tests {
		got, err := ParsePhone(tt.in)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("ParsePhone(%q) = %q, %v; want %q, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}
