package graphfake

import (
	"time"

	"golang.org/x/time/rate"
)

// Limits make the fake enforce Meta's throughput limits on sends, on its Clock. The zero
// value enforces nothing (inject 130429 / 131056 instead).
type Limits struct {
	// PerSecond is the phone number's throughput (Meta: 80 by default); over it a send gets
	// 130429. Burst is the bucket size (PerSecond when 0).
	PerSecond float64
	Burst     int
	// PairInterval is the pace allowed to one recipient (Meta: about one per 6 s), with
	// bursts up to PairBurst (Meta: 45; 1 when 0); over it a send gets 131056.
	PairInterval time.Duration
	PairBurst    int
}

type limiter struct {
	cfg   Limits
	phone *rate.Limiter
	pairs map[string]*rate.Limiter
}

func newLimiter(cfg Limits) *limiter {
	l := &limiter{cfg: cfg, pairs: map[string]*rate.Limiter{}}
	if cfg.PerSecond > 0 {
		burst := cfg.Burst
		if burst <= 0 {
			burst = max(1, int(cfg.PerSecond))
		}
		l.phone = rate.NewLimiter(rate.Limit(cfg.PerSecond), burst)
	}
	return l
}

// allow reports the fault for a send to `to` at now, if it is over a limit. The caller holds s.mu.
func (l *limiter) allow(to string, now time.Time) (Fault, bool) {
	if l.cfg.PairInterval > 0 {
		key := digits(to)
		p, ok := l.pairs[key]
		if !ok {
			p = rate.NewLimiter(rate.Every(l.cfg.PairInterval), max(1, l.cfg.PairBurst))
			l.pairs[key] = p
		}
		if !p.AllowN(now, 1) {
			return Fault{Code: 131056, Details: "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time."}, false
		}
	}
	if l.phone != nil && !l.phone.AllowN(now, 1) {
		return Fault{Code: 130429, Details: "Message failed to send because there were too many messages sent from this phone number in a short period of time."}, false
	}
	return Fault{}, true
}
