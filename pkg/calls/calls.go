// Package calls runs the effects of http and ai flow nodes: it sends a rendered *flow.Call
// (with its timeout, retries, redirect and host rules) and turns the answer into the
// flow.CallResult the engine takes back. No database, no delivery (DESIGN.md §9; the
// user-facing rules are in docs/flows.md).
package calls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/build"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// Limits and defaults of a call.
const (
	// MaxBody is the largest response body read; a longer one is an error.
	MaxBody = 1 << 20
	// DefaultSlowAfter is when a running call counts as slow (Runner.OnSlow).
	DefaultSlowAfter = time.Second
	// MaxRedirects is how many redirects a call follows.
	MaxRedirects = 3
	// BackoffBase and BackoffLimit shape the wait between attempts (whatsapp.Backoff, full
	// jitter): up to 0.5 s, 1 s, 2 s, 4 s, 5 s.
	BackoffBase  = 500 * time.Millisecond
	BackoffLimit = 5 * time.Second
	// DefaultMaxRetryAfter is the longest Retry-After a call waits for; a longer one ends
	// the retries.
	DefaultMaxRetryAfter = 30 * time.Second
)

// Runner runs calls. The zero value works (every host allowed, no ai); set the fields before
// the first call and do not change them after. A Runner is safe for concurrent use.
type Runner struct {
	// Allow says whether a flow may call host (a URL's Host: name, name:port, [v6]:port); it
	// is asked for the URL and for every redirect target. nil allows every host. Use
	// (*bundle.Provider).AllowHost.
	Allow func(host string) bool
	// LLM is the bundle's llm setting for ai calls; nil makes every ai call fail.
	LLM *answers.LLM
	// Env resolves a ${NAME} api_key (os.LookupEnv when nil).
	Env func(string) (string, bool)
	// Transport sends the requests (a shared clone of http.DefaultTransport when nil).
	Transport http.RoundTripper
	// Metrics, when set, counts calls (NewMetrics).
	Metrics *Metrics
	// Logger gets one line per attempt: kind, flow, node, method, host, status, duration,
	// outcome. Never headers, bodies, paths or secrets. Discarded when nil.
	Logger *slog.Logger
	// Clock waits between attempts in Run (whatsapp.SystemClock when nil).
	Clock whatsapp.Clock
	// Rand gives the backoff jitter, a number in [0,1) (math/rand/v2 when nil).
	Rand func() float64
	// SlowAfter is when a call counts as slow (DefaultSlowAfter when 0).
	SlowAfter time.Duration
	// OnSlow, when set, is called once (in its own goroutine) when a Run or Try has taken
	// SlowAfter and has not finished: the caller shows the typing indicator. ctx is the one
	// given to Run or Try, so request-scoped values (the contact, the message) travel with it.
	OnSlow func(ctx context.Context, c *flow.Call)
	// UserAgent is sent with every request (build.UserAgent() when "").
	UserAgent string
	// MaxRetryAfter is the longest Retry-After honoured (DefaultMaxRetryAfter when 0).
	MaxRetryAfter time.Duration
}

// Attempt is the outcome of one try of a call.
type Attempt struct {
	// Result is what this try gave. When Retry is false it is the call's result: feed it back
	// with flow.ResultInput(call.Step, Result).
	Result flow.CallResult
	// Retry says the try failed in a way worth another (5xx, 429, a timeout, a connection
	// error) and the call has retries left; Wait is how long to wait first (Retry-After or
	// backoff with jitter).
	Retry bool
	Wait  time.Duration
	// Outcome names the result for metrics and logs (Outcome* constants).
	Outcome string
}

// Outcomes of a try.
const (
	OutcomeOK          = "ok"           // 2xx (http), an answer (ai)
	OutcomeClientError = "client_error" // 4xx: http goes to next with ok=false; ai fails
	OutcomeServerError = "server_error" // 5xx
	OutcomeRateLimited = "rate_limited" // 429
	OutcomeTimeout     = "timeout"
	OutcomeConnection  = "connection_error" // refused, reset, DNS, TLS
	OutcomeRefused     = "refused"          // by gtc: scheme, http_allow, redirects
	OutcomeTooLarge    = "too_large"        // a body over MaxBody
	OutcomeBadResponse = "bad_response"     // an ai answer that is not a chat completion
	OutcomeBadCall     = "bad_call"         // a call gtc cannot make (no llm setting, bad URL)
)

