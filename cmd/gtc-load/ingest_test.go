package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// TestSpreadBatches checks -numbers' bodies: every message once, a contact always on the
// same number, each POST to one number only and carrying that number's phone_number_id.
func TestSpreadBatches(t *testing.T) {
	numbers := Numbers(3)
	ids := []string{numbers[0].PhoneNumberID, numbers[1].PhoneNumberID, numbers[2].PhoneNumberID}
	if ids[0] != LoadPhoneNumberID || ids[1] == ids[0] || numbers[2].Tenant != "num3" {
		t.Fatalf("numbers = %+v", numbers)
	}
	cfg := LoadConfig{RunID: "s", Contacts: 7, Messages: 50, Batch: 4}
	bs := SpreadBatches(cfg, ids)
	seen := map[string]bool{}
	numberOf := map[string]int{} // contact → number
	for _, b := range bs {
		evs, err := whatsapp.ParseWebhook(b.Body)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 || len(evs) > 4 || len(evs) != len(b.IDs) {
			t.Fatalf("batch of %d events, %d ids", len(evs), len(b.IDs))
		}
		for i, e := range evs {
			if e.PhoneNumberID != ids[b.Number] || e.Message.ID != b.IDs[i] {
				t.Errorf("event %s to %s in a batch of number %d", e.Message.ID, e.PhoneNumberID, b.Number)
			}
			if k, ok := numberOf[e.Message.From]; ok && k != b.Number {
				t.Errorf("contact %s wrote to numbers %d and %d", e.Message.From, k, b.Number)
			}
			numberOf[e.Message.From] = b.Number
			if seen[e.Message.ID] {
				t.Errorf("message %s twice", e.Message.ID)
			}
			seen[e.Message.ID] = true
		}
	}
	if len(seen) != 50 || len(numberOf) != 7 {
		t.Errorf("%d messages from %d contacts, want 50 from 7", len(seen), len(numberOf))
	}
	// One number is exactly the old Batches.
	one := SpreadBatches(LoadConfig{RunID: "s", Contacts: 3, Messages: 10, Batch: 4}, []string{"9"})
	if len(one) != 3 || len(one[0].IDs) != 4 || one[0].IDs[0] != MessageID("s", 0) || one[2].IDs[1] != MessageID("s", 9) {
		t.Errorf("one number: %d batches", len(one))
	}
}

func TestPhoneIDOf(t *testing.T) {
	for path, want := range map[string]string{
		"/v26.0/100000000000002/messages": "100000000000002",
		"/v26.0/100000000000002":          "100000000000002",
		"/v26.0":                          "",
		"/download/x":                     "",
	} {
		if got := phoneIDOf(path); got != want {
			t.Errorf("phoneIDOf(%q) = %q, want %q", path, got, want)
		}
	}
}

