package cli

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/cli/send"
	"github.com/greentic/gtc/pkg/flow/starter"
	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/store"
)

// TestComposerRespectsOptOut runs `gtc send DIR` on a (pretend) terminal without a message
// flag, so the composer opens, and enters a contact who opted out: the composer refuses the
// number when it is entered (before anything is composed), and nothing reaches the Graph API.
func TestComposerRespectsOptOut(t *testing.T) {
	fake := graphfake.New(graphfake.Options{Token: "tok", PhoneNumberID: "1111", BusinessAccountID: "2222"})
	t.Cleanup(fake.Close)
	data := fmt.Sprintf(`{"messaging-whatsapp":{"enabled":true,"public_base_url":"https://bot.example.com",
		"phone_number_id":"1111","business_account_id":"2222","access_token":"tok","verify_token":"v",
		"app_secret":"s","api_base_url":%q,"api_version":"v23.0"}}`, fake.URL)
	a, probs := answers.Parse("answers.json", []byte(data))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := bundle.Write(dir, a, bundle.WriteOptions{StarterFlows: starter.FS}); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Load(dir, bundle.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, b.Serve.Database)
	if err != nil {
		t.Fatal(err)
	}
	const key = "4915123456789"
	now := time.Now()
	if _, err := st.Ingest(ctx, "default", "default", []store.InboundEvent{{Kind: "message", DedupeKey: "wamid.in", Raw: []byte(`{}`),
		ContactKey: key, MessageID: "wamid.in", MessageType: "text", WaID: key, Timestamp: now.Add(-time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetOptOut(ctx, store.ContactRef{Tenant: "default", Team: "default", Key: key}, true, now); err != nil {
		t.Fatal(err)
	}
	st.Close()

	var out, screen bytes.Buffer
	io := &cmdutil.IOStreams{In: strings.NewReader("+" + key + "\r\x03"), Out: &out, ErrOut: &screen,
		InTTY: true, ErrTTY: true, NoColor: true}
	f := &cmdutil.Factory{IO: io, Now: time.Now, LookupEnv: func(string) (string, bool) { return "", false }, Composer: Compose}
	sendErr := func() error {
		c := send.NewCmdSend(f, nil)
		c.SetArgs([]string{dir})
		c.SetOut(&out)
		c.SetErr(&screen)
		c.SilenceErrors, c.SilenceUsage = true, true
		return c.ExecuteContext(ctx)
	}()
	if n := len(fake.Messages()); n != 0 {
		t.Fatalf("the composer sent %d message(s) to an opted-out contact", n)
	}
	if sendErr == nil {
		t.Fatalf("no error; screen:\n%s", screen.String())
	}
	if !strings.Contains(screen.String(), "opted out") {
		t.Errorf("the recipient step does not say the contact opted out: err %v\nscreen:\n%s", sendErr, screen.String())
	}
	if strings.Contains(screen.String(), "What to send.") {
		t.Errorf("the composer went on past an opted-out recipient:\n%s", screen.String())
	}
}
