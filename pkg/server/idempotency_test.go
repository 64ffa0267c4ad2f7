package server_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/flow/starter"
	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/server"
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
