package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// LoadConfig says what webhooks the driver sends and how.
type LoadConfig struct {
	URL string // the full webhook URL (…/webhook/whatsapp/{tenant}/{team})
	// URLs, when set, replaces URL: POST i goes to URLs[i % len(URLs)] (round robin over
	// several instances), unless its Batch names a URL of its own.
	URLs          []string
	AppSecret     string // signs each body; empty sends unsigned
	PhoneNumberID string
	RunID         string // makes message ids unique across runs against one database
	Contacts      int    // distinct senders
	Messages      int    // total inbound messages
	Batch         int    // messages per POST
	Concurrency   int    // POSTs in flight
	Timeout       time.Duration
	// OnAck, when set, is called after each acknowledged POST with the count so far (the
	// crash test kills the server from it).
	OnAck func(acked int)
}

// LoadResult is what one run measured.
type LoadResult struct {
	Posts, Acked, Failed int
	Elapsed              time.Duration
	AckLatencies         []time.Duration // one per acknowledged POST
	// SentAt is when each message's POST was sent, by message id; AckedIDs the ids of
	// messages whose POST got 200; UnackedBatches the bodies that did not (to resend).
	SentAt         map[string]time.Time
	AckedIDs       []string
	UnackedBatches []Batch
	FirstError     string
}

// Batch is one webhook POST: its body and the message ids in it.
type Batch struct {
	Body []byte
	IDs  []string
	// URL, when set, is where this POST goes (instead of LoadConfig.URL or URLs).
	URL string
	// Number is the index of the phone number the messages were sent to (SpreadBatches).
	Number int
}

// Inbound is one text message of a webhook: its id, the sender's wa_id and the text.
type Inbound struct {
	ID, From, Text string
}

// MessageID is the id of the n-th message of a run.
func MessageID(run string, n int) string { return "wamid.load." + run + "." + strconv.Itoa(n) }

// ContactNumber is the wa_id of contact c.
func ContactNumber(c int) string { return fmt.Sprintf("49151%08d", c) }

// Batches builds the webhook bodies of a run: message n comes from contact n % Contacts and
// carries the text "load <id>".
func Batches(cfg LoadConfig) []Batch { return SpreadBatches(cfg, []string{cfg.PhoneNumberID}) }

// SpreadBatches is Batches over several phone numbers: contact c writes to number
// c % len(phoneIDs), so each contact keeps one number, and each POST carries messages to
// one number only (Batch.Number says which), at most cfg.Batch of them.
func SpreadBatches(cfg LoadConfig, phoneIDs []string) []Batch {
	pending := make([][]Inbound, len(phoneIDs))
	out := make([]Batch, 0, cfg.Messages/max(cfg.Batch, 1)+len(phoneIDs))
	flush := func(k int) {
		b := TextBatch(phoneIDs[k], pending[k]...)
		b.Number = k
		out = append(out, b)
		pending[k] = nil
	}
	for n := range cfg.Messages {
		c := n % cfg.Contacts
		k := c % len(phoneIDs)
		id := MessageID(cfg.RunID, n)
		pending[k] = append(pending[k], Inbound{ID: id, From: ContactNumber(c), Text: "load " + id})
		if len(pending[k]) >= cfg.Batch {
			flush(k)
		}
	}
	for k := range pending {
		if len(pending[k]) > 0 {
			flush(k)
		}
	}
	return out
}

// TextBatch builds one webhook POST carrying msgs for phoneNumberID.
func TextBatch(phoneNumberID string, msgs ...Inbound) Batch {
	now := strconv.FormatInt(time.Now().Unix(), 10)
	contacts := make([]map[string]any, 0, len(msgs))
	wire := make([]map[string]any, 0, len(msgs))
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		ids = append(ids, m.ID)
		contacts = append(contacts, map[string]any{"profile": map[string]any{"name": "Load " + m.From}, "wa_id": m.From})
		wire = append(wire, map[string]any{"from": m.From, "id": m.ID, "timestamp": now,
			"type": "text", "text": map[string]any{"body": m.Text}})
	}
	body, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{"id": "LOADWABA", "changes": []any{map[string]any{"field": "messages",
			"value": map[string]any{"messaging_product": "whatsapp",
				"metadata": map[string]any{"display_phone_number": "15550001111", "phone_number_id": phoneNumberID},
				"contacts": contacts, "messages": wire}}}}},
	})
	return Batch{Body: body, IDs: ids}
}

