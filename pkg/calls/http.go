package calls

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/greentic/gtc/pkg/flow"
)

// request is one HTTP request of a try.
type request struct {
	method string
	url    string
	header http.Header
	body   []byte
	// allow checks the URL's host and every redirect target (nil: any host).
	allow func(string) bool
	// target names what is called in errors: "GET shop.example.com", "the LLM".
	target string
	// secretHeaders are dropped on a redirect to another host; with secretBody, a redirect
	// to another host that would re-send the body (307, 308) is refused.
	secretHeaders []string
	secretBody    bool
}

// answer is a response read whole (at most MaxBody).
type answer struct {
	status int
	header http.Header
	body   []byte
}

// refusal is a request gtc will not make: a scheme, a host or a redirect.
type refusal struct{ msg string }

func (e *refusal) Error() string { return e.msg }

func (r *Runner) tryHTTP(ctx context.Context, c *flow.Call) try {
	h := c.HTTP
	method := strings.ToUpper(h.Method)
	if method == "" {
		method = http.MethodGet
	}
	hd := http.Header{}
	var secretHeaders []string
	for _, x := range h.Headers {
		hd.Add(x.Name, x.Value)
		if x.Secret {
			secretHeaders = append(secretHeaders, x.Name)
		}
	}
	if h.Body != nil && h.ContentType != "" {
		hd.Set("Content-Type", h.ContentType)
	}
	if hd.Get("Accept") == "" {
		hd.Set("Accept", "application/json, text/plain;q=0.9, */*;q=0.5")
	}
	ans, t := r.send(ctx, c, request{method: method, url: h.URL, header: hd, body: h.Body, allow: r.Allow,
		secretHeaders: secretHeaders, secretBody: h.BodySecret})
	if t.outcome != "" {
		return t
	}
	t.res = flow.CallResult{Status: ans.status, Headers: r.headers(c, ans.header), Body: r.parseBody(c, ans.header.Get("Content-Type"), ans.body)}
	switch s := ans.status; {
	case s >= 200 && s < 300:
		t.outcome = OutcomeOK
	case s == http.StatusTooManyRequests:
		t.outcome, t.retryable = OutcomeRateLimited, true
		t.retryAfter = retryAfter(ans.header.Get("Retry-After"), r.clock().Now())
	case s >= 500:
		t.outcome, t.retryable = OutcomeServerError, true
		if s == http.StatusServiceUnavailable {
			t.retryAfter = retryAfter(ans.header.Get("Retry-After"), r.clock().Now())
		}
	default:
		t.outcome = OutcomeClientError
	}
	return t
}

