package events

import (
	"slices"
	"time"
)

// Pending is an outbox row not yet delivered nor given up: what the delivery job needs to
// keep each contact's events in order.
type Pending struct {
	// Seq is the outbox row id: the order events were made in.
	Seq                   int64
	Tenant, Team, Contact string
	// NextAt is when the row may be tried (its creation, then NextAttempt's answer, or a
	// claim's lease).
	NextAt time.Time
}

// Stream names the queue a row belongs to: one per tenant, team and contact.
func (p Pending) Stream() string { return p.Tenant + "\x00" + p.Team + "\x00" + p.Contact }

// Next picks the rows to deliver now: for each contact (tenant, team and contact key), its
// oldest pending row (lowest Seq), if it is due (NextAt ≤ now). A contact's later rows wait
// while an earlier one is retrying, so a receiver sees every contact's events in order.
// The result is ordered by Seq; pending may be in any order.
func Next(pending []Pending, now time.Time) []Pending {
	heads := map[string]Pending{}
	for _, p := range pending {
		if h, ok := heads[p.Stream()]; !ok || p.Seq < h.Seq {
			heads[p.Stream()] = p
		}
	}
	var due []Pending
	for _, h := range heads {
		if !h.NextAt.After(now) {
			due = append(due, h)
		}
	}
	slices.SortFunc(due, func(a, b Pending) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return due
}
