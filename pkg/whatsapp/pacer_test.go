package whatsapp

import (
	"context"
	"testing"
	"time"
)

func TestPacerPhoneRate(t *testing.T) {
	clk := newFakeClock() // on a whole second
	p := NewPacer(PacerConfig{RatePerSecond: 3, RecipientBurst: 1000, Clock: clk})
	// Different recipients: only the number's limit applies, 3 per second.
	want := []time.Duration{0, 0, 0, time.Second, time.Second, time.Second, 2 * time.Second}
	for i, w := range want {
		if got := p.Reserve(string(rune('a' + i))); got != w {
			t.Errorf("send %d: wait %v, want %v", i, got, w)
		}
	}
	clk.Advance(10 * time.Second)
	if got := p.Reserve("z"); got != 0 {
		t.Errorf("after the window passed: wait %v, want 0", got)
	}
	if n := len(p.phone.slots); n != 1 {
		t.Errorf("%d windows kept, want only the current one", n)
	}
}

func TestPacerSlowRate(t *testing.T) {
	clk := newFakeClock()
	p := NewPacer(PacerConfig{RatePerSecond: 0.5, RecipientBurst: 1000, Clock: clk})
	if a, b := p.Reserve("a"), p.Reserve("b"); a != 0 || b != 2*time.Second {
		t.Errorf("waits %v, %v, want 0, 2s", a, b)
	}
}

func TestPacerRecipient(t *testing.T) {
	clk := newFakeClock()
	p := NewPacer(PacerConfig{RatePerSecond: 1000, RecipientInterval: 6 * time.Second, RecipientBurst: 3, Clock: clk})
	tests := []struct {
		to   string
		want time.Duration
	}{
		{"+491", 0}, {"+491", 0}, {"+491", 0},
		{"+491", 6 * time.Second},
		{"+491", 12 * time.Second},
		{"+492", 0}, // another user is not held back
	}
	for i, tt := range tests {
		if d := p.Delay(tt.to); d != tt.want {
			t.Errorf("send %d: Delay %v, want %v", i, d, tt.want)
		}
		if got := p.Reserve(tt.to); got != tt.want {
			t.Errorf("send %d to %s: wait %v, want %v", i, tt.to, got, tt.want)
		}
	}
}

func TestPacerBackOffOnlyThatRecipient(t *testing.T) {
	clk := newFakeClock()
	p := NewPacer(PacerConfig{Clock: clk})
	p.BackOff("+491", 16*time.Second)
	if got := p.Reserve("+491"); got != 16*time.Second {
		t.Errorf("backed-off recipient waits %v, want 16s", got)
	}
	if got := p.Reserve("+492"); got != 0 {
		t.Errorf("other recipient waits %v, want 0", got)
	}
}

func TestPacerWaitUsesClock(t *testing.T) {
	clk := newFakeClock()
	p := NewPacer(PacerConfig{RatePerSecond: 1, Clock: clk})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := p.Wait(ctx, "+491"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	got := clk.Sleeps()
	if len(got) != 2 || got[0] != time.Second || got[1] != time.Second {
		t.Errorf("sleeps = %v, want [1s 1s]", got)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.Wait(cancelled, "+4999"); err == nil {
		t.Error("Wait with a cancelled context returned nil")
	}
}

func TestPacerForgetsIdleRecipients(t *testing.T) {
	clk := newFakeClock()
	p := NewPacer(PacerConfig{RecipientInterval: time.Millisecond, RecipientBurst: 1, Clock: clk})
	for i := 0; i < maxIdleRecipients; i++ {
		p.Reserve(string(rune(i + 0x1000)))
	}
	clk.Advance(time.Hour)
	p.Reserve("new")
	if n := len(p.recipients); n != 1 {
		t.Errorf("%d recipient buckets kept, want 1", n)
	}
}

// Sends booked far ahead: each Reserve starts at the first window with room (the floor)
// instead of stepping over every full one again.
func TestPacerBooksFarAhead(t *testing.T) {
	for _, shared := range []bool{false, true} {
		clk := newFakeClock()
		cfg := PacerConfig{RatePerSecond: 2, RecipientBurst: 1000, Clock: clk}
		if shared {
			cfg.Shared, cfg.SharedKey = newFakeBooker(), "pn1"
		}
		p := NewPacer(cfg)
		const n = 3000
		var last time.Duration
		for i := 0; i < n; i++ {
			last = p.Reserve(string(rune(0x1000 + i)))
		}
		if want := (n/2 - 1) * time.Second; last != want {
			t.Errorf("shared %v: send %d waits %v, want %v", shared, n, last, want)
		}
		if p.phone.steps > 3*n {
			t.Errorf("shared %v: %d windows looked at for %d sends, want at most %d", shared, p.phone.steps, n, 3*n)
		}
		if want := p.phone.index(clk.Now()) + n/2 - 1; p.phone.floor != want {
			t.Errorf("shared %v: floor at window %d, want %d (the last one, which has room left)", shared, p.phone.floor, want)
		}
		// The last window is full: alone, the pacer knows; shared, it has not asked the
		// ledger for a third place there yet, so Delay counts it as having room.
		want := last + time.Second
		if shared {
			want = last
		}
		if d := p.Delay("another"); d != want {
			t.Errorf("shared %v: Delay %v, want %v", shared, d, want)
		}
	}
}

// When most recipient buckets are in use, the pacer sweeps them only once as many more are
// added, not on each new recipient.
func TestPacerSweepsRecipientsSeldom(t *testing.T) {
	clk := newFakeClock()
	p := NewPacer(PacerConfig{RatePerSecond: 1e6, RecipientInterval: time.Hour, RecipientBurst: 1, Clock: clk})
	for i := 0; i <= maxIdleRecipients; i++ {
		p.Reserve(string(rune(i + 0x1000)))
	}
	if p.sweepAt != 2*maxIdleRecipients {
		t.Fatalf("after a sweep that dropped nothing, next sweep at %d buckets, want %d", p.sweepAt, 2*maxIdleRecipients)
	}
	for i := maxIdleRecipients + 1; i < 2*maxIdleRecipients; i++ {
		p.Reserve(string(rune(i + 0x1000)))
	}
	if n := len(p.recipients); n != 2*maxIdleRecipients {
		t.Errorf("%d buckets, want %d (all in use)", n, 2*maxIdleRecipients)
	}
	clk.Advance(2 * time.Hour)
	p.Reserve("new")
	if n := len(p.recipients); n != 1 || p.sweepAt != 0 {
		t.Errorf("after they all recovered: %d buckets, next sweep at %d, want 1 and 0 (then maxIdleRecipients rules)", n, p.sweepAt)
	}
}
