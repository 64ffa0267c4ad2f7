package delivery

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// BenchmarkIngest measures acknowledged events/s: many concurrent webhook POSTs of one
// message each (distinct contacts cycling over 1000), with the workers running and
// replying, then the time to drain every reply (replies/s).
func BenchmarkIngest(b *testing.B) {
	for _, bc := range []struct {
		perPost int
		graph   time.Duration
	}{{1, 0}, {10, 0}, {1, 2 * time.Millisecond}} {
		perPost := bc.perPost
		b.Run(fmt.Sprintf("events_per_post=%d/graph_latency=%s", perPost, bc.graph), func(b *testing.B) {
			ctx := context.Background()
			st, err := store.Open(ctx, filepath.Join(b.TempDir(), "gtc.db"), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			snd := newFakeSender()
			snd.delay = bc.graph
			svc, err := New(Config{
				Providers: []Provider{{Tenant: "t", Team: "t", Sender: snd, MarkRead: true}},
				Runner:    &echoFlows{}, Store: st, Classify: classify, ClassifyCode: classifyCode,
			})
			if err != nil {
				b.Fatal(err)
			}
			if err := svc.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer svc.Stop(ctx)
			var seq atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					evs := make([]whatsapp.Event, perPost)
					for i := range evs {
						n := seq.Add(1)
						evs[i] = textEvent(fmt.Sprint("b", n), fmt.Sprint(4915200000+n%1000), "hi", time.Now())
					}
					if err := svc.Ingest(ctx, "t", "t", evs); err != nil {
						b.Fatal(err)
					}
				}
			})
			ack := time.Since(start)
			total := int(seq.Load())
			for snd.total() < total {
				time.Sleep(5 * time.Millisecond)
			}
			all := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(total)/ack.Seconds(), "events/s")
			b.ReportMetric(float64(total)/all.Seconds(), "replies/s")
		})
	}
}

// BenchmarkConversationStep measures one step of a waiting conversation as a webhook job
// runs it: load the contact, its pending answer and its conversation, parse and validate
// the answer, render the reply and the next question, commit the processed event with the
// replies, the next state and its timeout job, send both replies (a fake Graph) and record
// the sends. The answer's ingest is outside the timer.
func BenchmarkConversationStep(b *testing.B) {
	for _, be := range []string{"sqlite", "postgres"} {
		b.Run(be, func(b *testing.B) {
			ctx := context.Background()
			path := filepath.Join(b.TempDir(), "gtc.db")
			if be == "postgres" {
				path = storetest.PostgresDSN(b)
			}
			st, err := store.Open(ctx, path, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			dir := b.TempDir()
			writeFlow(b, dir, "count.ygtc", `name: count
version: "1.0"
nodes:
  - id: ask_n
    type: ask
    config:
      message: "A number, please."
      expect: number
      validate: "answer >= 0"
      save_as: n
      timeout: 30m
    next: got
  - id: got
    type: reply
    config:
      message: "Got {{vars.n}}, thanks."
    next: ask_n
triggers:
  - type: text
    keywords: [count]
    target: ask_n
`)
			set, err := flow.LoadDir(dir)
			if err != nil {
				b.Fatal(err)
			}
			snd := newFakeSender()
			svc, err := New(Config{Providers: []Provider{{Tenant: "t", Team: "t", Sender: snd}}, Flows: set, Store: st,
				Classify: classify, ClassifyCode: classifyCode})
			if err != nil {
				b.Fatal(err)
			}
			ref := store.ContactRef{Tenant: "t", Team: "t", Key: "4915200000001"}
			ingest := func(id, text string) {
				if err := svc.Ingest(ctx, "t", "t", []whatsapp.Event{textEvent(id, ref.Key, text, time.Now())}); err != nil {
					b.Fatal(err)
				}
			}
			round := func() {
				if _, err := svc.processRound(ctx, []store.ContactRef{ref}, "bench"); err != nil {
					b.Fatal(err)
				}
			}
			ingest("start", "count")
			round()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ingest(fmt.Sprint("a", i), fmt.Sprint(i))
				b.StartTimer()
				round()
			}
			b.StopTimer()
			c, err := st.ConversationOf(ctx, ref)
			if err != nil || c.Node != "ask_n" || snd.total() != 1+2*b.N {
				b.Fatalf("after %d steps: node %q, %d sends, %v", b.N, c.Node, snd.total(), err)
			}
		})
	}
}
