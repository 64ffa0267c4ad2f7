package events

import (
	"time"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// Schedule is when a failed event is tried again: whatsapp.Backoff (gtc's one backoff
// function) from Base doubling up to Max, for at most GiveUpAfter after the first try.
type Schedule struct {
	Base, Max   time.Duration
	GiveUpAfter time.Duration
	// Rand, when set, returns a number in [0,1) and spreads each wait over [d/2, d]
	// ("equal jitter"), so receivers coming back are not hit by every contact at once.
	// Nil waits the full d, which is what NextAttempt does.
	Rand func() float64
}

// DefaultSchedule is NextAttempt's: 30 s, 1 m, 2 m, … 32 m, then every hour, for a day.
var DefaultSchedule = Schedule{Base: 30 * time.Second, Max: time.Hour, GiveUpAfter: 24 * time.Hour}

// NextAttempt says when to try an event again after attempt (1-based) attempts failed,
// the first at firstTry (pass the outbox row's creation time, so an event held behind an
// earlier one of its contact does not get a day of its own), now being the time of the
// failed attempt. It returns false when the event is given up: a day after firstTry. The
// last try is made at firstTry + 24 h exactly.
func NextAttempt(attempt int, firstTry, now time.Time) (time.Time, bool) {
	return DefaultSchedule.Next(attempt, firstTry, now)
}

// Next is NextAttempt for this schedule.
func (s Schedule) Next(attempt int, firstTry, now time.Time) (time.Time, bool) {
	deadline := firstTry.Add(s.GiveUpAfter)
	if !now.Before(deadline) {
		return time.Time{}, false
	}
	var d time.Duration
	if s.Rand == nil {
		d = whatsapp.Backoff(attempt, s.Base, s.Max, nil)
	} else {
		half := whatsapp.Backoff(attempt, s.Base/2, s.Max/2, nil)
		d = half + whatsapp.Backoff(attempt, s.Base/2, s.Max/2, s.Rand)
	}
	next := now.Add(d)
	if next.After(deadline) {
		next = deadline
	}
	return next, true
}