// ErrNotFinished is returned (wrapping ctx.Err()) when the caller's context ended before the
// call had a result: do not feed anything back; run the call again later (same key).
var ErrNotFinished = errors.New("call not finished")

// Run runs c with its retries, waiting between tries on Clock, and returns its result. The
// error is non-nil only when ctx ended first (ErrNotFinished): every failure of the call
// itself is in the result (Err, or a status) for the flow's on_error or next.
func (r *Runner) Run(ctx context.Context, c *flow.Call) (flow.CallResult, error) {
	stop := r.watchSlow(ctx, c)
	defer stop()
	for n := 1; ; n++ {
		a, err := r.try(ctx, c, n)
		if err != nil {
			return flow.CallResult{}, err
		}
		if !a.Retry {
			return a.Result, nil
		}
		if err := r.clock().Sleep(ctx, a.Wait); err != nil {
			return flow.CallResult{}, fmt.Errorf("%w: %w", ErrNotFinished, err)
		}
	}
}

// Try makes try number attempt (1-based) of c, for a durable job that retries on its own:
// when the Attempt says Retry, schedule try attempt+1 after Wait; otherwise feed back its
// Result. The error is non-nil only when ctx ended first (ErrNotFinished).
func (r *Runner) Try(ctx context.Context, c *flow.Call, attempt int) (Attempt, error) {
	stop := r.watchSlow(ctx, c)
	defer stop()
	return r.try(ctx, c, attempt)
}

// Retries is how many retries c allows after its first try.
func Retries(c *flow.Call) int {
	n := flow.DefaultHTTPRetries
	switch {
	case c.HTTP != nil:
		n = c.HTTP.Retries
	case c.AI != nil:
		n = c.AI.Retries
	}
	return min(max(n, 0), flow.MaxHTTPRetries)
}

// Timeout is the time one try of c may take: the call's timeout, DefaultHTTPTimeout when
// unset, at most MaxHTTPTimeout (flow.AITimeout for ai).
func Timeout(c *flow.Call) time.Duration {
	d, limit := time.Duration(0), flow.MaxHTTPTimeout
	switch {
	case c.HTTP != nil:
		d = c.HTTP.Timeout
	case c.AI != nil:
		d, limit = c.AI.Timeout, max(flow.AITimeout, flow.MaxHTTPTimeout)
	}
	if d <= 0 {
		d = flow.DefaultHTTPTimeout
	}
	return min(d, limit)
}

// Backoff is the wait before retry number n (1-based) of a call: the program's one backoff
// (whatsapp.Backoff) from BackoffBase to BackoffLimit with full jitter from rnd (nil: none).
func Backoff(n int, rnd func() float64) time.Duration {
	return whatsapp.Backoff(n, BackoffBase, BackoffLimit, rnd)
}

func (r *Runner) try(ctx context.Context, c *flow.Call, attempt int) (Attempt, error) {
	if ctx.Err() != nil {
		return Attempt{}, fmt.Errorf("%w: %w", ErrNotFinished, ctx.Err())
	}
	if c == nil {
		return Attempt{Result: flow.CallResult{Err: "no call"}, Outcome: OutcomeBadCall}, nil
	}
	start := time.Now()
	var t try
	switch {
	case c.Kind == flow.CallHTTP && c.HTTP != nil:
		t = r.tryHTTP(ctx, c)
	case c.Kind == flow.CallAI && c.AI != nil:
		t = r.tryAI(ctx, c)
	default:
		t = try{res: flow.CallResult{Err: fmt.Sprintf("unknown call kind %q", c.Kind)}, outcome: OutcomeBadCall}
	}
	if t.cancelled {
		return Attempt{}, fmt.Errorf("%w: %w", ErrNotFinished, ctx.Err())
	}
	took := time.Since(start)
	a := Attempt{Result: t.res, Outcome: t.outcome}
	if t.retryable && attempt <= Retries(c) {
		a.Retry = true
		a.Wait = Backoff(attempt, r.rand())
		if t.retryAfter > 0 {
			a.Wait = t.retryAfter
		}
		if t.retryAfter > r.maxRetryAfter() {
			a.Retry, a.Wait = false, 0
		}
	}
	if !a.Retry && attempt > 1 && a.Result.Err != "" {
		a.Result.Err += fmt.Sprintf(" (after %d tries)", attempt)
	}
	a.Result.Err = r.redact(c, a.Result.Err)
	r.observe(c, t, attempt, a, took)
	return a, nil
}

