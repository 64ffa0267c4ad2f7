package calls

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/flow"
)

// fakeClock records the waits between tries and returns at once.
type fakeClock struct {
	mu     sync.Mutex
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time { return time.Now() }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// syncBuffer is a log sink safe for the slow hook's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newRunner is a Runner with a fake clock, no jitter and a debug logger into a buffer.
func newRunner(t *testing.T) (*Runner, *fakeClock, *syncBuffer) {
	t.Helper()
	clk := &fakeClock{}
	logs := &syncBuffer{}
	r := &Runner{Clock: clk, Rand: func() float64 { return 1 }, UserAgent: "gtc/test",
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	return r, clk, logs
}

// get is an http call of GET url.
func get(url string) *flow.Call {
	return &flow.Call{Kind: flow.CallHTTP, Flow: "status", Node: "lookup", Step: 3,
		IdempotencyKey: flow.IdempotencyKey("c0nv", 3),
		HTTP:           &flow.HTTPRequest{Method: "GET", URL: url, Timeout: 2 * time.Second, Retries: 2}}
}

func run(t *testing.T, r *Runner, c *flow.Call) flow.CallResult {
	t.Helper()
	res, err := r.Run(context.Background(), c)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}
