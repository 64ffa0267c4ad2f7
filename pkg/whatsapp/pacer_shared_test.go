package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeBooker is an in-memory SlotBooker, the shared ledger of the tests.
type fakeBooker struct {
	mu    sync.Mutex
	used  map[string]int // key@start → places granted
	asks  []int          // n of each Take
	fail  error          // returned by Take while set
	block chan struct{}  // when set, Take waits for its ctx (and fails with its error)
	in    chan struct{}  // when set, Take says it started
}

func newFakeBooker() *fakeBooker { return &fakeBooker{used: map[string]int{}} }

func (f *fakeBooker) Take(ctx context.Context, key string, start time.Time, size time.Duration, capacity, n int) (int, error) {
	if f.in != nil {
		f.in <- struct{}{}
	}
	if f.block != nil {
		if _, ok := ctx.Deadline(); !ok {
			return 0, errors.New("Take without a deadline")
		}
		<-ctx.Done()
		return 0, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asks = append(f.asks, n)
	if f.fail != nil {
		return 0, f.fail
	}
	k := fmt.Sprintf("%s@%d/%v", key, start.UnixNano(), size)
	got := min(n, max(0, capacity-f.used[k]))
	f.used[k] += got
	return got, nil
}

func (f *fakeBooker) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.asks)
}

