package store

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store/storetest"
	"github.com/greentic/gtc/pkg/whatsapp"
)

func TestTakeSequential(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, _ := openTest(t, b, Options{})
		ctx := context.Background()
		w0, w1 := t0, t0.Add(time.Second)
		tests := []struct {
			name     string
			key      string
			start    time.Time
			capacity int
			n        int
			want     int
		}{
			{"first take of a window", "pn1", w0, 10, 4, 4},
			{"second take", "pn1", w0, 10, 4, 4},
			{"asks more than is left: gets the rest", "pn1", w0, 10, 4, 2},
			{"full window", "pn1", w0, 10, 4, 0},
			{"full window again", "pn1", w0, 10, 1, 0},
			{"next window is its own", "pn1", w1, 10, 3, 3},
			{"other number, same window", "pn2", w0, 10, 10, 10},
			{"first take larger than the capacity", "pn3", w0, 5, 8, 5},
			{"after it, the window is full", "pn3", w0, 5, 1, 0},
			{"nothing asked", "pn4", w0, 5, 0, 0},
			{"no capacity", "pn4", w0, 0, 3, 0},
			{"the zero asks left no trace", "pn4", w0, 5, 5, 5},
		}
		for _, tt := range tests {
			got, err := st.Take(ctx, tt.key, tt.start, time.Second, tt.capacity, tt.n)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if got != tt.want {
				t.Errorf("%s: Take(%s, %d of %d) = %d, want %d", tt.name, tt.key, tt.n, tt.capacity, got, tt.want)
			}
		}
		if _, err := st.Take(ctx, "pn1", w0, 0, 10, 1); err == nil {
			t.Error("Take with a zero window size: no error")
		}
		// A full window is no longer written: used stays below capacity + n.
		var used int
		if err := st.db.QueryRowContext(ctx, `SELECT used FROM gtc_pacing WHERE phone_number_id = $1 AND window_start = CAST($2 AS BIGINT)`,
			"pn1", w0.UnixMilli()).Scan(&used); err != nil {
			t.Fatal(err)
		}
		if used != 12 {
			t.Errorf("pn1's first window: used = %d, want 12 (4+4+4, the asks on the full window not counted)", used)
		}
	})
}

func TestPrunePacing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st, _ := openTest(t, b, Options{})
		ctx := context.Background()
		for i := 0; i < 5; i++ {
			if _, err := st.Take(ctx, "pn1", t0.Add(time.Duration(i)*time.Second), time.Second, 3, 3); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.PrunePacing(ctx, t0.Add(3*time.Second)); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM gtc_pacing`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("%d windows left, want 2 (those at and after the cut)", n)
		}
		// A pruned window is a new one: it matters only for windows long past.
		if got, err := st.Take(ctx, "pn1", t0.Add(3*time.Second), time.Second, 3, 1); err != nil || got != 0 {
			t.Errorf("kept full window: Take = %d, %v, want 0", got, err)
		}
		st.Close()
		if _, err := st.Take(ctx, "pn1", t0, time.Second, 3, 1); !errors.Is(err, ErrClosed) {
			t.Errorf("Take after Close: err = %v, want ErrClosed", err)
		}
		if err := st.PrunePacing(ctx, t0); !errors.Is(err, ErrClosed) {
			t.Errorf("PrunePacing after Close: err = %v, want ErrClosed", err)
		}
	})
}

// TestTakeConcurrentInstances is two instances (two Store handles on one database) with 8
// goroutines each asking for more than the window holds: the grants add up to the
// capacity, exactly.
func TestTakeConcurrentInstances(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b storetest.Backend) {
		st1, dsn := openTest(t, b, Options{})
		ctx := context.Background()
		st2, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st2.Close()
		const capacity, windows, workers, asks = 97, 3, 8, 12
		var mu sync.Mutex
		granted, demand := map[int]int{}, map[int]int{}
		var wg sync.WaitGroup
		errs := make(chan error, 2*workers)
		for _, st := range []*Store{st1, st2} {
			for g := 0; g < workers; g++ {
				wg.Add(1)
				go func(st *Store, g int) {
					defer wg.Done()
					for i := 0; i < asks; i++ {
						w := (g + i) % windows
						n := 1 + (g+i)%5
						got, err := st.Take(ctx, "pn", t0.Add(time.Duration(w)*time.Second), time.Second, capacity, n)
						if err != nil {
							errs <- err
							return
						}
						if got < 0 || got > n {
							errs <- errors.New("a grant out of 0..n")
							return
						}
						mu.Lock()
						granted[w] += got
						demand[w] += n
						mu.Unlock()
					}
				}(st, g)
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for w := 0; w < windows; w++ {
			if demand[w] <= capacity {
				t.Fatalf("window %d: demand %d does not exceed the capacity %d: the test proves nothing", w, demand[w], capacity)
			}
			if granted[w] != capacity {
				t.Errorf("window %d: %d granted in all, want exactly %d", w, granted[w], capacity)
			}
		}
	})
}

// countingBooker counts the round trips to the ledger.
type countingBooker struct {
	*Store
	takes atomic.Int64
}

func (c *countingBooker) Take(ctx context.Context, key string, start time.Time, size time.Duration, capacity, n int) (int, error) {
	c.takes.Add(1)
	return c.Store.Take(ctx, key, start, size, capacity, n)
}

// BenchmarkSharedPacer books sends through the Pacers of two instances (two Store handles
// on one PostgreSQL database, 4 goroutines each) sharing the number's ledger, and reports
// the sends booked per second and the round trips to the ledger per send. The bookings run
// ahead of the real clock, so it measures the pacer and the ledger, not the rate.
//
//	GTC_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test -run '^$' -bench SharedPacer ./pkg/store
func BenchmarkSharedPacer(b *testing.B) {
	for _, bb := range []struct {
		name  string
		rate  float64
		block int
	}{
		{"80ps", 80, 0},            // the default throughput: blocks of 10
		{"1000ps", 1000, 0},        // an upgraded number: blocks of 125
		{"80ps-block1", 80, 1},     // a round trip per send
		{"1000ps-block1", 1000, 1}, // a round trip per send
	} {
		b.Run(bb.name, func(b *testing.B) {
			dsn := storetest.PostgresDSN(b)
			ctx := context.Background()
			var pacers []*whatsapp.Pacer
			var bookers []*countingBooker
			for i := 0; i < 2; i++ {
				st, err := Open(ctx, dsn)
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				cb := &countingBooker{Store: st}
				bookers = append(bookers, cb)
				pacers = append(pacers, whatsapp.NewPacer(whatsapp.PacerConfig{RatePerSecond: bb.rate, Block: bb.block,
					Shared: cb, SharedKey: "pn1", OnSharedError: func(err error) { b.Error(err) }}))
			}
			const workers = 4
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for _, p := range pacers {
				for w := 0; w < workers; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
							p.Reserve("+49" + strconv.FormatInt(i, 10))
						}
					}()
				}
			}
			wg.Wait()
			b.StopTimer()
			takes := bookers[0].takes.Load() + bookers[1].takes.Load()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
			b.ReportMetric(float64(takes)/float64(b.N), "takes/send")
		})
	}
}
