package whatsapp

import (
	"context"
	"maps"
	"sync"
	"time"
)

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
			maps.DeleteFunc(p.recipients, func(_ string, b *bucket) bool { return b.full(now) })
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
