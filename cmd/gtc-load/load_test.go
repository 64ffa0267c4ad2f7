package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/whatsapp"
)

func TestBatchesParse(t *testing.T) {
	cfg := LoadConfig{PhoneNumberID: "123", RunID: "t", Contacts: 3, Messages: 10, Batch: 4}
	bs := Batches(cfg)
	if len(bs) != 3 || len(bs[2].IDs) != 2 {
		t.Fatalf("batches = %d (last %d ids)", len(bs), len(bs[len(bs)-1].IDs))
	}
	seen := map[string]bool{}
	for _, b := range bs {
		evs, err := whatsapp.ParseWebhook(b.Body)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range evs {
			if e.Message.ID != b.IDs[i] || e.PhoneNumberID != "123" || inboundIDIn("echo "+e.Message.Text) != e.Message.ID {
				t.Errorf("event %+v does not match id %s", e.Message, b.IDs[i])
			}
			seen[e.Message.From] = true
		}
	}
	if len(seen) != 3 {
		t.Errorf("%d contacts, want 3", len(seen))
	}
}

func TestDriveBaseline(t *testing.T) {
	srv := httptest.NewServer(BaselineHandler("sec"))
	defer srv.Close()
	cfg := LoadConfig{URL: srv.URL, AppSecret: "sec", PhoneNumberID: "1", RunID: "b", Contacts: 5, Messages: 200, Batch: 3, Concurrency: 4, Timeout: 5 * time.Second}
	r := Drive(context.Background(), cfg, Batches(cfg))
	if r.Acked != 67 || r.Failed != 0 || len(r.AckedIDs) != 200 || len(r.AckLatencies) != 67 {
		t.Fatalf("result = %d acked, %d failed, %d ids: %s", r.Acked, r.Failed, len(r.AckedIDs), r.FirstError)
	}
	cfg.AppSecret = "wrong"
	r = Drive(context.Background(), cfg, Batches(cfg))
	if r.Acked != 0 || r.FirstError != "HTTP 401" || len(r.UnackedBatches) != 67 {
		t.Errorf("wrong secret: %d acked, first error %q", r.Acked, r.FirstError)
	}
}

// TestDriveRoutes checks where POSTs go: round robin over URLs, a batch's own URL first.
func TestDriveRoutes(t *testing.T) {
	var hits [2]atomic.Int64
	var srvs [2]*httptest.Server
	for i := range srvs {
		srvs[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			BaselineHandler("sec").ServeHTTP(w, r)
		}))
		defer srvs[i].Close()
	}
	cfg := LoadConfig{URLs: []string{srvs[0].URL, srvs[1].URL}, AppSecret: "sec", PhoneNumberID: "1", RunID: "r",
		Contacts: 3, Messages: 10, Batch: 1, Concurrency: 3, Timeout: 5 * time.Second}
	bs := Batches(cfg)
	bs[0].URL = srvs[1].URL // 0 would go to the first server by round robin
	r := Drive(context.Background(), cfg, bs)
	if r.Acked != 10 {
		t.Fatalf("%d acknowledged: %s", r.Acked, r.FirstError)
	}
	if a, b := hits[0].Load(), hits[1].Load(); a != 4 || b != 6 {
		t.Errorf("hits = %d, %d; want 4, 6", a, b)
	}
}