// try is what one request gave, before the retry decision.
type try struct {
	res        flow.CallResult
	outcome    string
	retryable  bool
	retryAfter time.Duration // from a Retry-After header (429, 503)
	method     string
	host       string
	cancelled  bool // the caller's context ended
}

func (r *Runner) observe(c *flow.Call, t try, attempt int, a Attempt, took time.Duration) {
	if m := r.Metrics; m != nil {
		m.seconds.WithLabelValues(c.Kind, c.Flow, c.Node, a.Outcome).Observe(took.Seconds())
		if a.Retry {
			m.retries.WithLabelValues(c.Kind, c.Flow, c.Node, a.Outcome).Inc()
		} else {
			m.calls.WithLabelValues(c.Kind, c.Flow, c.Node, a.Outcome).Inc()
		}
	}
	log := r.Logger
	if log == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("kind", c.Kind), slog.String("flow", c.Flow), slog.String("node", c.Node),
		slog.String("method", t.method), slog.String("host", r.redact(c, t.host)),
		slog.Int("status", a.Result.Status), slog.Duration("duration", took),
		slog.Int("attempt", attempt), slog.String("outcome", a.Outcome),
	}
	level := slog.LevelInfo
	if a.Result.Err != "" {
		attrs = append(attrs, slog.String("error", a.Result.Err))
	}
	if a.Retry {
		attrs = append(attrs, slog.Duration("retry_in", a.Wait))
	}
	if a.Result.Err != "" || (a.Outcome != OutcomeOK && a.Outcome != OutcomeClientError) {
		level = slog.LevelWarn
	}
	log.LogAttrs(context.Background(), level, "call", attrs...)
}

// watchSlow calls OnSlow once when the call is still running after SlowAfter; stop ends the
// watch.
func (r *Runner) watchSlow(ctx context.Context, c *flow.Call) (stop func()) {
	if r.OnSlow == nil {
		return func() {}
	}
	d := r.SlowAfter
	if d <= 0 {
		d = DefaultSlowAfter
	}
	t := time.AfterFunc(d, func() { r.OnSlow(ctx, c) })
	return func() { t.Stop() }
}

func (r *Runner) transport() http.RoundTripper {
	if r.Transport == nil {
		return defaultTransport()
	}
	return r.Transport
}

var (
	transportOnce sync.Once
	transport     *http.Transport
)

func defaultTransport() http.RoundTripper {
	transportOnce.Do(func() {
		transport = http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = 16
	})
	return transport
}

func (r *Runner) clock() whatsapp.Clock {
	if r.Clock == nil {
		return whatsapp.SystemClock{}
	}
	return r.Clock
}

func (r *Runner) rand() func() float64 {
	if r.Rand == nil {
		return rand.Float64
	}
	return r.Rand
}

func (r *Runner) maxRetryAfter() time.Duration {
	if r.MaxRetryAfter <= 0 {
		return DefaultMaxRetryAfter
	}
	return r.MaxRetryAfter
}

func (r *Runner) userAgent() string {
	if r.UserAgent == "" {
		return build.UserAgent()
	}
	return r.UserAgent
}

// redact removes every secret the call carries, and the llm api key, from s.
func (r *Runner) redact(c *flow.Call, s string) string {
	if s == "" {
		return s
	}
	s = c.Redact(s)
	if k := r.apiKey(); k != "" {
		s = strings.ReplaceAll(s, k, "[secret]")
	}
	return s
}

// apiKey is the resolved llm api key ("" when none or unresolvable).
func (r *Runner) apiKey() string {
	if r.LLM == nil || r.LLM.APIKey.IsZero() {
		return ""
	}
	k, err := r.LLM.APIKey.Resolve(r.Env)
	if err != nil {
		return ""
	}
	return k
}