// fakePeer answers like the peer harness: signed POSTs counted per message, GET /count.
// miss makes it forget that many messages (a peer that drops some); firstOnly counts one
// message per webhook, as whatsapp-api-js 6 does.
func fakePeer(t *testing.T, secret string, miss int, firstOnly bool) *httptest.Server {
	var n atomic.Int64
	base := BaselineHandler(secret)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/count" {
			fmt.Fprint(w, max(n.Load()-int64(miss), 0))
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		cw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
		base.ServeHTTP(cw, r)
		if cw.code == http.StatusOK {
			evs, _ := whatsapp.ParseWebhook(body)
			if firstOnly {
				evs = evs[:min(len(evs), 1)]
			}
			n.Add(int64(len(evs)))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestDrivePeer is -peer's plumbing without node: the same batches go to the peer's
// POST /, its GET /count must rise by the messages posted, and a peer that counts fewer
// (or answers /count with something else) is an error.
func TestDrivePeer(t *testing.T) {
	cfg := LoadConfig{AppSecret: "sec", RunID: "p", Contacts: 5, Messages: 60, Batch: 2, Concurrency: 4, Timeout: 5 * time.Second}
	bs := SpreadBatches(cfg, []string{"1", "2"})
	bs[0].URL = "http://127.0.0.1:1/elsewhere" // a gtc tenant URL: the peer run must ignore it
	r, counted, err := drivePeer(context.Background(), cfg, bs, fakePeer(t, "sec", 0, false).URL)
	if err != nil || counted != 60 || r.Acked != len(bs) || len(r.AckedIDs) != 60 {
		t.Fatalf("drivePeer = %v, counted %d, %d of %d POSTs acknowledged", err, counted, r.Acked, len(bs))
	}
	if _, _, err := drivePeer(context.Background(), cfg, bs, fakePeer(t, "sec", 3, false).URL); err == nil || !strings.Contains(err.Error(), "counted 57 messages, 60 were posted") {
		t.Errorf("a peer that missed 3: %v", err)
	}
	// whatsapp-api-js counts the first message of each webhook only: accepted, and told.
	if _, counted, err := drivePeer(context.Background(), cfg, bs, fakePeer(t, "sec", 0, true).URL); err != nil || counted != len(bs) {
		t.Errorf("a peer that counts one per webhook: %v, counted %d of %d POSTs", err, counted, len(bs))
	}
	if _, _, err := drivePeer(context.Background(), cfg, bs, fakePeer(t, "other", 0, false).URL); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("a peer with another app secret: %v", err)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>") }))
	defer bad.Close()
	if _, err := PeerCount(context.Background(), bad.URL); err == nil || !strings.Contains(err.Error(), "want 200 and a number") {
		t.Errorf("PeerCount of a non-peer: %v", err)
	}
}

func TestPrintRatios(t *testing.T) {
	res := func(n int) *LoadResult { return &LoadResult{AckedIDs: make([]string, n), Elapsed: time.Second} }
	var out strings.Builder
	printRatios(&out, res(6000), res(4000), res(12000))
	want := "ratio gtc/peer: 1.50x (6000 vs 4000 webhooks/s)\nratio gtc/bare: 0.50x (6000 vs 12000 webhooks/s)\nratio peer/bare: 0.33x\n"
	if out.String() != want {
		t.Errorf("got\n%swant\n%s", out.String(), want)
	}
	out.Reset()
	printRatios(&out, res(6000), nil, res(12000))
	if out.String() != "ratio gtc/bare: 0.50x (6000 vs 12000 webhooks/s)\n" {
		t.Errorf("without the peer: %q", out.String())
	}
}

// TestPeerWithNode installs the real peer from npm and drives it with a few messages.
func TestPeerWithNode(t *testing.T) {
	if testing.Short() {
		t.Skip("installs whatsapp-api-js from npm; skipped with -short")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH: the peer (whatsapp-api-js on node:http) cannot run here", tool)
		}
	}
	harness := defaultPeerHarness()
	if _, err := os.Stat(filepath.Join(harness, PeerScript)); err != nil {
		t.Skipf("no peer harness at %s: %v", harness, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := options{messages: 40, contacts: 4, batch: 2, concurrency: 4, runID: "node", peerDir: t.TempDir(), peerHarness: harness}
	var out strings.Builder
	if _, err := runPeer(ctx, o, &out, SpreadBatches(o.loadConfig("", "", ""), []string{LoadPhoneNumberID})); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// whatsapp-api-js 6 handles the first message of a webhook only: 20 of the 40.
	if !strings.Contains(out.String(), "20 POSTs (20 acknowledged, 0 failed)") || !strings.Contains(out.String(), "peer counted 20 of 40 messages") {
		t.Errorf("output:\n%s", out.String())
	}
	if entries, _ := os.ReadDir(o.peerDir); len(entries) == 0 {
		t.Error("nothing installed in -peer-dir")
	}
}

func TestAnalyzeReplies(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &LoadResult{SentAt: map[string]time.Time{}}
	replies := map[string][]time.Time{}
	via, expect := map[string]string{}, map[string]string{}
	for i := range 20 {
		id := "m" + strconv.Itoa(i)
		r.AckedIDs = append(r.AckedIDs, id)
		r.SentAt[id] = t0
		expect[id], via[id] = "1", "1"
		if i%2 == 1 {
			expect[id], via[id] = "2", "2"
		}
		replies[id] = []time.Time{t0.Add(time.Duration(i+1) * 100 * time.Millisecond)}
	}
	delete(replies, "m19")
	replies["m3"] = append(replies["m3"], t0.Add(5*time.Second))
	via["m4"] = "2"
	replies["stray"] = []time.Time{t0}
	rs := AnalyzeReplies(r, replies, via, expect)
	if rs.Got != 19 || rs.Dups != 1 || rs.WrongNumber != 1 || rs.Unexpected != 1 {
		t.Errorf("got %d, dups %d, wrong number %d, unexpected %d; want 19, 1, 1, 1", rs.Got, rs.Dups, rs.WrongNumber, rs.Unexpected)
	}
	if rs.PerNumber[0] != 10 || rs.PerNumber[1] != 9 {
		t.Errorf("per number = %v", rs.PerNumber)
	}
	if rs.Span != 1900*time.Millisecond || Percentile(rs.Latencies, 50) != time.Second {
		t.Errorf("span %s, p50 %s", rs.Span, Percentile(rs.Latencies, 50))
	}
	// 19 replies, 100 ms apart: 10th..90th percentile = indexes 1..17, 16 replies in 1.6 s.
	if rs.Sustained < 9.99 || rs.Sustained > 10.01 {
		t.Errorf("sustained = %.2f/s, want 10", rs.Sustained)
	}
}

func TestSlowBody(t *testing.T) {
	head, pad, sig := SlowBody("7", "wamid.slow.1", 100_000, "sec")
	body := append(append(head, bytes.Repeat([]byte(" "), pad)...), '}')
	if len(body) != 100_000 {
		t.Fatalf("body is %d bytes", len(body))
	}
	if err := whatsapp.VerifySignature(body, sig, "sec"); err != nil {
		t.Fatal(err)
	}
	evs, err := whatsapp.ParseWebhook(body)
	if err != nil || len(evs) != 1 || evs[0].Message.ID != "wamid.slow.1" || evs[0].PhoneNumberID != "7" {
		t.Fatalf("events %+v, %v", evs, err)
	}
}

// TestSlowClients trickles small signed bodies into the baseline handler (all answered
// 200, none faster than the trickle) and into a server that hangs up (counted as errors).
func TestSlowClients(t *testing.T) {
	srv := httptest.NewServer(BaselineHandler("sec"))
	defer srv.Close()
	cfg := SlowConfig{URL: srv.URL + "/webhook", AppSecret: "sec", PhoneNumberID: "1", RunID: "s",
		Conns: 5, Size: 64 << 10, Over: 200 * time.Millisecond, Tick: 20 * time.Millisecond}
	res := SlowClients(context.Background(), cfg)
	if res.Codes[200] != 5 || res.Elapsed < 150*time.Millisecond {
		t.Errorf("answers %s after %s", res, res.Elapsed)
	}
	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		http.Error(w, "no", http.StatusRequestEntityTooLarge) // without reading the body
	}))
	defer hangup.Close()
	cfg.URL, cfg.Size = hangup.URL, 4<<20
	res = SlowClients(context.Background(), cfg)
	if res.Codes[200] != 0 || (res.Codes[413] == 0 && len(res.Errors) == 0) {
		t.Errorf("against a server that refuses: %s", res)
	}
}