func TestTextBatch(t *testing.T) {
	b := TextBatch("9", Inbound{ID: "wamid.x", From: "4915100000001", Text: "STOP"})
	evs, err := whatsapp.ParseWebhook(b.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Message.Text != "STOP" || evs[0].Message.From != "4915100000001" || evs[0].PhoneNumberID != "9" ||
		!slices.Equal(b.IDs, []string{"wamid.x"}) {
		t.Errorf("events = %+v, ids %v", evs, b.IDs)
	}
}

func TestReplyRecorder(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"messages":[{"id":"wamid.x"}]}`)) })
	rec := NewReplyRecorder(inner)
	srv := httptest.NewServer(rec)
	defer srv.Close()
	send := func(body map[string]any) {
		b, _ := json.Marshal(body)
		resp, err := http.Post(srv.URL+"/v18.0/1/messages", "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send(map[string]any{"to": "1", "type": "text", "text": map[string]any{"body": "echo load wamid.load.r.1"}})
	send(map[string]any{"to": "1", "type": "text", "context": map[string]any{"message_id": "wamid.load.r.2"}, "text": map[string]any{"body": "thanks"}})
	send(map[string]any{"status": "read", "message_id": "wamid.load.r.3"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n := rec.WaitFor(ctx, []string{"wamid.load.r.1", "wamid.load.r.2"}); n != 2 {
		t.Fatalf("WaitFor = %d", n)
	}
	if got := rec.Replies(); len(got) != 2 || len(got["wamid.load.r.3"]) != 0 {
		t.Errorf("replies = %v", got)
	}
	if got := rec.TextsTo("1"); !slices.Equal(got, []string{"echo load wamid.load.r.1", "thanks"}) {
		t.Errorf("texts to 1 = %q", got)
	}
	if got := rec.TextsTo("2"); len(got) != 0 {
		t.Errorf("texts to 2 = %q", got)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if Percentile(ds, 50) != 50*time.Millisecond || Percentile(ds, 99) != 99*time.Millisecond || Percentile(nil, 99) != 0 {
		t.Errorf("p50 %s p99 %s", Percentile(ds, 50), Percentile(ds, 99))
	}
}

func TestRunRefusesInstancesOnSQLite(t *testing.T) {
	tests := []struct {
		name string
		o    options
		want string
	}{
		{"two on the bundle's SQLite", options{mode: "serve", contacts: 1, messages: 1, batch: 1, concurrency: 1, instances: 2, numbers: 1}, "needs -database postgres"},
		{"two on a SQLite file", options{mode: "serve", contacts: 1, messages: 1, batch: 1, concurrency: 1, instances: 2, database: "x.db", numbers: 1}, "needs -database postgres"},
		{"zero instances", options{mode: "serve", contacts: 1, messages: 1, batch: 1, concurrency: 1, numbers: 1}, "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.o, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestCPUOf(t *testing.T) {
	// Burn a little CPU so the count is above zero on any machine.
	deadline := time.Now().Add(50 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ {
		_ = strings.Repeat("x", n%64)
	}
	d, err := cpuOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 || d > time.Hour {
		t.Errorf("cpuOf(self) = %s", d)
	}
	if _, err := cpuOf(-1); err == nil {
		t.Error("cpuOf(-1): no error")
	}
}

// TestReplyRecorderDelay checks that SetDelay holds each send back (a lower bound only, so
// a slow machine cannot fail it) and that a sender gone during the delay is not recorded.
func TestReplyRecorderDelay(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"messages":[{"id":"wamid.x"}]}`)) })
	rec := NewReplyRecorder(inner)
	srv := httptest.NewServer(rec)
	defer srv.Close()
	send := func(ctx context.Context, id string) error {
		body := `{"to":"1","type":"text","text":{"body":"echo load ` + id + `"}}`
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v18.0/1/messages", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
	rec.SetDelay(100 * time.Millisecond)
	start := time.Now()
	if err := send(context.Background(), "wamid.load.d.1"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("send took %s with a 100ms delay", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	rec.SetDelay(time.Minute)
	if err := send(ctx, "wamid.load.d.2"); err == nil {
		t.Fatal("a send cancelled during the delay succeeded")
	}
	rec.SetDelay(0)
	if err := send(context.Background(), "wamid.load.d.3"); err != nil {
		t.Fatal(err)
	}
	got := rec.Replies()
	if len(got["wamid.load.d.1"]) != 1 || len(got["wamid.load.d.2"]) != 0 || len(got["wamid.load.d.3"]) != 1 {
		t.Errorf("replies = %v", got)
	}
}
