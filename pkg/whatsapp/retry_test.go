package whatsapp

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func errAnswer(code int) stubAnswer {
	status := 400
	if code == 0 {
		return stubAnswer{503, `upstream down`}
	}
	return stubAnswer{status, `{"error":{"message":"x","type":"OAuthException","code":` + itoa(code) + `,"fbtrace_id":"T"}}`}
}

// graph5xx is Graph's own answer that it failed (code 2, "service temporarily
// unavailable"): clear, nothing was sent.
func graph5xx() stubAnswer {
	return stubAnswer{503, `{"error":{"message":"Service temporarily unavailable","type":"OAuthException","code":2,"fbtrace_id":"T"}}`}
}

func itoa(n int) string {
	b := []byte{}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func half() float64 { return 0.5 }

func TestSendWithRetry(t *testing.T) {
	pol := RetryPolicy{MaxAttempts: 4, BaseDelay: time.Second, MaxDelay: 8 * time.Second, Rand: half}
	polRL := pol
	polRL.RetryOnRateLimit = true
	tests := []struct {
		name     string
		answers  []stubAnswer
		pol      RetryPolicy
		wantErr  ErrorClass
		attempts int
		sleeps   []time.Duration
	}{
		{"ok", nil, pol, ClassNone, 1, nil},
		{"Graph 5xx then ok", []stubAnswer{graph5xx(), graph5xx()}, pol, ClassNone, 3, []time.Duration{500 * time.Millisecond, time.Second}},
		// A 5xx without a Graph error body may have been carried out: sent again, the
		// customer could get it twice (Unclear).
		{"5xx without a Graph answer not retried", []stubAnswer{errAnswer(0)}, pol, ClassTransient, 1, nil},
		{"131000 transient then ok", []stubAnswer{errAnswer(131000)}, pol, ClassNone, 2, []time.Duration{500 * time.Millisecond}},
		{"130429 not retried without policy", []stubAnswer{errAnswer(130429)}, pol, ClassRateLimited, 1, nil},
		{"130429 retried with policy", []stubAnswer{errAnswer(130429)}, polRL, ClassNone, 2, []time.Duration{500 * time.Millisecond}},
		{"131047 never retried", []stubAnswer{errAnswer(131047)}, polRL, ClassWindowClosed, 1, nil},
		{"190 never retried", []stubAnswer{errAnswer(190)}, polRL, ClassAuth, 1, nil},
		{"131048 never retried", []stubAnswer{errAnswer(131048)}, polRL, ClassSpamLimit, 1, nil},
		{"attempts bounded", []stubAnswer{graph5xx(), graph5xx(), graph5xx(), graph5xx()}, pol, ClassTransient, 4,
			[]time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}},
		{"131056 backs off 4^n s", []stubAnswer{errAnswer(131056), errAnswer(131056)}, polRL, ClassNone, 3,
			[]time.Duration{4 * time.Second, 16 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraphStub(t, tt.answers...)
			clk := newFakeClock()
			c := g.client(clk)
			res, err := c.SendWithRetry(context.Background(), textMsg("+4915123456789", "hi"), tt.pol)
			if tt.wantErr == ClassNone {
				if err != nil || res.MessageID == "" {
					t.Fatalf("err = %v", err)
				}
			} else if ClassOf(err) != tt.wantErr {
				t.Fatalf("class = %s, want %s (%v)", ClassOf(err), tt.wantErr, err)
			}
			if n := len(g.requests()); n != tt.attempts {
				t.Errorf("%d attempts, want %d", n, tt.attempts)
			}
			if got := clk.Sleeps(); !slices.Equal(got, tt.sleeps) {
				t.Errorf("sleeps = %v, want %v", got, tt.sleeps)
			}
		})
	}
}

