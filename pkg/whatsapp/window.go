package whatsapp

// The phone number's throughput ledger: sends booked per window of time.

import (
	"maps"
	"time"
)

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
		maps.DeleteFunc(w.slots, func(k int64, _ *slots) bool { return k < cur })
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
