package serve

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/app"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// Two instances' clients for one phone number, wired as gtc serve wires them on PostgreSQL,
// share its rate: 120 sends at 20/s fill six one-second windows, so they take at least
// four seconds however the first window lines up with the wall clock (windows are aligned to
// it: the first may be nearly over when the sends start), where two unshared pacers would
// each fill three windows and finish within three. (A lower bound on time: a slow machine
// cannot fail it. With 60 sends the two cases overlapped: a late start in the first window
// made a shared run finish in 1.5–1.9 s on a loaded machine.)
func TestClientsShareTheNumbersRateOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	g := graphfake.New(graphfake.Options{})
	defer g.Close()
	p := &bundle.Provider{Tenant: "default", Team: "default", PhoneNumberID: graphfake.DefaultPhoneNumberID,
		APIBaseURL: g.URL, APIVersion: "v23.0", AccessToken: secret.New(graphfake.DefaultToken),
		RatePerSecond: 20, RecipientBurst: 100}
	var clients []*whatsapp.Client
	for range 2 {
		st, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		c, err := app.NewClient(p, func(string) (string, bool) { return "", false }, app.ClientOptions{Pooled: true, Shared: st,
			OnSharedError: func(err error) { t.Errorf("shared ledger: %v", err) }})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	const perClient = 60
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		for j := range perClient {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := &whatsapp.Message{MessagingProduct: "whatsapp", RecipientType: "individual", Type: "text",
					To: fmt.Sprintf("+4915100%02d%02d", i, j), Text: &whatsapp.Text{Body: "hi"}}
				if _, err := c.Send(context.Background(), m); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if took := time.Since(start); took < 3500*time.Millisecond {
		t.Fatalf("%d sends at 20/s over two clients took %v: the rate is not shared", 2*perClient, took)
	}
}