func TestSendWithRetryPairRateUsesPacer(t *testing.T) {
	g := newGraphStub(t, errAnswer(131056))
	clk := newFakeClock()
	c := NewClient(ClientConfig{BaseURL: g.srv.URL, PhoneNumberID: "1234", Token: testToken, Clock: clk,
		Pacer: NewPacer(PacerConfig{Clock: clk})})
	if _, err := c.SendWithRetry(context.Background(), textMsg("+4915123456789", "hi"), RetryPolicy{RetryOnRateLimit: true}); err != nil {
		t.Fatal(err)
	}
	// The 4 s back-off is the recipient's: the pacer sleeps it, another recipient is free.
	if got := clk.Sleeps(); !slices.Equal(got, []time.Duration{0, 4 * time.Second}) {
		t.Errorf("sleeps = %v", got)
	}
	if d := c.Pacer().Delay("+4915199999999"); d != 0 {
		t.Errorf("other recipient delayed %v", d)
	}
}

func TestSendWithRetryTotalTimeBound(t *testing.T) {
	answers := make([]stubAnswer, 2)
	for i := range answers {
		answers[i] = graph5xx()
	}
	g := newGraphStub(t, answers...)
	clk := newFakeClock()
	pol := RetryPolicy{MaxAttempts: 100, MaxElapsed: 5 * time.Second, BaseDelay: 2 * time.Second, MaxDelay: time.Minute, Rand: func() float64 { return 0.99 }}
	// Waits of 1.98 s then 3.96 s: the second would end after 5.94 s, past MaxElapsed.
	_, err := g.client(clk).SendWithRetry(context.Background(), textMsg("+4915123456789", "hi"), pol)
	var re *RetryError
	if !errors.As(err, &re) || re.Attempts != 2 || ClassOf(err) != ClassTransient {
		t.Fatalf("err = %v", err)
	}
}

func TestBackoffFullJitter(t *testing.T) {
	tests := []struct {
		attempt int
		rnd     float64
		want    time.Duration
	}{
		{1, 0.999999, 999999 * time.Microsecond},
		{1, 0, 0},
		{3, 0.5, 2 * time.Second},
		{10, 0.5, 15 * time.Second}, // capped at max 30 s
		{1000, 1, 30 * time.Second},
	}
	for _, tt := range tests {
		got := Backoff(tt.attempt, time.Second, 30*time.Second, func() float64 { return tt.rnd })
		if got != tt.want {
			t.Errorf("Backoff(%d, rnd %v) = %v, want %v", tt.attempt, tt.rnd, got, tt.want)
		}
	}
	if PairRateBackoff(1) != 4*time.Second || PairRateBackoff(2) != 16*time.Second || PairRateBackoff(3) != 64*time.Second {
		t.Error("PairRateBackoff is not 4^n s")
	}
}

// TestRetryDelay is the one schedule both senders use: the CLI client (jittered) and the
// server's send jobs (no jitter, a 5 min cap), with the pair rate's 4^n s after 131056.
func TestRetryDelay(t *testing.T) {
	tests := []struct {
		name          string
		attempt, code int
		limit         time.Duration
		rnd           func() float64
		want          time.Duration
	}{
		{"first retry, no jitter", 1, 0, 5 * time.Minute, nil, time.Second},
		{"doubles", 4, 131000, 5 * time.Minute, nil, 8 * time.Second},
		{"capped", 12, 0, 5 * time.Minute, nil, 5 * time.Minute},
		{"jitter", 3, 0, 30 * time.Second, half, 2 * time.Second},
		{"pair rate 4^n", 2, CodePairRate, 5 * time.Minute, nil, 16 * time.Second},
		{"pair rate beats jitter", 1, CodePairRate, 30 * time.Second, half, 4 * time.Second},
		{"pair rate beyond the cap", 5, CodePairRate, 5 * time.Minute, nil, 1024 * time.Second},
		{"pair rate bounded", 40, CodePairRate, 5 * time.Minute, nil, 4096 * time.Second},
		{"attempt 0 is the first", 0, 0, time.Minute, nil, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RetryDelay(tt.attempt, tt.code, time.Second, tt.limit, tt.rnd); got != tt.want {
				t.Errorf("RetryDelay(%d, %d) = %v, want %v", tt.attempt, tt.code, got, tt.want)
			}
		})
	}
}
