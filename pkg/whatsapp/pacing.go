package whatsapp

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Clock is the time source of the client, the pacer and retries; tests use a fake one so
// nothing sleeps for real.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits d or until ctx is done.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Pacing defaults (cloud-api.md, "Limits").
const (
	// DefaultRecipientInterval is the pair rate: about one message per 6 s to one user.
	DefaultRecipientInterval = 6 * time.Second
	// DefaultRecipientBurst is how many messages one user may get back to back before the
	// pair rate applies (Meta allows bursts of up to 45; gtc stays well below).
	DefaultRecipientBurst = 10
	// maxIdleRecipients is how many recipient buckets the pacer keeps before it drops the
	// ones that are full again.
	maxIdleRecipients = 10000
)

// PacerConfig configures a Pacer. Zero values take the defaults.
type PacerConfig struct {
	// RatePerSecond is the throughput of the phone number (default 80).
	RatePerSecond float64
	// RecipientInterval is the steady gap between messages to one user (default 6 s).
	RecipientInterval time.Duration
	// RecipientBurst is how many messages one user may get back to back (default 10).
	RecipientBurst int
	Clock          Clock

	// Shared, when set, is the ledger the number's throughput is booked in, shared by all
	// the instances sending for the number (the store on PostgreSQL), so several `gtc serve`
	// send at RatePerSecond in all, not each. All of them must use the same RatePerSecond
	// and run on synchronized clocks (windows are identified by their start). The pair
	// rate stays local: a contact is served by one instance at a time, the one holding its
	// lease, so its bucket needs no sharing. Nil paces this process alone.
	Shared SlotBooker
	// SharedKey names the number in Shared: its phone number id.
	SharedKey string
	// Block is the most sends booked in Shared per round trip (default capacity/8, at least
	// 1, where capacity is the sends allowed per window: 10 at 80/s). Asks are sized by use:
	// the most of the places this instance had in the window so far, in the window it
	// filled last, and the Reserves waiting, capped at Block; so a quiet instance asks for
	// one at a time and does not hold places others could use. What an instance holds and
	// does not use is lost when the window passes (under-use, never over-use).
	Block int
	// FallbackShare is how many sends per window this instance allows itself while Shared
	// fails (default capacity/4, at least 1: the number's rate in all for up to 4
	// instances that all fail at once; with more instances, set capacity/instances).
	FallbackShare int
	// OnSharedError is told of each failed Take (a Take times out after 2 s), e.g. to log
	// it; after a failure the pacer does not ask again for 5 s, so that is at most one call
	// per 5 s. It is called without the pacer's lock held. Nil ignores them.
	OnSharedError func(error)
}

// SlotBooker books sends of a phone number in a shared ledger (the store on PostgreSQL).
type SlotBooker interface {
	// Take books up to n sends of key in the window starting at start (size long, at most
	// capacity sends in all instances) and returns how many it got, 0..n.
	Take(ctx context.Context, key string, start time.Time, size time.Duration, capacity, n int) (int, error)
}

// Shared ledger timing: how long one Take may take before the pacer gives up on it, and how
// long after a failed Take the pacer uses its FallbackShare without asking again.
const (
	sharedTimeout    = 2 * time.Second
	sharedRetryAfter = 5 * time.Second
)

// bucket is a token bucket in GCRA form: tat is the theoretical arrival time of the next
// send; a send at s conforms when s >= tat - tolerance.
type bucket struct {
	interval  time.Duration
	tolerance time.Duration
	tat       time.Time
	notBefore time.Time // 131056 back-off for a recipient
}

func newBucket(interval time.Duration, burst int) *bucket {
	if burst < 1 {
		burst = 1
	}
	return &bucket{interval: interval, tolerance: time.Duration(burst-1) * interval}
}

// earliest is the first time at or after t when a send conforms.
func (b *bucket) earliest(t time.Time) time.Time {
	if e := b.tat.Add(-b.tolerance); e.After(t) {
		t = e
	}
	if b.notBefore.After(t) {
		t = b.notBefore
	}
	return t
}

// take records a send at s (s >= earliest).
func (b *bucket) take(s time.Time) {
	if b.tat.Before(s) {
		b.tat = s
	}
	b.tat = b.tat.Add(b.interval)
}