// send makes one request with the call's timeout, the Idempotency-Key and User-Agent, the
// redirect rules and the body limit. When it fails, t.outcome is set (and t.res.Err); else
// the caller reads the answer.
func (r *Runner) send(ctx context.Context, c *flow.Call, q request) (answer, try) {
	t := try{method: q.method}
	fail := func(outcome, msg string, retryable bool) (answer, try) {
		t.outcome, t.retryable = outcome, retryable
		t.res.Err = q.target + ": " + msg
		return answer{}, t
	}
	u, err := url.Parse(q.url)
	if q.target == "" {
		q.target = q.method
		if err == nil && u.Host != "" {
			q.target += " " + u.Host
		}
	}
	if err == nil && u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" {
		return fail(OutcomeRefused, fmt.Sprintf("scheme %q refused: only http and https URLs can be called", u.Scheme), false)
	}
	if err != nil || u.Host == "" || u.Scheme == "" {
		return fail(OutcomeBadCall, "the url is not an absolute http(s) URL", false)
	}
	t.host = u.Host
	if u.User != nil {
		return fail(OutcomeRefused, "a URL with user info (user:password@) is refused: send credentials in a header", false)
	}
	if q.allow != nil && !q.allow(u.Host) {
		return fail(OutcomeRefused, fmt.Sprintf("host %s is not in http_allow: add it to http_allow in answers.json to let flows call it", u.Host), false)
	}
	timeout := Timeout(c)
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, q.method, u.String(), bytes.NewReader(q.body))
	if err != nil {
		return fail(OutcomeBadCall, "the request cannot be built (bad method or URL)", false)
	}
	if q.body == nil {
		req.Body, req.GetBody, req.ContentLength = nil, nil, 0
	}
	req.Header = q.header
	req.Header.Set("Idempotency-Key", c.IdempotencyKey)
	req.Header.Set("User-Agent", r.userAgent())
	client := &http.Client{Transport: r.transport(), CheckRedirect: func(next *http.Request, via []*http.Request) error {
		if len(via) > MaxRedirects {
			return &refusal{fmt.Sprintf("more than %d redirects: call the final URL directly", MaxRedirects)}
		}
		prev := via[len(via)-1].URL
		if prev.Scheme == "https" && next.URL.Scheme != "https" {
			return &refusal{fmt.Sprintf("redirect from https to %s://%s refused: it would send the request unencrypted", next.URL.Scheme, next.URL.Host)}
		}
		if next.URL.Scheme != "http" && next.URL.Scheme != "https" {
			return &refusal{fmt.Sprintf("redirect to scheme %q refused", next.URL.Scheme)}
		}
		if q.allow != nil && !q.allow(next.URL.Host) {
			return &refusal{fmt.Sprintf("redirect to %s refused: the host is not in http_allow", next.URL.Host)}
		}
		if !strings.EqualFold(next.URL.Hostname(), u.Hostname()) {
			// Go drops Authorization and cookies when the host changes, not other headers.
			for _, name := range q.secretHeaders {
				next.Header.Del(name)
			}
			if q.secretBody && len(q.body) > 0 && next.GetBody != nil && next.Response != nil &&
				(next.Response.StatusCode == http.StatusTemporaryRedirect || next.Response.StatusCode == http.StatusPermanentRedirect) {
				return &refusal{fmt.Sprintf("redirect to %s refused: it would send a body holding a secret to another host", next.URL.Host)}
			}
		}
		// Go keeps custom headers on a redirect; the key must stay, the agent too.
		next.Header.Set("Idempotency-Key", c.IdempotencyKey)
		next.Header.Set("User-Agent", r.userAgent())
		return nil
	}}
	resp, err := client.Do(req)
	if err != nil {
		return r.failure(ctx, actx, err, timeout, fail, &t)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return r.failure(ctx, actx, err, timeout, fail, &t)
	}
	if len(body) > MaxBody {
		return fail(OutcomeTooLarge, fmt.Sprintf("the response body is over %d bytes (1 MB): ask the backend for less", MaxBody), false)
	}
	t.res.Status = resp.StatusCode
	return answer{status: resp.StatusCode, header: resp.Header, body: body}, t
}

// failure classifies a transport error. Its text never carries the URL (a path or query may
// hold a secret or personal data), only what went wrong.
func (r *Runner) failure(ctx, actx context.Context, err error, timeout time.Duration, fail func(string, string, bool) (answer, try), t *try) (answer, try) {
	var ref *refusal
	var dns *net.DNSError
	var ne net.Error
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	var cve *tls.CertificateVerificationError
	switch {
	case ctx.Err() != nil:
		t.cancelled = true
		return answer{}, *t
	case errors.As(err, &ref):
		return fail(OutcomeRefused, ref.msg, false)
	case errors.Is(actx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return fail(OutcomeTimeout, fmt.Sprintf("no answer within %s", timeout), true)
	case errors.As(err, &dns):
		return fail(OutcomeConnection, "the host name does not resolve", true)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fail(OutcomeConnection, "connection refused", true)
	case errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie), errors.As(err, &cve):
		return fail(OutcomeConnection, "the server's TLS certificate is not trusted", false)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fail(OutcomeConnection, "the server closed the connection", true)
	}
	return fail(OutcomeConnection, "connection failed", true)
}

// headers are the response headers for vars.NAME.headers: lower-case names, values joined
// with ", ", without Set-Cookie, secrets redacted.
func (r *Runner) headers(c *flow.Call, h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		k = strings.ToLower(k)
		if k == "set-cookie" {
			continue
		}
		out[k] = r.redact(c, strings.Join(vs, ", "))
	}
	return out
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); 0 when absent or bad.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > 1<<31 {
			n = 1 << 31
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
