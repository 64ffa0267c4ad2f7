package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/flow/starter"
	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/server"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
)

// TestIdempotencyKeyTwoInstances posts each request with its Idempotency-Key to two
// instances on one PostgreSQL database at the same moment, as a client retrying through a
// load balancer does: each key sends one message, and both answers name it.
func TestIdempotencyKeyTwoInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("two send API instances on one database; skipped with -short")
	}
	dsn := storetest.PostgresDSN(t)
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
	tenants := []server.Tenant{{Tenant: "acme", Team: "support",
		PhoneNumberID: e2ePhone, VerifyToken: secret.New("vt"), AppSecret: secret.New(e2eSecret), APIKey: secret.New(apiKey)}}
	g := graphfake.New(graphfake.Options{Token: e2eToken, PhoneNumberID: e2ePhone, BusinessAccountID: "waba"})
	t.Cleanup(g.Close)
	a := &apiEnv{base: startStackOn(t, dsn, g, flows, tenants, true).base, graph: g}
	b := &apiEnv{base: startStackOn(t, dsn, g, flows, tenants, true).base, graph: g}

	const keys = 10
	for k := range keys {
		c := fmt.Sprintf("49151000093%02d", k)
		key := fmt.Sprintf("order-two-%d", k)
		body := `{"to": "+` + c + `", ` + order(key, "Ana") + `}`
		var wg sync.WaitGroup
		answers := make([]apiAnswer, 4)
		for i := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = []*apiEnv{a, b}[i%2].post(t, key, body)
			}()
		}
		wg.Wait()
		for i, ans := range answers {
			if ans.code != http.StatusAccepted || ans.str("id") != answers[0].str("id") {
				t.Errorf("key %s, request %d answered %d %s; want 202 with the first answer's id %s", key, i, ans.code, ans.raw, answers[0].str("id"))
			}
		}
		if n := len(a.sentTo(c)); n != 1 {
			t.Errorf("key %s: graphfake got %d messages, want 1", key, n)
		}
	}
}

// TestIdempotencyKeyReserved answers a request whose key an earlier request reserved: while
// that request is still sending (its message's sender is the request), 409 in_progress with
// Retry-After once the wait is over; once it is gone (its instance restarted or was taken
// over: the message went to a job), the recorded message's id and state, sending nothing.
func TestIdempotencyKeyReserved(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "gtc.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	snd := &countingSender{}
	srv, err := server.New(server.Config{Delivery: apiIngester{}, Tenants: []server.Tenant{{Tenant: "acme", Team: "support",
		PhoneNumberID: e2ePhone, VerifyToken: secret.New("vt"), AppSecret: secret.New(e2eSecret), APIKey: secret.New(apiKey)}},
		API: &server.API{Sender: snd, Store: st, KeyWait: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e := &apiEnv{base: ts.URL}
	ctx := context.Background()
	body := `{"to": "+4915100000042", "message": "hello"}`
	hash := sha256.Sum256([]byte(body))
	reserve := func(key, sender string) int64 {
		t.Helper()
		ids, err := st.RecordOutboundOnce(ctx, "acme", "support",
			&store.IdempotencyKey{Tenant: "acme", Team: "support", Key: key, RequestHash: hex.EncodeToString(hash[:])},
			[]store.NewOutbound{{ContactKey: "4915100000042", Recipient: "+4915100000042", Origin: store.OriginAPI,
				MessageType: "text", Request: []byte(`{}`), Sender: sender}})
		if err != nil {
			t.Fatal(err)
		}
		return ids[0]
	}

	reserve("busy", "vm-1:api")
	start := time.Now()
	a := e.post(t, "busy", body)
	if a.code != http.StatusConflict || a.str("code") != "in_progress" || a.str("path") != server.IdempotencyHeader {
		t.Fatalf("key held by a request still sending: answer %d %s, want 409 in_progress", a.code, a.raw)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("answered after %s, want a wait of KeyWait (200ms) for the first answer", waited)
	}

	id := reserve("orphan", "")
	a = e.post(t, "orphan", body)
	if a.code != http.StatusAccepted || a.str("id") != strconv.FormatInt(id, 10) || a.str("status") != store.OutPending {
		t.Fatalf("key of a request that died: answer %d %s, want 202 with message %d, pending", a.code, a.raw, id)
	}
	if again := e.post(t, "orphan", body); again.raw != a.raw {
		t.Errorf("second retry answered %s, want the saved %s", again.raw, a.raw)
	}
	if changed := e.post(t, "orphan", `{"to": "+4915100000042", "message": "other"}`); changed.code != http.StatusUnprocessableEntity {
		t.Errorf("same key, other body: %d %s, want 422", changed.code, changed.raw)
	}
	if n := snd.n.Load(); n != 0 {
		t.Errorf("%d messages sent, want none: the reserved keys' messages are recorded already", n)
	}
}
