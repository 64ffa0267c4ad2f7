package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// recordingBody is a request body that counts its reads; with gate set it serves the first
// half of data, signals started, then waits for gate before serving the rest.
type recordingBody struct {
	r       *bytes.Reader
	half    int
	reads   atomic.Int64
	started chan struct{}
	once    sync.Once
	gate    chan struct{}
}

func newRecordingBody(data []byte, gated bool) *recordingBody {
	b := &recordingBody{r: bytes.NewReader(data), half: len(data) / 2, started: make(chan struct{})}
	if gated {
		b.gate = make(chan struct{})
	}
	return b
}

func (b *recordingBody) Read(p []byte) (int, error) {
	b.reads.Add(1)
	b.once.Do(func() { close(b.started) })
	if b.gate != nil {
		done := int(b.r.Size()) - b.r.Len()
		if done < b.half {
			p = p[:min(len(p), b.half-done)]
		} else {
			<-b.gate
		}
	}
	return b.r.Read(p)
}

func (b *recordingBody) Close() error { return nil }

// newBodyServer is a Server (no listener) with the usual tenants; mod adjusts its Config.
func newBodyServer(t *testing.T, ing Ingester, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		Tenants: []Tenant{{Tenant: "acme", Team: "support", PhoneNumberID: phoneID,
			VerifyToken: secret.New(verifyToken), AppSecret: secret.New(appSecret)},
			{Tenant: "nosecret", Team: "default", PhoneNumberID: "222", VerifyToken: secret.New(verifyToken)}},
		Delivery: ing,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// paddedWebhook is a text webhook padded with JSON whitespace to size bytes.
func paddedWebhook(id, text string, size int) []byte {
	b := textWebhook(phoneID, id, text)
	out := append([]byte(nil), b[:len(b)-1]...)
	out = append(out, bytes.Repeat([]byte(" "), max(size-len(b), 0))...)
	return append(out, '}')
}

// serveBody sends a POST with body (contentLength -1: unknown, as when chunked) to h.
func serveBody(h http.Handler, path string, body io.ReadCloser, contentLength int64, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, nil)
	req.Body, req.ContentLength = body, contentLength
	if sig != "" {
		req.Header.Set(whatsapp.SignatureHeader, sig)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestRefusedBeforeRead: a POST whose signature cannot verify, or whose Content-Length is
// over the limit, is answered without a single read of its body.
func TestRefusedBeforeRead(t *testing.T) {
	body := textWebhook(phoneID, "wamid.R", "hi")
	good := whatsapp.Sign(body, appSecret)
	const limit = 64 << 10
	noSecrets := newBodyServer(t, &fakeIngester{}, func(c *Config) {
		c.Tenants = []Tenant{{Tenant: "a", Team: "b", PhoneNumberID: phoneID}}
	})
	s := newBodyServer(t, &fakeIngester{}, func(c *Config) { c.MaxBodyBytes = limit })
	tests := []struct {
		name     string
		s        *Server
		path     string
		sig      string
		length   int64
		wantCode int
		wantBody string
	}{
		{"no header", s, WebhookPrefix + "acme/support", "", int64(len(body)), 401, "missing X-Hub-Signature-256"},
		{"blank header", s, WebhookPrefix + "acme/support", "   ", int64(len(body)), 401, "missing X-Hub-Signature-256"},
		{"sha1", s, WebhookPrefix + "acme/support", "sha1=" + strings.Repeat("a", 40), int64(len(body)), 401, "not sha256="},
		{"no prefix", s, WebhookPrefix + "acme/support", strings.TrimPrefix(good, "sha256="), int64(len(body)), 401, "not sha256="},
		{"63 hex digits", s, WebhookPrefix + "acme/support", good[:len(good)-1], int64(len(body)), 401, "not sha256="},
		{"65 hex digits", s, WebhookPrefix + "acme/support", good + "0", int64(len(body)), 401, "not sha256="},
		{"not hex", s, WebhookPrefix + "acme/support", good[:len(good)-1] + "g", int64(len(body)), 401, "not sha256="},
		{"unknown length, no header", s, WebhookPrefix + "acme/support", "", -1, 401, "missing X-Hub-Signature-256"},
		{"app route, no header", s, AppWebhookPath, "", int64(len(body)), 401, "missing X-Hub-Signature-256"},
		{"tenant without app secret", s, WebhookPrefix + "nosecret/default", good, int64(len(body)), 401, "no app_secret"},
		{"app route, no app secret in the bundle", noSecrets, AppWebhookPath, good, int64(len(body)), 401, "no app_secret"},
		{"Content-Length over the limit", s, WebhookPrefix + "acme/support", good, limit + 1, 413, "larger than 65536 bytes"},
		{"Content-Length of 3 GB", s, AppWebhookPath, good, 3 << 30, 413, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rb := newRecordingBody(body, false)
			w := serveBody(tt.s.Handler(), tt.path, rb, tt.length, tt.sig)
			if w.Code != tt.wantCode || !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("got %d %q, want %d containing %q", w.Code, w.Body, tt.wantCode, tt.wantBody)
			}
			if n := rb.reads.Load(); n != 0 {
				t.Errorf("the body was read %d times before the answer, want 0", n)
			}
		})
	}
}