func TestRunRefusesNumbers(t *testing.T) {
	base := options{mode: "serve", contacts: 2, messages: 1, batch: 1, concurrency: 1, instances: 1}
	tests := []struct {
		name string
		edit func(*options)
		want string
	}{
		{"zero numbers", func(o *options) { o.numbers = 0 }, "at least 1"},
		{"more numbers than contacts", func(o *options) { o.numbers = 3 }, "more than -contacts 2"},
		{"numbers against a target", func(o *options) { o.numbers, o.mode = 2, "target" }, "not with -mode target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			o.numbers = 1
			tt.edit(&o)
			if err := run(context.Background(), o, io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestNumbersServe runs -numbers 2 end to end at a tiny count: a bundle with two tenants,
// gtc serve, every message answered once, from the number it was written to.
func TestNumbersServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gtc and runs gtc serve; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	gtc, err := BuildGTC(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	o := options{mode: "serve", gtc: gtc, contacts: 10, messages: 200, batch: 1, concurrency: 4, instances: 1,
		numbers: 2, replyTimeout: time.Minute}
	var out strings.Builder
	if err := run(ctx, o, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"over 2 phone numbers", "replies delivered: 200 of 200 acknowledged messages; 0 with more than one reply, 0 sent from another number",
		"replies per number: 100 to 100 over 2 numbers"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
}

func TestPrintMedians(t *testing.T) {
	var out strings.Builder
	printMedians(&out, []roundRatios{{0.6, 0.3, 0.5}, {0.8, 0.2, 0.25}, {0.7, 0.4, 0.57}, {0.5, 0.1, 0.2}}, true)
	want := "median gtc/peer over 4 rounds: 0.65x (0.50–0.80)\nmedian gtc/bare over 4 rounds: 0.25x (0.10–0.40)\nmedian peer/bare over 4 rounds: 0.38x (0.20–0.57)\n"
	if out.String() != want {
		t.Errorf("got\n%swant\n%s", out.String(), want)
	}
}

func TestMachineLoad(t *testing.T) {
	got := machineLoad()
	if _, err := os.Stat("/proc/loadavg"); err == nil && !strings.HasPrefix(got, "load average ") {
		t.Errorf("machineLoad() = %q", got)
	}
}
