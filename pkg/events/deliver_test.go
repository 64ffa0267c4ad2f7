package events_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/greentic/gtc/pkg/events"
	"github.com/greentic/gtc/pkg/events/eventstest"
)

const secret = "whsec-events-0123456789"

var at = time.Date(2026, 11, 30, 9, 15, 2, 0, time.UTC)

func event(t *testing.T, seq int64, contact string) (*events.Event, []byte) {
	t.Helper()
	ev := events.NewMessageReceived(events.Head{ID: events.SeqID(seq), Time: at, Tenant: "acme", Team: "support",
		Contact: events.ContactFromKey(contact)},
		events.MessageReceived{WAMID: "wamid.in" + events.SeqID(seq), Kind: "text", Text: "private words", State: events.StateBot})
	body, err := ev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return ev, body
}

func TestDeliverSigned(t *testing.T) {
	sink := eventstest.New(t, eventstest.Options{Secret: secret})
	ev, body := event(t, 1, "4915123456789")
	var d events.Deliverer
	res := d.Deliver(context.Background(), events.Target{URL: sink.URL(), Secret: secret}, ev.ID, ev.Type, body)
	if res.Outcome != events.Delivered || res.Status != http.StatusNoContent || res.Err != nil || res.Retry() {
		t.Fatalf("Deliver = %+v, want delivered with 204", res)
	}
	got := sink.Received()
	if len(got) != 1 {
		t.Fatalf("sink got %d events, want 1", len(got))
	}
	if !bytes.Equal(got[0].Body, body) {
		t.Errorf("body changed on the way:\n got %s\nwant %s", got[0].Body, body)
	}
	if !reflect.DeepEqual(got[0].Event, ev) {
		t.Errorf("event %+v, want %+v", got[0].Event, ev)
	}
	h := got[0].Header
	for k, want := range map[string]string{
		events.SignatureHeader: events.Sign(body, secret),
		events.EventHeader:     "message.received",
		events.DeliveryHeader:  "evt_1",
		"Content-Type":         "application/json",
	} {
		if h.Get(k) != want {
			t.Errorf("%s: %q, want %q", k, h.Get(k), want)
		}
	}
	if !strings.HasPrefix(h.Get("User-Agent"), "gtc/") {
		t.Errorf("User-Agent %q, want gtc/<version>", h.Get("User-Agent"))
	}
}

func TestDeliverUnsigned(t *testing.T) {
	sink := eventstest.New(t, eventstest.Options{})
	ev, body := event(t, 1, "4915123456789")
	var d events.Deliverer
	if res := d.Deliver(context.Background(), events.Target{URL: sink.URL()}, ev.ID, ev.Type, body); res.Outcome != events.Delivered {
		t.Fatalf("Deliver = %+v", res)
	}
	if h := sink.Received()[0].Header; h.Get(events.SignatureHeader) != "" {
		t.Errorf("signed without a secret: %s", h.Get(events.SignatureHeader))
	}
}

func TestDeliverBadSignature(t *testing.T) {
	tests := []struct {
		name, secret, problem string
	}{
		{"wrong secret", "not-the-secret", "does not match"},
		{"missing", "", "missing X-Gtc-Signature-256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := eventstest.New(t, eventstest.Options{Secret: secret, ExpectBad: true})
			ev, body := event(t, 1, "4915123456789")
			var d events.Deliverer
			res := d.Deliver(context.Background(), events.Target{URL: sink.URL(), Secret: tt.secret}, ev.ID, ev.Type, body)
			if res.Outcome != events.Rejected || res.Status != http.StatusUnauthorized || !res.Retry() {
				t.Fatalf("Deliver = %+v, want rejected with 401", res)
			}
			if len(sink.Events()) != 0 {
				t.Error("the sink accepted a badly signed event")
			}
			reqs := sink.Requests()
			if len(reqs) != 1 || !strings.Contains(reqs[0].Problem, tt.problem) {
				t.Errorf("sink requests %+v, want one refused with %q", reqs, tt.problem)
			}
		})
	}
}

