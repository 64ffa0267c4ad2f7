package store

import (
	"context"
	"errors"
	"github.com/greentic/gtc/pkg/store/storetest"
	"testing"
)

func TestIdempotencyFirstAnswerWins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, _ := openTest(t, b, Options{})
		ctx := context.Background()
		if _, err := st.IdempotentAnswer(ctx, "acme", "support", "k1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown key: err = %v, want ErrNotFound", err)
		}
		first, err := st.SaveIdempotent(ctx, "acme", "support", "k1", "h1", 202, []byte(`{"id":"1"}`))
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name, tenant, team, key string
			status                  int
			body                    string
			wantStatus              int
			wantBody                string
		}{
			{"same key keeps the first answer", "acme", "support", "k1", 409, `{"id":"2"}`, 202, `{"id":"1"}`},
			{"other team is another key space", "acme", "sales", "k1", 202, `{"id":"3"}`, 202, `{"id":"3"}`},
			{"other key", "acme", "support", "k2", 409, `{"id":"4"}`, 409, `{"id":"4"}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := st.SaveIdempotent(ctx, tt.tenant, tt.team, tt.key, "h-"+tt.body, tt.status, []byte(tt.body))
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != tt.wantStatus || string(got.Body) != tt.wantBody {
					t.Fatalf("saved = %d %s, want %d %s", got.Status, got.Body, tt.wantStatus, tt.wantBody)
				}
				again, err := st.IdempotentAnswer(ctx, tt.tenant, tt.team, tt.key)
				if err != nil || again.Status != tt.wantStatus || string(again.Body) != tt.wantBody {
					t.Fatalf("lookup = %+v, %v", again, err)
				}
			})
		}
		if first.RequestHash != "h1" {
			t.Errorf("request hash = %q, want h1", first.RequestHash)
		}
		if again, _ := st.IdempotentAnswer(ctx, "acme", "support", "k1"); again.RequestHash != "h1" {
			t.Errorf("after a second save the request hash = %q, want the first (h1)", again.RequestHash)
		}
		if !first.CreatedAt.Equal(t0) {
			t.Errorf("created_at = %v, want %v", first.CreatedAt, t0)
		}
	})
}