// full reports whether the bucket has recovered completely at now (it can be forgotten).
func (b *bucket) full(now time.Time) bool {
	return !b.tat.After(now) && !b.notBefore.After(now)
}

// window is the number's throughput ledger: at most capacity sends in each window of length
// size. Unlike a single token bucket it can book sends in the future (a job scheduled 12 s
// ahead for a paced recipient) without holding back sends to everyone else now.
//
// Each window this instance has seen has its slots: the sends it may still book there.
// Alone, a window starts with the whole capacity. Shared, it starts empty and is filled
// from the shared ledger a block at a time (Pacer.refill); a window is known full once the
// ledger gave less than asked (or this instance's fallback share is used up).
type window struct {
	size     time.Duration
	capacity int
	shared   bool
	slots    map[int64]*slots
	// floor is the first window not known full at or after the current one: find starts
	// there rather than step over every full window again (sends booked far ahead would
	// make each Reserve slower with each window filled). Windows only ever fill up, so
	// it only moves forward.
	floor int64
	// pruned is the current window when the past ones were last dropped.
	pruned int64
	steps  int // windows looked at by find, for tests
}

// slots is this instance's part of one window.
type slots struct {
	left  int  // sends this instance may still book in the window
	got   int  // places had in all (sizes the next ask)
	final bool // nothing more to get: with left 0 the window is full
}

func newWindow(ratePerSecond float64, shared bool) *window {
	size := time.Second
	if per := time.Duration(float64(time.Second) / ratePerSecond); per > size {
		size = per
	}
	capacity := int(ratePerSecond*size.Seconds() + 0.5)
	if capacity < 1 {
		capacity = 1
	}
	return &window{size: size, capacity: capacity, shared: shared, slots: map[int64]*slots{}}
}

func (w *window) index(t time.Time) int64 { return t.UnixNano() / int64(w.size) }

func (w *window) start(k int64) time.Time { return time.Unix(0, k*int64(w.size)) }

// find returns the first window at or after t's that is not known to be full, and whether
// this instance may book in it now (false: shared, and it must ask the ledger first). now
// is the current time (t is not before it).
func (w *window) find(t, now time.Time) (k int64, ready bool) {
	k = w.index(t)
	base := max(w.floor, w.index(now))
	fromBase := k <= base
	if fromBase {
		k = base
	}
	for ; ; k++ {
		w.steps++
		s := w.slots[k]
		if s != nil && s.left == 0 && s.final {
			continue
		}
		if fromBase {
			w.floor = k
		}
		if s == nil {
			return k, !w.shared
		}
		return k, s.left > 0
	}
}

// at is the time a send booked in window k at or after t goes.
func (w *window) at(k int64, t time.Time) time.Time {
	if start := w.start(k); start.After(t) {
		return start
	}
	return t
}

// book books the first time at or after t with room and returns it; when the first window
// not known full needs the shared ledger first, it books nothing and returns that window.
func (w *window) book(t time.Time, now time.Time) (at time.Time, k int64, ok bool) {
	if cur := w.index(now); cur != w.pruned {
		for k := range w.slots {
			if k < cur {
				delete(w.slots, k)
			}
		}
		w.pruned = cur
	}
	k, ok = w.find(t, now)
	if !ok {
		return time.Time{}, k, false
	}
	s := w.slots[k]
	if s == nil { // alone: a new window has the whole capacity
		s = &slots{left: w.capacity, got: w.capacity, final: true}
		w.slots[k] = s
	}
	s.left--
	return w.at(k, t), k, true
}

// earliest is book without booking. Shared, it answers from what this instance knows: a
// window it has not asked the ledger about yet counts as having room.
func (w *window) earliest(t, now time.Time) time.Time {
	k, _ := w.find(t, now)
	return w.at(k, t)
}

// add records that this instance got n places in window k; full says there is nothing
// more to get there (the ledger gave less than asked, or the fallback share is all).
func (w *window) add(k int64, n int, full bool) *slots {
	s := w.slots[k]
	if s == nil {
		s = &slots{}
		w.slots[k] = s
	}
	s.left += n
	s.got += n
	s.final = s.final || full
	return s
}