// TestUnknownLength: a body without Content-Length (chunked) is read up to the limit; one
// byte more is 413.
func TestUnknownLength(t *testing.T) {
	const limit = 64 << 10
	ing := &fakeIngester{}
	s := newBodyServer(t, ing, func(c *Config) { c.MaxBodyBytes = limit })
	for _, tt := range []struct {
		size     int
		wantCode int
	}{{300, 200}, {limit - 1, 200}, {limit, 200}, {limit + 1, 413}, {limit * 3, 413}} {
		b := paddedWebhook("wamid.U", "hi", tt.size)
		w := serveBody(s.Handler(), WebhookPrefix+"acme/support", io.NopCloser(bytes.NewReader(b)), -1, whatsapp.Sign(b, appSecret))
		if w.Code != tt.wantCode {
			t.Errorf("%d bytes: got %d %q, want %d", len(b), w.Code, w.Body, tt.wantCode)
		}
	}
}

// TestBodyReadsCapped: big bodies are read within the budget (the one over it waits, and
// is answered 503 when no room comes within BodyWait) while small bodies keep their own
// lane.
func TestBodyReadsCapped(t *testing.T) {
	const limit = 256 << 10
	// A budget of 1 MiB: a quarter (256 KiB) for small bodies, 768 KiB for big ones, that
	// is three bodies of the 256 KiB class at once.
	const budget, fit = 1 << 20, 3
	for _, tt := range []struct {
		name string
		wait time.Duration
	}{{"waits for room", time.Minute}, {"503 after BodyWait", 50 * time.Millisecond}} {
		t.Run(tt.name, func(t *testing.T) {
			ing := &fakeIngester{}
			s := newBodyServer(t, ing, func(c *Config) { c.MaxBodyBytes, c.BodyBudget, c.BodyWait = limit, budget, tt.wait })
			h := s.Handler()
			big := func(i int) ([]byte, string) {
				b := paddedWebhook("wamid.big"+string(rune('a'+i)), "big", 200<<10)
				return b, whatsapp.Sign(b, appSecret)
			}
			type answer struct {
				i    int
				code int
			}
			answers := make(chan answer, fit+1)
			var slow []*recordingBody
			for i := range fit + 1 {
				b, sig := big(i)
				rb := newRecordingBody(b, true)
				slow = append(slow, rb)
				go func() { answers <- answer{i, serveBody(h, WebhookPrefix+"acme/support", rb, int64(len(b)), sig).Code} }()
				if i < fit {
					select {
					case <-rb.started:
					case <-time.After(10 * time.Second):
						t.Fatalf("slow body %d was never read", i)
					}
				}
			}
			// The budget is full: the fourth is not read…
			if tt.wait == time.Minute {
				select {
				case <-slow[fit].started:
					t.Fatalf("body %d was read while %d bodies held the budget", fit, fit)
				case a := <-answers:
					t.Fatalf("answer %+v while the budget was full", a)
				case <-time.After(300 * time.Millisecond):
				}
			} else {
				select {
				case a := <-answers:
					if a.i != fit || a.code != http.StatusServiceUnavailable {
						t.Fatalf("answer %+v while the budget was full, want body %d answered 503", a, fit)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("no 503 within 10 s with BodyWait 50 ms")
				}
				if n := slow[fit].reads.Load(); n != 0 {
					t.Errorf("the refused body was read %d times", n)
				}
			}
			// …but a small body is.
			small := textWebhook(phoneID, "wamid.small", "small")
			if w := serveBody(h, WebhookPrefix+"acme/support", io.NopCloser(bytes.NewReader(small)), int64(len(small)), whatsapp.Sign(small, appSecret)); w.Code != 200 {
				t.Errorf("small body while the big lane was full: %d %q", w.Code, w.Body)
			}
			close(slow[0].gate)
			if tt.wait == time.Minute {
				select {
				case <-slow[fit].started:
				case <-time.After(10 * time.Second):
					t.Fatal("the waiting body was not read after one finished")
				}
			}
			for _, rb := range slow[1:] {
				close(rb.gate)
			}
			want := map[int]int{0: 200, 1: 200, 2: 200, fit: 200}
			if tt.wait != time.Minute {
				delete(want, fit)
			}
			for range want {
				a := <-answers
				if a.code != want[a.i] {
					t.Errorf("body %d answered %d, want %d", a.i, a.code, want[a.i])
				}
			}
		})
	}
}

// TestPooledBufferNotAliased: the events handed to Ingest stay intact when the buffer
// their body was read into is reused by the next POST.
func TestPooledBufferNotAliased(t *testing.T) {
	ing := &fakeIngester{}
	s := newBodyServer(t, ing, nil)
	first := textWebhook(phoneID, "wamid.11111", "first")
	second := textWebhook(phoneID, "wamid.22222", "other")
	if len(first) != len(second) {
		t.Fatalf("bodies of %d and %d bytes: make them one length", len(first), len(second))
	}
	for _, b := range [][]byte{first, second, second} {
		if w := serveBody(s.Handler(), WebhookPrefix+"acme/support", io.NopCloser(bytes.NewReader(b)), int64(len(b)), whatsapp.Sign(b, appSecret)); w.Code != 200 {
			t.Fatalf("got %d %q", w.Code, w.Body)
		}
	}
	ev := ing.events()[0]
	if ev.Message.ID != "wamid.11111" || ev.Message.Text != "first" || !bytes.Contains(ev.Raw, []byte(`"first"`)) {
		t.Errorf("the first POST's event changed after the next POSTs: id %q, text %q, raw %s", ev.Message.ID, ev.Message.Text, ev.Raw)
	}
}

// FuzzSignatureHeader: the check before the read refuses exactly the headers that
// whatsapp.VerifySignature calls missing or malformed, so no POST it would accept is
// turned away unread.
func FuzzSignatureHeader(f *testing.F) {
	body := []byte(`{"object":"whatsapp_business_account"}`)
	for _, h := range []string{"", " ", whatsapp.Sign(body, appSecret), strings.ToUpper(whatsapp.Sign(body, appSecret)),
		"sha256=" + strings.Repeat("A", 64), "sha256=xyz", "sha1=abc", " sha256=" + strings.Repeat("0", 64) + "\t"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		pre := checkSignatureHeader(h, true)
		err := whatsapp.VerifySignature(body, h, appSecret)
		shape := errors.Is(err, whatsapp.ErrSignatureMissing) || errors.Is(err, whatsapp.ErrSignatureMalformed)
		if (pre != nil) != shape {
			t.Fatalf("header %q: checked before the read %v, after %v", h, pre, err)
		}
		if pre != nil && !errors.Is(pre, err) {
			t.Fatalf("header %q: %v before the read, %v after", h, pre, err)
		}
	})
}