// Drive POSTs batches with cfg.Concurrency workers until all are sent or ctx ends, and
// measures acknowledgement latency.
func Drive(ctx context.Context, cfg LoadConfig, batches []Batch) *LoadResult {
	var next atomic.Int64
	return drive(ctx, cfg, func() (Batch, int, bool) {
		i := int(next.Add(1)) - 1
		if i >= len(batches) {
			return Batch{}, i, false
		}
		return batches[i], i, true
	})
}

// DriveChan is Drive for batches that come as they are due: it POSTs what arrives on ch
// until ch is closed or ctx ends.
func DriveChan(ctx context.Context, cfg LoadConfig, ch <-chan Batch) *LoadResult {
	var n atomic.Int64
	return drive(ctx, cfg, func() (Batch, int, bool) {
		select {
		case b, ok := <-ch:
			return b, int(n.Add(1)) - 1, ok
		case <-ctx.Done():
			return Batch{}, 0, false
		}
	})
}

// drive POSTs the batches next returns (with their index, for the round robin over
// cfg.URLs) with cfg.Concurrency workers until next reports no more or ctx ends.
func drive(ctx context.Context, cfg LoadConfig, next func() (Batch, int, bool)) *LoadResult {
	client := &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{
		MaxIdleConns: cfg.Concurrency * 2, MaxIdleConnsPerHost: cfg.Concurrency * 2, IdleConnTimeout: 30 * time.Second}}
	defer client.CloseIdleConnections()
	res := &LoadResult{SentAt: make(map[string]time.Time, cfg.Messages)}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	start := time.Now()
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if ctx.Err() != nil {
					return
				}
				b, i, ok := next()
				if !ok {
					return
				}
				url := cfg.URL
				switch {
				case b.URL != "":
					url = b.URL
				case len(cfg.URLs) > 0:
					url = cfg.URLs[i%len(cfg.URLs)]
				}
				sent := time.Now()
				code, err := post(ctx, client, url, b.Body, cfg.AppSecret)
				lat := time.Since(sent)
				mu.Lock()
				res.Posts++
				for _, id := range b.IDs {
					res.SentAt[id] = sent
				}
				if err == nil && code == http.StatusOK {
					res.Acked++
					res.AckLatencies = append(res.AckLatencies, lat)
					res.AckedIDs = append(res.AckedIDs, b.IDs...)
					acked := res.Acked
					mu.Unlock()
					if cfg.OnAck != nil {
						cfg.OnAck(acked)
					}
					continue
				}
				res.Failed++
				res.UnackedBatches = append(res.UnackedBatches, b)
				if res.FirstError == "" {
					if err != nil {
						res.FirstError = err.Error()
					} else {
						res.FirstError = "HTTP " + strconv.Itoa(code)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

func post(ctx context.Context, client *http.Client, url string, body []byte, secret string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(body, secret))
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Percentile returns the p-th percentile (0–100) of ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// BaselineHandler is the comparison point: it only checks the HMAC and decodes the JSON.
func BaselineHandler(appSecret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, whatsapp.MaxWebhookBody))
		if err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := whatsapp.VerifySignature(body, r.Header.Get(whatsapp.SignatureHeader), appSecret); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
}

// ReplyRecorder wraps a Graph API double and notes, for every message sent to it, when it
// arrived and which inbound message it answers (context.message_id, or the "load <id>" text
// the echo flow repeats).
type ReplyRecorder struct {
	Next http.Handler

	delay   atomic.Int64 // nanoseconds each send waits before Next sees it (SetDelay)
	onReply atomic.Pointer[func(id string)]

	mu      sync.Mutex
	replies map[string][]time.Time
	via     map[string]string   // by inbound id: the phone_number_id its first reply was sent from
	texts   map[string][]string // by recipient ("to"): the text bodies sent to it
	total   int
	cond    chan struct{}
}

