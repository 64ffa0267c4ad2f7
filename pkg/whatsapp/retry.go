package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// RetryPolicy bounds SendWithRetry. Zero values take the defaults.
type RetryPolicy struct {
	// MaxAttempts is the most sends of one message (default 5).
	MaxAttempts int
	// MaxElapsed is the most time spent retrying (default 2 min): a retry whose wait would
	// end later is not made.
	MaxElapsed time.Duration
	// BaseDelay and MaxDelay shape the exponential backoff (defaults 1 s and 30 s).
	BaseDelay, MaxDelay time.Duration
	// RetryOnRateLimit retries rate-limited sends (4, 80007, 130429, 131056); otherwise
	// they fail at once.
	RetryOnRateLimit bool
	// Rand returns a number in [0,1) for the jitter (default math/rand/v2).
	Rand func() float64
	// OnRetry, when set, is told about each retry before its wait.
	OnRetry func(attempt int, err error, wait time.Duration)
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = 2 * time.Minute
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 30 * time.Second
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	return p
}

// RetryError is the last error of SendWithRetry with how many attempts were made.
type RetryError struct {
	Attempts int
	Err      error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("%v (gave up after %d attempts)", e.Err, e.Attempts)
}

func (e *RetryError) Unwrap() error { return e.Err }

// SendWithRetry sends m, retrying transient errors (and rate limits when the policy says
// RetryOnRateLimit) with exponential backoff and full jitter, bounded by MaxAttempts and
// MaxElapsed. 131056 (pair rate) backs off 4^n s for that recipient only, through the pacer.
// Every other class fails at once, and so does an unclear outcome (Unclear: the request may
// have been carried out). Waiting uses the client's Clock.
func (c *Client) SendWithRetry(ctx context.Context, m *Message, pol RetryPolicy) (*SendResult, error) {
	pol = pol.withDefaults()
	clock := c.cfg.Clock
	start := clock.Now()
	pairHits := 0
	for attempt := 1; ; attempt++ {
		res, err := c.Send(ctx, m)
		if err == nil {
			return res, nil
		}
		class := ClassOf(err)
		// An unclear outcome (the request went out, no Graph answer says what became of
		// it) is not sent again: Graph has no idempotency key, so the customer could get
		// it twice. The caller says so and leaves the decision to its user.
		if !class.Retryable(pol.RetryOnRateLimit) || Unclear(err) || ctx.Err() != nil {
			return nil, err
		}
		if attempt >= pol.MaxAttempts {
			return nil, &RetryError{Attempts: attempt, Err: err}
		}
		code, n := CodeOf(err), attempt
		if code == CodePairRate {
			pairHits++
			n = pairHits // the pair rate counts this recipient's 131056s only
		}
		wait := RetryDelay(n, code, pol.BaseDelay, pol.MaxDelay, pol.Rand)
		if code == CodePairRate && c.cfg.Pacer != nil {
			c.cfg.Pacer.BackOff(m.RecipientKey(), wait)
			wait = 0 // Send waits for the recipient's bucket
		}
		if clock.Now().Add(wait).Sub(start) > pol.MaxElapsed ||
			(c.cfg.Pacer != nil && clock.Now().Add(c.cfg.Pacer.Delay(m.RecipientKey())).Sub(start) > pol.MaxElapsed) {
			return nil, &RetryError{Attempts: attempt, Err: err}
		}
		if pol.OnRetry != nil {
			pol.OnRetry(attempt, err, wait)
		}
		if serr := clock.Sleep(ctx, wait); serr != nil {
			return nil, errors.Join(serr, &RetryError{Attempts: attempt, Err: err})
		}
	}
}
