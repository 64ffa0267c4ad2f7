package graphfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// StatusWebhook says where to post status webhooks for accepted sends.
type StatusWebhook struct {
	// URL receives the POSTs (e.g. a gtc serve callback URL). Empty turns webhooks off.
	URL string
	// AppSecret signs each body with X-Hub-Signature-256; empty sends no signature header.
	AppSecret string
	// Statuses is the sequence posted for each accepted send; nil means sent, delivered,
	// read. A send with an Async fault gets "failed" instead.
	Statuses []string
	// HTTPClient posts the webhooks; nil uses a client with a 10 s timeout.
	HTTPClient *http.Client
	// Duplicates posts each status webhook this many extra times, byte for byte, the way
	// Meta redelivers (for testing deduplication).
	Duplicates int
	// PricingModel is the pricing statuses report: "" or "CBP" (per conversation, with a
	// conversation object, as before July 2025), or "PMP" (per message: billable,
	// pricing_model, category and type, no conversation object).
	PricingModel string
}

// Webhook is one status webhook the fake posted (or tried to).
type Webhook struct {
	MessageID  string
	Status     string // sent, delivered, read, failed
	Body       []byte
	HTTPStatus int   // the receiver's answer, 0 when the POST failed
	Err        error // transport error
}

type hookJob struct {
	id, to   string
	biz      string // biz_opaque_callback_data of the send, echoed in every status
	category string // pricing category: service, utility, marketing, authentication
	fault    *Fault
}

// hookQueue posts status webhooks from one goroutine, in send order.
type hookQueue struct {
	s      *Server
	cfg    StatusWebhook
	client *http.Client

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []hookJob
	busy    bool
	closed  bool
	sent    []Webhook
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	started bool
}

func newHookQueue(s *Server, cfg StatusWebhook) *hookQueue {
	q := &hookQueue{s: s, cfg: cfg, client: cfg.HTTPClient, done: make(chan struct{})}
	q.cond = sync.NewCond(&q.mu)
	q.ctx, q.cancel = context.WithCancel(context.Background())
	if q.client == nil {
		q.client = &http.Client{Timeout: 10 * time.Second}
	}
	if len(q.cfg.Statuses) == 0 {
		q.cfg.Statuses = []string{"sent", "delivered", "read"}
	}
	if cfg.URL == "" {
		close(q.done)
		return q
	}
	q.started = true
	go q.run()
	return q
}

func (q *hookQueue) enqueue(job hookJob) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.started || q.closed || q.cfg.URL == "" {
		return
	}
	q.queue = append(q.queue, job)
	q.cond.Broadcast()
}

func (q *hookQueue) run() {
	defer close(q.done)
	for {
		q.mu.Lock()
		for len(q.queue) == 0 && !q.closed {
			q.cond.Wait()
		}
		if q.closed {
			q.queue = nil
			q.mu.Unlock()
			q.cond.Broadcast()
			return
		}
		job := q.queue[0]
		q.queue = q.queue[1:]
		q.busy = true
		q.mu.Unlock()

		q.deliver(job)

		q.mu.Lock()
		q.busy = false
		q.mu.Unlock()
		q.cond.Broadcast()
	}
}

func (q *hookQueue) deliver(job hookJob) {
	cfg, client := q.config()
	statuses := cfg.Statuses
	if job.fault != nil {
		statuses = []string{"sent", "failed"}
	}
	base := q.s.clock()
	for i, st := range statuses {
		body := q.s.statusPayload(job, st, base.Add(time.Duration(i)*time.Second))
		for n := 0; n <= max(0, cfg.Duplicates); n++ {
			if !q.post(job, st, body, cfg, client) {
				return
			}
		}
	}
}

// config is the queue's settings now (SetStatusWebhook may change them).
func (q *hookQueue) config() (StatusWebhook, *http.Client) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cfg, q.client
}

// SetStatusWebhook points the status webhooks of the sends accepted from now on at cfg:
// for a receiver started after the fake (a gtc serve whose address the fake's Graph URL
// had to be known for). An empty cfg.URL turns them off; webhooks of earlier sends still
// queued go out under the new settings.
func (s *Server) SetStatusWebhook(cfg StatusWebhook) {
	q := s.hooks
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(cfg.Statuses) == 0 {
		cfg.Statuses = []string{"sent", "delivered", "read"}
	}
	if cfg.HTTPClient != nil {
		q.client = cfg.HTTPClient
	}
	q.cfg = cfg
	if cfg.URL != "" && !q.started && !q.closed {
		q.started = true
		q.done = make(chan struct{})
		go q.run()
	}
}