func (f *fakeBooker) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// reserveMany makes n Reserves to distinct recipients on each pacer, from workers
// goroutines per pacer at once, and returns the send times booked by each pacer.
func reserveMany(t *testing.T, clk *fakeClock, pacers []*Pacer, workers, n int) [][]time.Time {
	t.Helper()
	out := make([][]time.Time, len(pacers))
	var mu sync.Mutex
	var wg sync.WaitGroup
	now := clk.Now() // the clock does not move while they run
	for i, p := range pacers {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := w; j < n; j += workers {
					d := p.Reserve(fmt.Sprintf("+49%d-%d-%d", i, j, now.UnixNano()))
					mu.Lock()
					out[i] = append(out[i], now.Add(d))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for i := range pacers {
		if len(out[i]) != n {
			t.Fatalf("pacer %d served %d of %d", i, len(out[i]), n)
		}
	}
	return out
}

// perWindow counts the send times per window of size (all pacers together, and the most
// any one pacer sent in a window).
func perWindow(sends [][]time.Time, size time.Duration) (all map[int64]int, most int) {
	all = map[int64]int{}
	for _, ts := range sends {
		mine := map[int64]int{}
		for _, s := range ts {
			k := s.UnixNano() / int64(size)
			all[k]++
			mine[k]++
			most = max(most, mine[k])
		}
	}
	return all, most
}

func sharedPacers(clk *fakeClock, b SlotBooker, n int, cfg PacerConfig) []*Pacer {
	var ps []*Pacer
	for i := 0; i < n; i++ {
		c := cfg
		c.Clock, c.Shared, c.SharedKey = clk, b, "pn1"
		if c.RecipientBurst == 0 {
			c.RecipientBurst = 1000
		}
		ps = append(ps, NewPacer(c))
	}
	return ps
}

// Three instances share a number of 20/s: whatever the interleaving, no window gets more
// than 20 sends, and as each instance books the earliest window with room, every window but
// the last of each instance (where its unused places are) gets exactly 20.
func TestSharedPacersShareTheRate(t *testing.T) {
	tests := []struct {
		name           string
		pacers, block  int
		workers, sends int
	}{
		{"default block", 3, 0, 8, 200},
		{"block of 1", 3, 1, 4, 100},
		{"block of 7 (not dividing 20)", 3, 7, 8, 150},
		{"one instance", 1, 0, 8, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			b := newFakeBooker()
			ps := sharedPacers(clk, b, tt.pacers, PacerConfig{RatePerSecond: 20, Block: tt.block})
			sends := reserveMany(t, clk, ps, tt.workers, tt.sends)
			all, _ := perWindow(sends, time.Second)
			first, last := clk.Now().Unix(), int64(0)
			total := 0
			for k, n := range all {
				last = max(last, k)
				total += n
				if n > 20 {
					t.Errorf("window %d: %d sends, want at most 20", k-first, n)
				}
			}
			if total != tt.pacers*tt.sends {
				t.Fatalf("%d sends booked, want %d", total, tt.pacers*tt.sends)
			}
			// An instance may hold unused places only in the last window it booked (it
			// books the earliest window with room), which may come before the others'.
			lastOf := map[int64]bool{}
			for _, ts := range sends {
				var k int64
				for _, s := range ts {
					k = max(k, s.Unix())
				}
				lastOf[k] = true
			}
			for k := first; k <= last; k++ {
				if all[k] != 20 && !lastOf[k] {
					t.Errorf("window %d of %d: %d sends, want 20 (a full window, not the last of an instance)", k-first, last-first, all[k])
				}
			}
			for k, used := range b.used {
				if used > 20 {
					t.Errorf("ledger %s: %d granted", k, used)
				}
			}
		})
	}
}

// With the clock moving between rounds of sends, past windows are dropped, places not used
// in them are lost, and still no window ever gets more than the capacity.
func TestSharedPacersOverTime(t *testing.T) {
	clk := newFakeClock()
	b := newFakeBooker()
	ps := sharedPacers(clk, b, 2, PacerConfig{RatePerSecond: 10})
	all := map[int64]int{}
	for round := 0; round < 20; round++ {
		got, _ := perWindow(reserveMany(t, clk, ps, 3, 4), time.Second)
		for k, n := range got {
			all[k] += n
		}
		clk.Advance(300 * time.Millisecond)
	}
	for k, n := range all {
		if n > 10 {
			t.Errorf("window %d: %d sends, want at most 10", k, n)
		}
	}
	for _, p := range ps {
		p.mu.Lock()
		n := len(p.phone.slots)
		p.mu.Unlock()
		if n > 20 {
			t.Errorf("%d windows kept, want the past ones dropped", n)
		}
	}
}

// A quiet instance asks the ledger for one place at a time; a busy one for whole blocks.
func TestSharedPacerAskSize(t *testing.T) {
	clk := newFakeClock()
	b := newFakeBooker()
	p := sharedPacers(clk, b, 1, PacerConfig{RatePerSecond: 80})[0] // block 10
	p.Reserve("+491")
	clk.Advance(time.Second)
	p.Reserve("+492")
	if want := []int{1, 1}; fmt.Sprint(b.asks) != fmt.Sprint(want) {
		t.Errorf("quiet: asks %v, want %v", b.asks, want)
	}
	b.asks = nil
	clk.Advance(time.Second)
	for i := 0; i < 80; i++ {
		if d := p.Reserve(fmt.Sprintf("+49%d", i)); d != 0 {
			t.Fatalf("send %d of 80 in a window of 80: wait %v", i, d)
		}
	}
	// Slow start within the window: 1, 1, 2, 4, 8, then blocks of 10; the last gets 4.
	want := []int{1, 1, 2, 4, 8, 10, 10, 10, 10, 10, 10, 10}
	if fmt.Sprint(b.asks) != fmt.Sprint(want) {
		t.Errorf("busy: asks %v, want %v", b.asks, want)
	}
	if d := p.Reserve("+49x"); d != time.Second {
		t.Errorf("81st send: wait %v, want 1s", d)
	}
	if last := b.asks[len(b.asks)-1]; last != 10 {
		t.Errorf("first ask of the next window after a busy one: %d, want a block (10)", last)
	}
}

// Delay answers from what the pacer knows, without asking the ledger: a window it has not
// asked about counts as having room, one the ledger said is full does not.
func TestSharedPacerDelayIsLocal(t *testing.T) {
	clk := newFakeClock()
	b := newFakeBooker()
	p := sharedPacers(clk, b, 1, PacerConfig{RatePerSecond: 5})[0]
	if d := p.Delay("+491"); d != 0 || b.calls() != 0 {
		t.Fatalf("Delay = %v after %d Takes, want 0 after none", d, b.calls())
	}
	// Another instance fills this window.
	if got, _ := b.Take(context.Background(), "pn1", clk.Now(), time.Second, 5, 5); got != 5 {
		t.Fatal(got)
	}
	calls := b.calls()
	if d := p.Delay("+491"); d != 0 || b.calls() != calls {
		t.Errorf("Delay = %v, %d Takes, want 0 (not known full yet) and no Take", d, b.calls()-calls)
	}
	if d := p.Reserve("+491"); d != time.Second {
		t.Errorf("Reserve = %v, want 1s (the window is full everywhere)", d)
	}
	if d := p.Delay("+492"); d != time.Second {
		t.Errorf("Delay after the pacer learnt the window is full = %v, want 1s", d)
	}
}

// While the ledger fails, each instance allows itself its fallback share per window and
// asks again only after sharedRetryAfter; the error is reported once per failure.
func TestSharedPacerLedgerFails(t *testing.T) {
	clk := newFakeClock()
	b := newFakeBooker()
	b.setFail(errors.New("connection refused"))
	var mu sync.Mutex
	var reported []error
	cfg := PacerConfig{RatePerSecond: 20, OnSharedError: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, err)
	}}
	ps := sharedPacers(clk, b, 2, cfg) // fallback share 5
	sends := reserveMany(t, clk, ps, 4, 40)
	all, most := perWindow(sends, time.Second)
	if most != 5 {
		t.Errorf("one instance sent up to %d in a window, want its fallback share, 5", most)
	}
	if len(all) != 8 {
		t.Errorf("%d windows used, want 8 (40 sends, 5 per window)", len(all))
	}
	if b.calls() != 2 {
		t.Errorf("%d Takes, want one per instance until sharedRetryAfter passes", b.calls())
	}
	mu.Lock()
	if len(reported) != 2 || !errors.Is(reported[0], b.fail) {
		t.Errorf("reported %v, want the failure once per instance", reported)
	}
	mu.Unlock()
	// After sharedRetryAfter the pacer asks again, and uses the ledger once it works.
	clk.Advance(sharedRetryAfter + 10*time.Second)
	b.setFail(nil)
	calls := b.calls()
	if d := ps[0].Reserve("+49new"); d != 0 {
		t.Errorf("after recovery: wait %v, want 0", d)
	}
	if b.calls() != calls+1 {
		t.Errorf("after recovery: %d Takes, want 1", b.calls()-calls)
	}
}

