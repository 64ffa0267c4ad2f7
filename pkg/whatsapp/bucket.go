package whatsapp

// The pair rate: a token bucket per recipient, and its 131056 back-off.

import "time"

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
