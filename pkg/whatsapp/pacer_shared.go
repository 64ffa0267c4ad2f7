package whatsapp

// Pacing shared by several instances: the ledger interface and the refill that asks it.

import (
	"context"
	"fmt"
	"time"
)

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