// A Take that hangs is given up after the pacer's timeout (the send then goes on the
// fallback share); a caller whose context ends while waiting gets its error; and Delay and
// the Reserves that have places go on meanwhile, as the pacer's lock is not held.
func TestSharedPacerSlowLedger(t *testing.T) {
	clk := newFakeClock()
	b := newFakeBooker()
	b.block, b.in = make(chan struct{}), make(chan struct{}, 10)
	var reported int
	var mu sync.Mutex
	p := sharedPacers(clk, b, 1, PacerConfig{RatePerSecond: 20, OnSharedError: func(error) {
		mu.Lock()
		reported++
		mu.Unlock()
	}})[0]
	p.phone.add(clk.Now().Unix()+3, 1, false) // one place held in a later window
	p.timeout = time.Hour                     // only the caller's context ends the Take

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.ReserveContext(ctx, "+491")
		done <- err
	}()
	<-b.in // the Take is in flight
	if d := p.Delay("+492"); d != 0 {
		t.Errorf("Delay during a Take = %v, want 0", d)
	}
	p.BackOff("+493", 3*time.Second)
	if d := p.Reserve("+493"); d != 3*time.Second {
		t.Errorf("Reserve in a window with a place held, during a Take = %v, want 3s", d)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("ReserveContext with its context cancelled: err = %v", err)
	}
	mu.Lock()
	if reported != 0 {
		t.Errorf("the caller's cancellation was reported as a ledger failure")
	}
	mu.Unlock()

	p.timeout = time.Millisecond
	if d := p.Reserve("+494"); d != 0 {
		t.Errorf("Reserve after a Take timed out = %v, want 0 (fallback share)", d)
	}
	mu.Lock()
	if reported != 1 {
		t.Errorf("%d failures reported, want 1 (the timeout)", reported)
	}
	mu.Unlock()
}

// Reserves blocked behind a Take give up when their context ends.
func TestSharedPacerWaitingForTurnCancelled(t *testing.T) {
	clk := newFakeClock()
	b := newFakeBooker()
	b.block, b.in = make(chan struct{}), make(chan struct{}, 10)
	p := sharedPacers(clk, b, 1, PacerConfig{RatePerSecond: 20})[0]
	p.timeout = time.Hour
	first, stop := context.WithCancel(context.Background())
	defer stop()
	go p.ReserveContext(first, "+491")
	<-b.in
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(ctx, "+492"); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait behind a Take with a cancelled context: err = %v", err)
	}
}
