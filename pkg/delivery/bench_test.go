package delivery

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store"
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
