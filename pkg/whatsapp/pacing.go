package whatsapp

import (
	"context"
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
}

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
type window struct {
	size     time.Duration
	capacity int
	counts   map[int64]int
}

func newWindow(ratePerSecond float64) *window {
	size := time.Second
	if per := time.Duration(float64(time.Second) / ratePerSecond); per > size {
		size = per
	}
	capacity := int(ratePerSecond*size.Seconds() + 0.5)
	if capacity < 1 {
		capacity = 1
	}
	return &window{size: size, capacity: capacity, counts: map[int64]int{}}
}

// book returns the first time at or after t with room, and books it.
func (w *window) book(t time.Time, now time.Time) time.Time {
	cur := now.UnixNano() / int64(w.size)
	for k := range w.counts {
		if k < cur {
			delete(w.counts, k)
		}
	}
	k := t.UnixNano() / int64(w.size)
	for w.counts[k] >= w.capacity {
		k++
	}
	w.counts[k]++
	if start := time.Unix(0, k*int64(w.size)); start.After(t) {
		return start
	}
	return t
}

// earliest is book without booking.
func (w *window) earliest(t time.Time) time.Time {
	k := t.UnixNano() / int64(w.size)
	for w.counts[k] >= w.capacity {
		k++
	}
	if start := time.Unix(0, k*int64(w.size)); start.After(t) {
		return start
	}
	return t
}

// Pacer keeps gtc under the Cloud API's throughput (per phone number) and pair rate (per
// recipient) limits: a ledger of sends per second for the number and a token bucket per
// recipient. Reserve tells how long a send must wait, so a server can schedule a job for
// later instead of sleeping; Wait blocks, for the CLI. A Pacer is safe for concurrent use.
type Pacer struct {
	mu         sync.Mutex
	clock      Clock
	phone      *window
	recipients map[string]*bucket
	rInterval  time.Duration
	rBurst     int
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
	return &Pacer{
		clock:      cfg.Clock,
		phone:      newWindow(cfg.RatePerSecond),
		recipients: map[string]*bucket{},
		rInterval:  cfg.RecipientInterval,
		rBurst:     cfg.RecipientBurst,
	}
}

func (p *Pacer) recipient(to string) *bucket {
	b, ok := p.recipients[to]
	if !ok {
		if len(p.recipients) >= maxIdleRecipients {
			now := p.clock.Now()
			for k, v := range p.recipients {
				if v.full(now) {
					delete(p.recipients, k)
				}
			}
		}
		b = newBucket(p.rInterval, p.rBurst)
		p.recipients[to] = b
	}
	return b
}

// Delay reports how long a send to recipient would have to wait now, without reserving it.
func (p *Pacer) Delay(recipient string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	return p.phone.earliest(p.recipient(recipient).earliest(now)).Sub(now)
}

// Reserve books the next send to recipient and returns how long the caller must wait before
// making it (0: send now). The booking is kept, so the caller must send after that delay
// (the server schedules its job at now+delay).
func (p *Pacer) Reserve(recipient string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	rb := p.recipient(recipient)
	s := p.phone.book(rb.earliest(now), now)
	rb.take(s)
	return s.Sub(now)
}

// Wait reserves a send to recipient and sleeps until it may be made.
func (p *Pacer) Wait(ctx context.Context, recipient string) error {
	d := p.Reserve(recipient)
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