func TestRetryAfter500(t *testing.T) {
	sink := eventstest.New(t, eventstest.Options{Secret: secret})
	sink.FailNext(1, http.StatusInternalServerError)
	ev, body := event(t, 7, "4915123456789")
	var d events.Deliverer
	target := events.Target{URL: sink.URL(), Secret: secret}

	res := d.Deliver(context.Background(), target, ev.ID, ev.Type, body)
	if res.Outcome != events.Rejected || res.Status != 500 || !res.Retry() {
		t.Fatalf("first attempt = %+v, want rejected with 500", res)
	}
	var de *events.DeliveryError
	if !errors.As(res.Err, &de) || de.Status != 500 || !strings.Contains(res.Err.Error(), "answered 500 Internal Server Error") {
		t.Errorf("error %v, want a *DeliveryError for the 500", res.Err)
	}
	if len(sink.Events()) != 0 {
		t.Fatal("the failed attempt was recorded")
	}
	res = d.Deliver(context.Background(), target, ev.ID, ev.Type, body)
	if res.Outcome != events.Delivered {
		t.Fatalf("second attempt = %+v, want delivered", res)
	}
	if evs := sink.Events(); len(evs) != 1 || evs[0].ID != "evt_7" {
		t.Errorf("sink events %v, want evt_7", evs)
	}
	if reqs := sink.Requests(); len(reqs) != 2 || !reqs[0].Scripted || reqs[1].Status != http.StatusNoContent {
		t.Errorf("sink requests %+v", reqs)
	}
}

func TestSlowReceiverTimesOut(t *testing.T) {
	sink := eventstest.New(t, eventstest.Options{Secret: secret})
	sink.SetDelay(5 * time.Second)
	ev, body := event(t, 1, "4915123456789")
	d := events.Deliverer{Timeout: 100 * time.Millisecond}
	target := events.Target{URL: sink.URL(), Secret: secret}
	res := d.Deliver(context.Background(), target, ev.ID, ev.Type, body)
	if res.Outcome != events.Failed || !res.Retry() || !strings.Contains(res.Err.Error(), "no answer within 100ms") {
		t.Fatalf("Deliver = %+v (%v), want a timeout", res, res.Err)
	}
	// The receiver got it all the same: the retry is a duplicate it dedupes by id.
	sink.SetDelay(0)
	if res := d.Deliver(context.Background(), target, ev.ID, ev.Type, body); res.Outcome != events.Delivered {
		t.Fatalf("retry = %+v", res)
	}
	if n, m := len(sink.Received()), len(sink.Events()); n != 2 || m != 1 {
		t.Errorf("received %d posts of %d events, want 2 of 1", n, m)
	}
}

func TestDeliverOutcomes(t *testing.T) {
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example.com/hook?token=LOCATIONTOKEN", http.StatusPermanentRedirect)
	}))
	defer redirect.Close()
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer busy.Close()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	defer ok.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/events"
	ln.Close()

	tests := []struct {
		name       string
		url        string
		outcome    events.Outcome
		status     int
		retryAfter time.Duration
		err        string
	}{
		{"any 2xx", ok.URL, events.Delivered, 202, 0, ""},
		{"redirect not followed", redirect.URL, events.Rejected, 308, 0, "a redirect to https://elsewhere.example.com/hook?…: gtc does not follow redirects"},
		{"429 with Retry-After", busy.URL, events.Rejected, 429, 2 * time.Minute, "answered 429 Too Many Requests"},
		{"connection refused", closed, events.Failed, 0, 0, "connection refused"},
		{"not a URL", "ftp://x/y", events.Failed, 0, 0, "events_url is not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, body := event(t, 1, "4915123456789")
			var d events.Deliverer
			res := d.Deliver(context.Background(), events.Target{URL: tt.url, Secret: secret}, ev.ID, ev.Type, body)
			if res.Outcome != tt.outcome || res.Status != tt.status || res.RetryAfter != tt.retryAfter {
				t.Fatalf("Deliver = %+v (%v), want %s %d retry-after %v", res, res.Err, tt.outcome, tt.status, tt.retryAfter)
			}
			if tt.err == "" && res.Err != nil || tt.err != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tt.err)) {
				t.Errorf("error %v, want one containing %q", res.Err, tt.err)
			}
		})
	}
}

