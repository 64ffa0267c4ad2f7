package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
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

// TestComposerRecordsSends runs `gtc send DIR` on a (pretend) terminal without a message
// flag, so the composer opens, and sends a text to a contact whose window is open: the send
// is recorded in the bundle's state database as a flag send's is (origin send, sent, with
// its wamid); a send Graph refuses is recorded failed, with its class and code.
func TestComposerRecordsSends(t *testing.T) {
	fake := graphfake.New(graphfake.Options{Token: "tok", PhoneNumberID: "1111", BusinessAccountID: "2222"})
	t.Cleanup(fake.Close)
	dir := composerBundle(t, fake.URL)
	const key = "4915123456789"
	ctx := context.Background()
	st := openBundleState(t, dir)
	if _, err := st.Ingest(ctx, "default", "default", []store.InboundEvent{{Kind: "message", DedupeKey: "wamid.in", Raw: []byte(`{}`),
		ContactKey: key, MessageID: "wamid.in", MessageType: "text", WaID: key, Timestamp: time.Now().Add(-time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// compose types keys, then (once the screen shows "try again?") then.
	compose := func(keys, then string) (string, string, error) {
		var out bytes.Buffer
		screen := &lockedBuffer{}
		var in io.Reader = strings.NewReader(keys)
		if then != "" {
			in = io.MultiReader(in, &gatedReader{r: strings.NewReader(then), ready: func() bool { return strings.Contains(screen.String(), "try again?") }})
		}
		streams := &cmdutil.IOStreams{In: in, Out: &out, ErrOut: screen, InTTY: true, ErrTTY: true, NoColor: true}
		f := &cmdutil.Factory{IO: streams, Now: time.Now, LookupEnv: func(string) (string, bool) { return "", false }, Composer: Compose}
		c := send.NewCmdSend(f, nil)
		c.SetArgs([]string{dir})
		c.SetOut(&out)
		c.SetErr(screen)
		c.SilenceErrors, c.SilenceUsage = true, true
		err := c.ExecuteContext(ctx)
		return out.String(), screen.String(), err
	}

	out, screen, err := compose("+"+key+"\r\rHello from the composer\ry", "")
	if err != nil {
		t.Fatalf("compose: %v\n%s", err, screen)
	}
	wamid := strings.TrimSpace(out)
	if len(fake.Messages()) != 1 || !strings.HasPrefix(wamid, "wamid.") {
		t.Fatalf("sent %d, stdout %q", len(fake.Messages()), out)
	}

	fake.FailNext(1, 131026)
	if _, screen, err := compose("+"+key+"\r\rHello again\ry", "n"); err == nil {
		t.Fatalf("a failed send succeeded:\n%s", screen)
	}

	st = openBundleState(t, dir)
	defer st.Close()
	outs, err := st.OutboundMessages(ctx, store.OutboundFilter{Tenant: "default", Team: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 {
		t.Fatalf("%d outbound rows, want 2 (one per composed send)", len(outs))
	}
	failed, sent := outs[0], outs[1] // newest first
	if sent.Origin != store.OriginSend || sent.State != store.OutSent || sent.WAMID != wamid ||
		sent.Recipient != "+"+key || sent.ContactKey != key || sent.MessageType != "text" || sent.Sender != "" {
		t.Errorf("sent row %+v, want origin send, sent, wamid %s", sent, wamid)
	}
	if !strings.Contains(string(sent.Request), "Hello from the composer") {
		t.Errorf("sent row's request %s", sent.Request)
	}
	if failed.Origin != store.OriginSend || failed.State != store.OutFailed || failed.ErrorCode != 131026 || failed.ErrorClass == "" {
		t.Errorf("failed row %+v, want origin send, failed, 131026", failed)
	}
}

// composerBundle writes a bundle whose provider sends to the Graph API at graphURL.
func composerBundle(t *testing.T, graphURL string) string {
	t.Helper()
	data := fmt.Sprintf(`{"messaging-whatsapp":{"enabled":true,"public_base_url":"https://bot.example.com",
		"phone_number_id":"1111","business_account_id":"2222","access_token":"tok","verify_token":"v",
		"app_secret":"s","api_base_url":%q,"api_version":"v23.0"}}`, graphURL)
	a, probs := answers.Parse("answers.json", []byte(data))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := bundle.Write(dir, a, bundle.WriteOptions{StarterFlows: starter.FS}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// openBundleState opens (creating it) the state database of the bundle in dir.
func openBundleState(t *testing.T, dir string) *store.Store {
	t.Helper()
	b, err := bundle.Load(dir, bundle.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), b.Serve.Database)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
