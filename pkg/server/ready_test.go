package server

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/secret"
)

// checkIngester is an Ingester that can also tell whether a write would commit now.
type checkIngester struct {
	fakeIngester
	calls atomic.Int32
	check func(ctx context.Context) error
}

func (c *checkIngester) CheckWrite(ctx context.Context) error {
	c.calls.Add(1)
	return c.check(ctx)
}

func readyz(t *testing.T, s *Server) (int, string, time.Duration) {
	t.Helper()
	rec := httptest.NewRecorder()
	start := time.Now()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	return rec.Code, rec.Body.String(), time.Since(start)
}

// TestReadyReflectsWrites: /readyz is 200 only when an ingest could commit now.
func TestReadyReflectsWrites(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	tests := []struct {
		name  string
		check func(ctx context.Context) error
		code  int
		body  string
	}{
		{"writable", func(context.Context) error { return nil }, 200, "ok"},
		{"disk full", func(context.Context) error { return errors.New("database or disk is full") }, 503, "not ready: database or disk is full"},
		{"write-locked, checker honours the deadline", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, 503, "did not take a write within"},
		{"write-locked, checker ignores the deadline", func(context.Context) error { <-release; return nil }, 503, "did not take a write within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := &checkIngester{check: tt.check}
			s, err := New(Config{Delivery: ing, ReadyTimeout: 200 * time.Millisecond,
				Tenants: []Tenant{{Tenant: "a", Team: "b", AppSecret: secret.New("s")}}})
			if err != nil {
				t.Fatal(err)
			}
			code, body, took := readyz(t, s)
			if code != tt.code || !strings.Contains(body, tt.body) {
				t.Fatalf("readyz %d %q, want %d containing %q", code, body, tt.code, tt.body)
			}
			if took > 2*time.Second {
				t.Fatalf("readyz took %v", took)
			}
		})
	}
}

// TestReadyOneCheckAtATime: probes arriving while a check hangs share it instead of
// piling up.
func TestReadyOneCheckAtATime(t *testing.T) {
	release := make(chan struct{})
	ing := &checkIngester{check: func(context.Context) error { <-release; return nil }}
	s, err := New(Config{Delivery: ing, ReadyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _, _ := readyz(t, s); code != 503 {
				t.Errorf("readyz %d while the check hangs, want 503", code)
			}
		}()
	}
	wg.Wait()
	if n := ing.calls.Load(); n != 1 {
		t.Fatalf("%d checks ran at once, want 1", n)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if code, _, _ := readyz(t, s); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never ready after the check returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReadyStoppedFirst: a stopped delivery service is not ready, whatever the database says.
func TestReadyStoppedFirst(t *testing.T) {
	ing := &checkIngester{check: func(context.Context) error { return nil }}
	ing.notReady = errors.New("stopped")
	s, err := New(Config{Delivery: ing})
	if err != nil {
		t.Fatal(err)
	}
	if code, body, _ := readyz(t, s); code != 503 || !strings.Contains(body, "stopped") {
		t.Fatalf("readyz %d %q", code, body)
	}
	if ing.calls.Load() != 0 {
		t.Fatal("checked the database of a stopped service")
	}
}