// TestSecretsNeverInErrorsOrLogs: the secret, events_url's query and the event body never
// show in a result's error nor in its log line, at any level.
func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	sink := eventstest.New(t, eventstest.Options{Secret: secret, ExpectBad: true})
	sink.FailNext(1, http.StatusBadGateway)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	urls := []string{
		sink.URL() + "?token=QUERYTOKEN",           // rejected (scripted 502)
		sink.URL() + "?token=QUERYTOKEN",           // rejected (401: signed with the wrong secret below)
		"http://" + closed + "/e?token=QUERYTOKEN", // transport error
		"http://user:USERINFOPASS@" + closed + "/e?token=QUERYTOKEN",
		"http://" + closed + "/e#QUERYTOKEN",
		"https://[::1]:0/%zz?token=QUERYTOKEN", // unparsable
	}
	secrets := []string{"QUERYTOKEN", "USERINFOPASS", "private words"}
	for i, u := range urls {
		ev, body := event(t, int64(i+1), "4915123456789")
		s := secret
		if i == 1 {
			s = "wrong-" + secret
		}
		var d events.Deliverer
		res := d.Deliver(context.Background(), events.Target{URL: u, Secret: s}, ev.ID, ev.Type, body)
		if res.Err == nil {
			t.Fatalf("%s: delivered, want a failure", u)
		}
		var logs bytes.Buffer
		for _, h := range []slog.Handler{slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
			slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})} {
			slog.New(h).Warn("event delivery failed", "event", ev.ID, "result", res)
		}
		for _, text := range []string{res.Err.Error(), logs.String()} {
			for _, bad := range append(secrets, secret, s) {
				if strings.Contains(text, bad) {
					t.Errorf("%q reveals %q", text, bad)
				}
			}
		}
		if !strings.Contains(logs.String(), "outcome") {
			t.Errorf("log line without the outcome: %s", logs.String())
		}
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := events.NewMetrics(reg, func(context.Context) (events.Backlog, error) {
		return events.Backlog{Pending: 5, Failing: 2, Oldest: 90 * time.Second}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sink := eventstest.New(t, eventstest.Options{Secret: secret})
	sink.FailNext(1, 503)
	d := events.Deliverer{Metrics: m}
	ev, body := event(t, 1, "4915123456789")
	target := events.Target{URL: sink.URL(), Secret: secret}
	d.Deliver(context.Background(), target, ev.ID, ev.Type, body)
	d.Deliver(context.Background(), target, ev.ID, ev.Type, body)
	m.GaveUp(events.TypeSendFailed)

	for name, want := range map[string]float64{"gtc_event_outbox_pending": 5, "gtc_event_outbox_failing": 2,
		"gtc_event_outbox_oldest_seconds": 90} {
		if got := gauge(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "gtc_event_deliveries_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			var typ, outcome string
			for _, l := range mt.GetLabel() {
				switch l.GetName() {
				case "type":
					typ = l.GetValue()
				case "outcome":
					outcome = l.GetValue()
				}
			}
			got[typ+"/"+outcome] = mt.GetCounter().GetValue()
		}
	}
	if len(got) != len(events.Types)*4 {
		t.Errorf("%d deliveries series, want every type × outcome (%d)", len(got), len(events.Types)*4)
	}
	for k, v := range map[string]float64{"message.received/rejected": 1, "message.received/delivered": 1,
		"message.received/error": 0, "send.failed/gave_up": 1} {
		if got[k] != v {
			t.Errorf("deliveries %s = %v, want %v", k, got[k], v)
		}
	}
	if n := histogramCount(t, reg, "gtc_event_delivery_seconds"); n != 2 {
		t.Errorf("gtc_event_delivery_seconds counted %d attempts, want 2", n)
	}
	// A failing backlog shows as -1.
	reg2 := prometheus.NewRegistry()
	if _, err := events.NewMetrics(reg2, func(context.Context) (events.Backlog, error) { return events.Backlog{}, errors.New("db down") }); err != nil {
		t.Fatal(err)
	}
	if got := gauge(t, reg2, "gtc_event_outbox_pending"); got != -1 {
		t.Errorf("gtc_event_outbox_pending = %v with a failing backlog, want -1", got)
	}
}

func find(t *testing.T, reg *prometheus.Registry, name string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0]
		}
	}
	t.Fatalf("no single series %s", name)
	return nil
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	return find(t, reg, name).GetGauge().GetValue()
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	return find(t, reg, name).GetHistogram().GetSampleCount()
}

