package whatsapp

// The one retry schedule of gtc: the CLI client's SendWithRetry and the server's send jobs
// both ask RetryDelay how long to wait before the next attempt.

import (
	"math"
	"time"
)

// RetryDelay is the wait before retry number attempt (1-based) of a send that failed with
// the Graph error code (0 when there is none, e.g. a 5xx or a timeout): exponential backoff
// from base, capped at limit, with full jitter from rnd (Backoff); after 131056, the pair
// rate limit, at least PairRateBackoff(attempt), and the caller should hold back that
// recipient only (Pacer.BackOff) rather than the whole number. rnd returns a number in
// [0,1); nil means no jitter (the ceiling itself), for callers that add their own.
func RetryDelay(attempt, code int, base, limit time.Duration, rnd func() float64) time.Duration {
	d := Backoff(attempt, base, limit, rnd)
	if code == CodePairRate {
		d = max(d, PairRateBackoff(attempt))
	}
	return d
}

// Backoff is the wait before retry number attempt (1-based) with full jitter: a random
// duration in [0, min(limit, base·2^(attempt-1))]. rnd returns a number in [0,1); nil means
// no jitter (the ceiling).
func Backoff(attempt int, base, limit time.Duration, rnd func() float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	ceil := float64(base) * math.Pow(2, float64(attempt-1))
	if ceil > float64(limit) || math.IsInf(ceil, 0) {
		ceil = float64(limit)
	}
	if rnd == nil {
		return time.Duration(ceil)
	}
	return time.Duration(rnd() * ceil)
}

// PairRateBackoff is the wait after the n-th (1-based) 131056 for one recipient: 4^n s,
// at most 4^6 s (beyond that a sender's total-time or attempt bound ends the retries).
func PairRateBackoff(n int) time.Duration {
	n = min(max(n, 1), 6)
	return time.Duration(math.Pow(4, float64(n))) * time.Second
}
