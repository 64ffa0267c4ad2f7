package delivery

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "gtc.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	snd := newFakeSender()
	snd.failNext("+4915100051", errUnreachable)
	svc, err := New(Config{Providers: []Provider{{Tenant: "t", Team: "t", Sender: snd}}, Runner: &echoFlows{}, Store: st,
		Classify: classify, ClassifyCode: classifyCode, Registerer: reg, PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Ready(); err == nil {
		t.Fatal("ready before Start")
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Ready(); err != nil {
		t.Fatalf("not ready after Start: %v", err)
	}
	evs := []whatsapp.Event{textEvent("wamid.m1", "4915100050", "hi", time.Now()), textEvent("wamid.m2", "4915100051", "hi", time.Now()),
		{Kind: whatsapp.EventUnknown, Field: "calls", Raw: []byte(`{}`)}}
	if err := svc.Ingest(ctx, "t", "t", evs); err != nil {
		t.Fatal(err)
	}
	if err := svc.Ingest(ctx, "t", "t", evs[:1]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for metric(t, reg, "gtc_sends_total", "class", "ok")+metric(t, reg, "gtc_sends_total", "class", "unreachable") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("sends not counted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tests := []struct {
		name, label, value string
		want               float64
	}{
		{"gtc_sends_total", "class", "ok", 1},
		{"gtc_sends_total", "class", "unreachable", 1},
		{"gtc_events_total", "kind", "message", 3},
		{"gtc_events_total", "kind", "unknown", 1},
		{"gtc_events_duplicate_total", "", "", 1},
		{"gtc_queue_depth", "queue", "inbound", 0},
		{"gtc_ingest_seconds", "", "", 2}, // sample count
		{"gtc_send_seconds", "", "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name+tt.value, func(t *testing.T) {
			if got := metric(t, reg, tt.name, tt.label, tt.value); got != tt.want {
				t.Fatalf("%s{%s=%q} = %v, want %v", tt.name, tt.label, tt.value, got, tt.want)
			}
		})
	}
	if err := svc.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Ingest(ctx, "t", "t", evs); err == nil {
		t.Fatal("Ingest after Stop succeeded")
	}
}

// metric reads one sample (a histogram's count) from reg; -1 when absent.
func metric(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					match = true
				}
			}
			if !match {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}
