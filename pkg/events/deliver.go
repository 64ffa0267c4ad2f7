package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/build"
)

// DefaultTimeout bounds one delivery attempt: connecting, sending and the answer's headers.
const DefaultTimeout = 10 * time.Second

// Lease is how long an instance holds a row it claimed for delivery (by moving its next_at
// forward): longer than an attempt, so no other instance posts it meanwhile, short enough
// that a row whose instance died is tried again soon (at least once).
const Lease = 6 * DefaultTimeout

// Target is where a provider's events go: events_url and the resolved events_secret ("" sends
// them unsigned, which gtc validate warns about).
type Target struct {
	URL    string
	Secret string
}

// Outcome is how one delivery attempt ended.
type Outcome string

// Outcomes. Every one but Delivered means: try again later (NextAttempt).
const (
	Delivered Outcome = "delivered" // a 2xx answer
	Rejected  Outcome = "rejected"  // any other answer, redirects included
	Failed    Outcome = "error"     // no answer: connection, TLS, timeout
	// GaveUp is not an attempt's outcome: the job counts it (Metrics.GaveUp) when
	// NextAttempt says to stop.
	GaveUp Outcome = "gave_up"
)

// Result is one delivery attempt's outcome.
type Result struct {
	Outcome Outcome
	// Status is the HTTP status of the answer, 0 when there was none.
	Status int
	// RetryAfter is the receiver's Retry-After (on a 429 or 503), 0 when absent: the job
	// should not try before now + RetryAfter (bounded by the give-up time).
	RetryAfter time.Duration
	Duration   time.Duration
	// Err says what went wrong, nil when delivered: a *DeliveryError, which never contains
	// the secret, the body or events_url's query. Store its text as the row's last_error.
	Err error
}

// Retry reports whether the event is still to be delivered.
func (r Result) Retry() bool { return r.Outcome != Delivered }

// LogValue logs the result without the body or the secret.
func (r Result) LogValue() slog.Value {
	as := []slog.Attr{slog.String("outcome", string(r.Outcome)), slog.Duration("duration", r.Duration)}
	if r.Status != 0 {
		as = append(as, slog.Int("status", r.Status))
	}
	if r.Err != nil {
		as = append(as, slog.String("error", r.Err.Error()))
	}
	return slog.GroupValue(as...)
}

// DeliveryError is a failed attempt. URL is events_url without its query (which may hold a
// token), Status the answer's status (0: none).
type DeliveryError struct {
	URL    string
	Status int
	Msg    string
}

func (e *DeliveryError) Error() string { return "POST " + e.URL + ": " + e.Msg }

// Deliverer POSTs events. The zero value works; it is safe for concurrent use.
type Deliverer struct {
	// Client sends the POSTs; nil uses a client that does not follow redirects.
	Client *http.Client
	// Timeout bounds each attempt (DefaultTimeout when 0).
	Timeout time.Duration
	// Metrics, when set, counts each attempt.
	Metrics *Metrics
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Deliver POSTs one event's body, as stored, to t.URL with the event headers and the
// signature, and classifies the answer: 2xx is Delivered, anything else is to be retried.
// Redirects are not followed (a moved receiver is a configuration to fix, and a POST must
// not turn into a GET).
func (d *Deliverer) Deliver(ctx context.Context, t Target, id string, typ Type, body []byte) Result {
	start := time.Now()
	res := d.attempt(ctx, t, id, typ, body)
	res.Duration = time.Since(start)
	if d.Metrics != nil {
		d.Metrics.observe(typ, res)
	}
	return res
}

func (d *Deliverer) attempt(ctx context.Context, t Target, id string, typ Type, body []byte) Result {
	shown := redactURL(t.URL)
	fail := func(o Outcome, status int, format string, args ...any) Result {
		msg := fmt.Sprintf(format, args...)
		if t.Secret != "" {
			msg = strings.ReplaceAll(msg, t.Secret, "[redacted]")
		}
		if shown != t.URL {
			msg = strings.ReplaceAll(msg, t.URL, shown)
		}
		return Result{Outcome: o, Status: status, Err: &DeliveryError{URL: shown, Status: status, Msg: msg}}
	}
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail(Failed, 0, "events_url is not an http(s) URL: fix events_url in answers.json and run gtc setup again")
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return fail(Failed, 0, "build request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", build.UserAgent())
	req.Header.Set(EventHeader, string(typ))
	req.Header.Set(DeliveryHeader, id)
	if t.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(body, t.Secret))
	}
	client := d.Client
	if client == nil {
		client = noRedirects
	}
	resp, err := client.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
			return fail(Failed, 0, "no answer within %s", timeout)
		case errors.Is(err, context.Canceled):
			return fail(Failed, 0, "cancelled")
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fail(Failed, 0, "%v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return Result{Outcome: Delivered, Status: resp.StatusCode}
	}
	r := fail(Rejected, resp.StatusCode, "answered %s", resp.Status)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		r = fail(Rejected, resp.StatusCode, "answered %s, a redirect to %s: gtc does not follow redirects; set events_url to the final URL",
			resp.Status, redactURL(resp.Header.Get("Location")))
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		r.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return r
}

// redactURL drops a URL's query, fragment and user info, which may hold tokens.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.IndexAny(s, "?#@"); i >= 0 {
			return s[:i] + "…"
		}
		return s
	}
	hidden := u.RawQuery != "" || u.Fragment != "" || u.User != nil
	u.RawQuery, u.Fragment, u.User, u.ForceQuery = "", "", nil, false
	if hidden {
		return u.String() + "?…"
	}
	return u.String()
}

// retryAfter reads a Retry-After value (seconds or an HTTP date), capped at a day.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), 24*time.Hour)
}