// post sends one webhook and records it; false when the queue is closing.
func (q *hookQueue) post(job hookJob, st string, body []byte, cfg StatusWebhook, client *http.Client) bool {
	wh := Webhook{MessageID: job.id, Status: st, Body: body}
	req, err := http.NewRequestWithContext(q.ctx, http.MethodPost, cfg.URL, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "facebookexternalua")
		if cfg.AppSecret != "" {
			req.Header.Set("X-Hub-Signature-256", Sign(body, cfg.AppSecret))
		}
		var resp *http.Response
		resp, err = client.Do(req)
		if err == nil {
			wh.HTTPStatus = resp.StatusCode
			_ = resp.Body.Close()
		}
	}
	wh.Err = err
	q.mu.Lock()
	q.sent = append(q.sent, wh)
	q.mu.Unlock()
	return q.ctx.Err() == nil
}

// flush waits until every queued webhook was posted (or the queue closed).
func (q *hookQueue) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for (len(q.queue) > 0 || q.busy) && !q.closed {
		q.cond.Wait()
	}
}

func (q *hookQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cancel()
	q.cond.Broadcast()
	<-q.done
}

// Flush blocks until every status webhook of the sends accepted so far was posted.
func (s *Server) Flush() { s.hooks.flush() }

// Webhooks returns the status webhooks posted so far (call Flush first to wait for them).
func (s *Server) Webhooks() []Webhook {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return append([]Webhook(nil), s.hooks.sent...)
}

// Sign returns the X-Hub-Signature-256 header value for body: "sha256=" + hex HMAC-SHA256.
func Sign(body []byte, appSecret string) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// statusPayload builds a status webhook exactly like Meta's.
func (s *Server) statusPayload(job hookJob, status string, at time.Time) []byte {
	q := s.hooks
	ts := strconv.FormatInt(at.Unix(), 10)
	st := map[string]any{
		"id":        job.id,
		"status":    status,
		"timestamp": ts,
	}
	if bsuidRe.MatchString(job.to) { // sent to a business-scoped user id: no phone number
		st["recipient_user_id"] = job.to
	} else {
		st["recipient_id"] = s.waID(job.to)
	}
	if job.biz != "" {
		st["biz_opaque_callback_data"] = job.biz
	}
	category := job.category
	if category == "" {
		category = "service"
	}
	switch {
	case (status == "sent" || status == "delivered") && q.pricingModel() == "PMP":
		free := category == "service"
		typ := "regular"
		if free {
			typ = "free_customer_service"
		}
		st["pricing"] = map[string]any{"billable": !free, "pricing_model": "PMP", "category": category, "type": typ}
	case status == "sent" || status == "delivered":
		st["conversation"] = map[string]any{
			"id":                   conversationID(job.to),
			"expiration_timestamp": strconv.FormatInt(at.Add(24*time.Hour).Unix(), 10),
			"origin":               map[string]string{"type": category},
		}
		st["pricing"] = map[string]any{"billable": true, "pricing_model": "CBP", "category": category}
	}
	if status == "failed" && job.fault != nil {
		b := job.fault.body()
		details := b.Message
		if b.ErrorData != nil {
			details = b.ErrorData.Details
		}
		st["errors"] = []map[string]any{{
			"code":       job.fault.Code,
			"title":      b.Message,
			"message":    b.Message,
			"error_data": map[string]string{"details": details},
			"href":       "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
		}}
	}
	payload := map[string]any{
		"object": "whatsapp_business_account",
		"entry": []map[string]any{{
			"id": s.opts.BusinessAccountID,
			"changes": []map[string]any{{
				"field": "messages",
				"value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata": map[string]string{
						"display_phone_number": s.opts.DisplayPhoneNumber,
						"phone_number_id":      s.opts.PhoneNumberID,
					},
					"statuses": []map[string]any{st},
				},
			}},
		}},
	}
	b, _ := json.Marshal(payload)
	return b
}

func conversationID(to string) string {
	sum := sha256.Sum256([]byte("conv:" + to))
	return hex.EncodeToString(sum[:16])
}

func (q *hookQueue) pricingModel() string {
	if q == nil {
		return ""
	}
	cfg, _ := q.config()
	return cfg.PricingModel
}