// TestOrderPerContact drives a small outbox against a real receiver that fails now and
// then: events.Next picks each contact's head, the Deliverer posts it, NextAttempt
// reschedules failures. Every contact's events arrive in the order they were made.
func TestOrderPerContact(t *testing.T) {
	sink := eventstest.New(t, eventstest.Options{Secret: secret})
	target := events.Target{URL: sink.URL(), Secret: secret}
	type row struct {
		events.Pending
		body     []byte
		typ      events.Type
		attempts int
	}
	now := at
	var rows []*row
	contacts := []string{"4915100000001", "4915100000002", "US.1349120865", "4915100000001", "4915100000002",
		"4915100000001", "US.1349120865", "4915100000001"}
	for i, c := range contacts {
		ev, body := event(t, int64(i+1), c)
		rows = append(rows, &row{Pending: events.Pending{Seq: int64(i + 1), Tenant: "acme", Team: "support", Contact: c, NextAt: now},
			body: body, typ: ev.Type})
	}
	fails := map[int]bool{0: true, 2: true, 3: true, 6: true} // which POSTs (0-based) the sink fails
	var d events.Deliverer
	posts := 0
	for round := 0; len(rows) > 0; round++ {
		if round > 50 {
			t.Fatal("the outbox never drained")
		}
		pending := make([]events.Pending, len(rows))
		for i, r := range rows {
			pending[i] = r.Pending
		}
		for _, h := range events.Next(pending, now) {
			var r *row
			var i int
			for i, r = range rows {
				if r.Seq == h.Seq {
					break
				}
			}
			if fails[posts] {
				sink.FailNext(1, 500)
			}
			posts++
			r.attempts++
			res := d.Deliver(context.Background(), target, events.SeqID(r.Seq), r.typ, r.body)
			if !res.Retry() {
				rows = append(rows[:i], rows[i+1:]...)
				continue
			}
			next, ok := events.NextAttempt(r.attempts, at, now)
			if !ok {
				t.Fatalf("gave up on %d", r.Seq)
			}
			r.NextAt = next
		}
		now = now.Add(time.Minute)
	}
	want := map[string][]string{
		"4915100000001": {"evt_1", "evt_4", "evt_6", "evt_8"},
		"4915100000002": {"evt_2", "evt_5"},
		"US.1349120865": {"evt_3", "evt_7"},
	}
	if got := sink.ByContact(); !reflect.DeepEqual(got, want) {
		t.Errorf("events per contact %v, want %v", got, want)
	}
	if n := len(sink.Requests()); n != len(contacts)+len(fails) {
		t.Errorf("%d POSTs, want %d", n, len(contacts)+len(fails))
	}
}
