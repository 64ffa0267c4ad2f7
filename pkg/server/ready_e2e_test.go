package server_test

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/server"
)

// TestReadyUnderWriteLock: while another process holds SQLite's write lock, an ingest
// cannot commit, so /readyz must not say ready; once the lock is released it is ready again.
// It runs once delivery.Service implements server.WriteChecker (over a store write probe).
func TestReadyUnderWriteLock(t *testing.T) {
	var svc any = (*delivery.Service)(nil)
	if _, ok := svc.(server.WriteChecker); !ok {
		t.Skip("delivery.Service has no CheckWrite(ctx) error yet (it needs store.(*Store).CheckWrite): /readyz cannot see a write lock")
	}
	dir := t.TempDir()
	st := startStack(t, dir, &flow.Set{}, []server.Tenant{{Tenant: "acme", Team: "support",
		PhoneNumberID: e2ePhone, VerifyToken: secret.New("vt"), AppSecret: secret.New(e2eSecret)}}, false)
	readyz := func() (int, string) {
		resp, err := http.Get(st.base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := readyz(); code != 200 {
		t.Fatalf("readyz before the lock: %d %q", code, body)
	}
	other, err := sql.Open("sqlite", filepath.Join(dir, "gtc.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, body := readyz()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready") {
		t.Fatalf("readyz under a write lock: %d %q, want 503", code, body)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("readyz took %v under the lock", took)
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if code, _ := readyz(); code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready again after the lock was released")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
