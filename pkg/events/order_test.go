package events

import (
	"reflect"
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	p := func(seq int64, contact string, at time.Time) Pending {
		return Pending{Seq: seq, Tenant: "acme", Team: "support", Contact: contact, NextAt: at}
	}
	tests := []struct {
		name    string
		pending []Pending
		want    []int64
	}{
		{"nothing", nil, nil},
		{"one due", []Pending{p(1, "a", past)}, []int64{1}},
		{"due exactly now", []Pending{p(1, "a", now)}, []int64{1}},
		{"one not due yet", []Pending{p(1, "a", future)}, nil},
		{"only the head of a contact", []Pending{p(1, "a", past), p(2, "a", past), p(3, "a", past)}, []int64{1}},
		{"a retrying head holds later events", []Pending{p(1, "a", future), p(2, "a", past)}, nil},
		{"input order does not matter", []Pending{p(3, "a", past), p(2, "a", past)}, []int64{2}},
		{"contacts are independent", []Pending{p(1, "a", future), p(2, "b", past), p(3, "a", past), p(4, "c", past), p(5, "b", past)}, []int64{2, 4}},
		{"result in seq order", []Pending{p(9, "c", past), p(4, "b", past), p(7, "a", past)}, []int64{4, 7, 9}},
		{"same contact key in another team is another stream", []Pending{p(1, "a", future),
			{Seq: 2, Tenant: "acme", Team: "sales", Contact: "a", NextAt: past}}, []int64{2}},
		{"same contact key in another tenant is another stream", []Pending{p(1, "a", future),
			{Seq: 2, Tenant: "globex", Team: "support", Contact: "a", NextAt: past}}, []int64{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			for _, h := range Next(tt.pending, now) {
				got = append(got, h.Seq)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Next = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNextDeliversInOrder drains an outbox with Next while the first delivery of every
// event fails once: each contact's events still go out in seq order.
func TestNextDeliversInOrder(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var pending []Pending
	for i, c := range []string{"a", "b", "a", "c", "b", "a", "a", "c"} {
		pending = append(pending, Pending{Seq: int64(i + 1), Tenant: "t", Team: "x", Contact: c, NextAt: now})
	}
	failed := map[int64]bool{}
	delivered := map[string][]int64{}
	for round := 0; len(pending) > 0; round++ {
		if round > 100 {
			t.Fatal("outbox never drained")
		}
		for _, h := range Next(pending, now) {
			i := indexOf(pending, h.Seq)
			if !failed[h.Seq] { // the first try fails
				failed[h.Seq] = true
				next, _ := NextAttempt(1, now, now)
				pending[i].NextAt = next
				continue
			}
			delivered[h.Contact] = append(delivered[h.Contact], h.Seq)
			pending = append(pending[:i], pending[i+1:]...)
		}
		now = now.Add(30 * time.Second)
	}
	want := map[string][]int64{"a": {1, 3, 6, 7}, "b": {2, 5}, "c": {4, 8}}
	if !reflect.DeepEqual(delivered, want) {
		t.Errorf("delivered %v, want %v", delivered, want)
	}
}

func indexOf(ps []Pending, seq int64) int {
	for i, p := range ps {
		if p.Seq == seq {
			return i
		}
	}
	return -1
}