// Pacer keeps gtc under the Cloud API's throughput (per phone number) and pair rate (per
// recipient) limits: a ledger of sends per second for the number and a token bucket per
// recipient. Reserve tells how long a send must wait, so a server can schedule a job for
// later instead of sleeping; Wait blocks, for the CLI. A Pacer is safe for concurrent use.
//
// With PacerConfig.Shared, the number's ledger is shared by several instances: a Reserve
// that finds no room booked locally asks the shared ledger for a block of places in the
// window (one round trip for Block sends), without holding the pacer's lock meanwhile, so
// Delay and Reserves that have room go on; one ask is in flight at a time, and Reserves
// needing the same window wait for it rather than ask again. Delay never asks the ledger.
// When the ledger fails, sends are neither held back forever nor let through unbounded:
// the window in hand, and every window a Reserve needs in the next sharedRetryAfter, get
// FallbackShare places (less those already had there) without asking, and OnSharedError
// hears of it. A window given its fallback share keeps it (under-use if it lies after the
// failure). A caller whose context ends while it waits gets ctx.Err(); places the ledger
// granted to a Take abandoned that way are lost, never double counted.
type Pacer struct {
	mu         sync.Mutex
	clock      Clock
	phone      *window
	recipients map[string]*bucket
	sweepAt    int // recipient buckets kept before the full ones are dropped, beyond maxIdleRecipients
	rInterval  time.Duration
	rBurst     int

	shared   SlotBooker
	key      string
	block    int
	fallback int
	onErr    func(error)
	timeout  time.Duration // of one Take (sharedTimeout; tests shorten it)
	fill     chan struct{} // held by the one refill asking the ledger
	waiting  int           // Reserves waiting for a refill
	recent   int           // places had in the last window filled: the first ask of the next
	degraded time.Time     // until then, windows get the fallback share without asking
}

// NewPacer returns a Pacer for one phone number.
func NewPacer(cfg PacerConfig) *Pacer {
	if cfg.RatePerSecond <= 0 {
		cfg.RatePerSecond = DefaultRatePerSecond
	}
	if cfg.RecipientInterval <= 0 {
		cfg.RecipientInterval = DefaultRecipientInterval
	}
	if cfg.RecipientBurst <= 0 {
		cfg.RecipientBurst = DefaultRecipientBurst
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	phone := newWindow(cfg.RatePerSecond, cfg.Shared != nil)
	if cfg.Block <= 0 {
		cfg.Block = max(1, phone.capacity/8)
	}
	if cfg.FallbackShare <= 0 {
		cfg.FallbackShare = max(1, phone.capacity/4)
	}
	return &Pacer{
		clock:      cfg.Clock,
		phone:      phone,
		recipients: map[string]*bucket{},
		rInterval:  cfg.RecipientInterval,
		rBurst:     cfg.RecipientBurst,
		shared:     cfg.Shared,
		key:        cfg.SharedKey,
		block:      min(cfg.Block, phone.capacity),
		fallback:   min(cfg.FallbackShare, phone.capacity),
		onErr:      cfg.OnSharedError,
		timeout:    sharedTimeout,
		fill:       make(chan struct{}, 1),
	}
}

func (p *Pacer) recipient(to string) *bucket {
	b, ok := p.recipients[to]
	if !ok {
		if len(p.recipients) >= max(maxIdleRecipients, p.sweepAt) {
			now := p.clock.Now()
			for k, v := range p.recipients {
				if v.full(now) {
					delete(p.recipients, k)
				}
			}
			// When most buckets are still in use (many recipients paced at once), sweep
			// again only once as many more are added: each new recipient does not pay
			// for a walk over all of them.
			p.sweepAt = 2 * len(p.recipients)
		}
		b = newBucket(p.rInterval, p.rBurst)
		p.recipients[to] = b
	}
	return b
}

// Delay reports how long a send to recipient would have to wait now, without reserving it.
// With a shared ledger it answers from what this instance knows, without a round trip: a
// window not known full counts as having room, so Reserve may then book a later one.
func (p *Pacer) Delay(recipient string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	return p.phone.earliest(p.recipient(recipient).earliest(now), now).Sub(now)
}

// Reserve books the next send to recipient and returns how long the caller must wait before
// making it (0: send now). The booking is kept, so the caller must send after that delay
// (the server schedules its job at now+delay). With a shared ledger it may wait for one
// round trip to it (at most sharedTimeout); use ReserveContext to bound that wait.
func (p *Pacer) Reserve(recipient string) time.Duration {
	d, _ := p.ReserveContext(context.Background(), recipient)
	return d
}

// ReserveContext is Reserve with a context for the round trips to the shared ledger. It
// fails only when ctx is done before the send could be booked (ctx.Err()); the ledger's own
// failures are handled (see Pacer), not returned.
func (p *Pacer) ReserveContext(ctx context.Context, recipient string) (time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		now := p.clock.Now()
		rb := p.recipient(recipient)
		s, k, ok := p.phone.book(rb.earliest(now), now)
		if ok {
			rb.take(s)
			return s.Sub(now), nil
		}
		if err := p.refill(ctx, k); err != nil {
			return 0, err
		}
	}
}