// NewReplyRecorder wraps next.
func NewReplyRecorder(next http.Handler) *ReplyRecorder {
	return &ReplyRecorder{Next: next, replies: map[string][]time.Time{}, via: map[string]string{}, texts: map[string][]string{}, cond: make(chan struct{}, 1)}
}

func (rr *ReplyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/messages") {
		rr.Next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if d := time.Duration(rr.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return // the sender went away (killed) before "Graph" took the message
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	cw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
	rr.Next.ServeHTTP(cw, r)
	if cw.code != http.StatusOK {
		return
	}
	var m struct {
		Status  string `json:"status"`
		To      string `json:"to"`
		Context struct {
			MessageID string `json:"message_id"`
		} `json:"context"`
		Text struct {
			Body string `json:"body"`
		} `json:"text"`
	}
	if json.Unmarshal(body, &m) != nil || m.Status == "read" {
		return
	}
	key := inboundIDIn(m.Text.Body)
	if key == "" {
		key = m.Context.MessageID
	}
	if key == "" {
		key = "?"
	}
	rr.mu.Lock()
	rr.replies[key] = append(rr.replies[key], time.Now())
	if _, ok := rr.via[key]; !ok {
		rr.via[key] = phoneIDOf(r.URL.Path)
	}
	rr.texts[m.To] = append(rr.texts[m.To], m.Text.Body)
	rr.total++
	rr.mu.Unlock()
	if f := rr.onReply.Load(); f != nil {
		(*f)(key)
	}
	select {
	case rr.cond <- struct{}{}:
	default:
	}
}

func inboundIDIn(text string) string {
	i := strings.Index(text, "wamid.load.")
	if i < 0 {
		return ""
	}
	s := text[i:]
	if j := strings.IndexFunc(s, func(r rune) bool { return r == ' ' || r == '\n' || r == '"' }); j >= 0 {
		s = s[:j]
	}
	return s
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (c *codeWriter) WriteHeader(code int) { c.code = code; c.ResponseWriter.WriteHeader(code) }

// Replies returns a copy of the reply times per inbound id.
func (rr *ReplyRecorder) Replies() map[string][]time.Time {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	out := make(map[string][]time.Time, len(rr.replies))
	for k, v := range rr.replies {
		out[k] = slices.Clone(v)
	}
	return out
}

// Via returns, by inbound id, the phone_number_id (from the Graph path) its first reply was
// sent from.
func (rr *ReplyRecorder) Via() map[string]string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return maps.Clone(rr.via)
}

// OnReply makes the recorder call f with the inbound id of every reply it records, after
// recording it (nil: stop). f runs on the Graph double's request goroutine: keep it short.
func (rr *ReplyRecorder) OnReply(f func(id string)) {
	if f == nil {
		rr.onReply.Store(nil)
		return
	}
	rr.onReply.Store(&f)
}

// SetDelay makes every send wait d before the Graph double handles it, as a slow Graph
// would, so that senders hold work in flight (0: no delay).
func (rr *ReplyRecorder) SetDelay(d time.Duration) { rr.delay.Store(int64(d)) }

// TextsTo returns the text bodies sent to recipient (as the "to" field names it), in the
// order they reached the double.
func (rr *ReplyRecorder) TextsTo(recipient string) []string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return slices.Clone(rr.texts[recipient])
}

// WaitFor waits until every id in ids has at least one reply, or ctx ends. It returns how
// many of ids have replies.
func (rr *ReplyRecorder) WaitFor(ctx context.Context, ids []string) int {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		rr.mu.Lock()
		n := 0
		for _, id := range ids {
			if len(rr.replies[id]) > 0 {
				n++
			}
		}
		rr.mu.Unlock()
		if n == len(ids) {
			return n
		}
		select {
		case <-ctx.Done():
			return n
		case <-rr.cond:
		case <-tick.C:
		}
	}
}
