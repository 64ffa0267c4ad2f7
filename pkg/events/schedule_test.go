package events

import (
	"testing"
	"time"
)

func TestNextAttempt(t *testing.T) {
	first := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		attempt int
		now     time.Duration // since first
		want    time.Duration // since first; -1: give up
	}{
		{"after the first failure", 1, 0, 30 * time.Second},
		{"second", 2, 30 * time.Second, 90 * time.Second},
		{"third", 3, 90 * time.Second, 90*time.Second + 2*time.Minute},
		{"capped at an hour", 9, 3 * time.Hour, 4 * time.Hour},
		{"huge attempt numbers stay capped", 1000, 5 * time.Hour, 6 * time.Hour},
		{"attempt 0 is treated as 1", 0, 0, 30 * time.Second},
		{"the last try is at the deadline", 30, 23*time.Hour + 30*time.Minute, 24 * time.Hour},
		{"given up at the deadline", 31, 24 * time.Hour, -1},
		{"given up after it", 31, 25 * time.Hour, -1},
		{"an event held for a day is given up after one try", 1, 24*time.Hour + time.Minute, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, ok := NextAttempt(tt.attempt, first, first.Add(tt.now))
			if tt.want < 0 {
				if ok {
					t.Fatalf("NextAttempt = %v, true; want give up", next)
				}
				return
			}
			if !ok || !next.Equal(first.Add(tt.want)) {
				t.Fatalf("NextAttempt = %v, %v; want %v, true", next.Sub(first), ok, tt.want)
			}
		})
	}
}

// TestGiveUpAfterADay runs the schedule against a receiver that never answers 2xx: the
// event is tried about 30 times and given up a day after its first try.
func TestGiveUpAfterADay(t *testing.T) {
	first := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	now, attempts := first, 0
	var last time.Time
	for {
		attempts++
		last = now
		next, ok := NextAttempt(attempts, first, now)
		if !ok {
			break
		}
		if !next.After(now) {
			t.Fatalf("attempt %d: next %v is not after now %v", attempts, next, now)
		}
		now = next
		if attempts > 100 {
			t.Fatal("never gave up")
		}
	}
	if !last.Equal(first.Add(24 * time.Hour)) {
		t.Errorf("last try at +%v, want +24h", last.Sub(first))
	}
	if attempts < 25 || attempts > 35 {
		t.Errorf("%d attempts in a day, want about 30", attempts)
	}
}

func TestScheduleJitter(t *testing.T) {
	first := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for _, r := range []float64{0, 0.5, 0.999} {
		s := DefaultSchedule
		s.Rand = func() float64 { return r }
		for attempt := 1; attempt <= 10; attempt++ {
			full, _ := DefaultSchedule.Next(attempt, first, first)
			got, ok := s.Next(attempt, first, first)
			if !ok || got.Before(first.Add(full.Sub(first)/2)) || got.After(full) {
				t.Errorf("rand %v attempt %d: %v, want within [%v, %v]", r, attempt, got.Sub(first), full.Sub(first)/2, full.Sub(first))
			}
		}
	}
}