// refill gets places in window k from the shared ledger (or, while it fails, from the
// fallback share). It is called and returns with p.mu held, and releases it while it
// waits for its turn and for the ledger. It returns nil when window k has changed (places
// or known full), or has passed, or another refill changed it: the caller looks again.
func (p *Pacer) refill(ctx context.Context, k int64) error {
	if p.clock.Now().Before(p.degraded) {
		p.phone.add(k, max(0, p.fallback-p.slotsGot(k)), true)
		return nil
	}
	p.waiting++
	p.mu.Unlock()
	select {
	case p.fill <- struct{}{}:
	case <-ctx.Done():
		p.mu.Lock()
		p.waiting--
		return ctx.Err()
	}
	p.mu.Lock()
	p.waiting--
	defer func() { <-p.fill }()
	now := p.clock.Now()
	if s := p.phone.slots[k]; s != nil && (s.left > 0 || s.final) || k < p.phone.index(now) {
		return nil // filled by the refill before, or past
	}
	if now.Before(p.degraded) {
		p.phone.add(k, max(0, p.fallback-p.slotsGot(k)), true)
		return nil
	}
	// Ask for what this window's use so far, the last window's and the Reserves waiting
	// suggest, at most a block.
	ask := min(p.block, max(1, p.waiting+1, p.slotsGot(k), p.recent))
	p.mu.Unlock()
	tctx, cancel := context.WithTimeout(ctx, p.timeout)
	got, err := p.shared.Take(tctx, p.key, p.phone.start(k), p.phone.size, p.phone.capacity, ask)
	cancel()
	if err != nil && ctx.Err() != nil {
		p.mu.Lock()
		return ctx.Err() // the caller gave up, the ledger did not fail
	}
	if err != nil && p.onErr != nil {
		p.onErr(fmt.Errorf("pacing %s: shared ledger failed, allowing %d sends per %v for %v: %w",
			p.key, p.fallback, p.phone.size, sharedRetryAfter, err))
	}
	p.mu.Lock()
	if err != nil {
		p.degraded = p.clock.Now().Add(sharedRetryAfter)
		p.phone.add(k, max(0, p.fallback-p.slotsGot(k)), true)
		return nil
	}
	got = min(max(got, 0), ask)
	p.recent = p.phone.add(k, got, got < ask).got
	return nil
}

// slotsGot is how many places this instance has had in window k.
func (p *Pacer) slotsGot(k int64) int {
	if s := p.phone.slots[k]; s != nil {
		return s.got
	}
	return 0
}

// Wait reserves a send to recipient and sleeps until it may be made.
func (p *Pacer) Wait(ctx context.Context, recipient string) error {
	d, err := p.ReserveContext(ctx, recipient)
	if err != nil {
		return err
	}
	if d <= 0 {
		return ctx.Err()
	}
	return p.clock.Sleep(ctx, d)
}

// BackOff keeps sends to recipient back until d from now (after 131056); other recipients
// are not affected.
func (p *Pacer) BackOff(recipient string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	until := p.clock.Now().Add(d)
	rb := p.recipient(recipient)
	if until.After(rb.notBefore) {
		rb.notBefore = until
	}
}
