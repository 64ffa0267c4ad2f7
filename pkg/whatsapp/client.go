package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/greentic/gtc/pkg/build"
)

// DefaultTimeout bounds every Cloud API call that has no Timeout of its own.
const DefaultTimeout = 30 * time.Second

// maxResponseBody caps how much of a Graph answer gtc reads.
const maxResponseBody = 4 << 20

// ClientConfig configures a Client for one phone number.
type ClientConfig struct {
	// BaseURL is the Graph API root (default https://graph.facebook.com); APIVersion its
	// version (default v18.0).
	BaseURL, APIVersion string
	PhoneNumberID       string
	// BusinessAccountID (WABA id) is needed for ListTemplates only.
	BusinessAccountID string
	// Token is the access token. It is sent as a bearer token and never logged or put in
	// an error.
	Token      string
	HTTPClient *http.Client
	// Timeout bounds each call (default 30 s).
	Timeout time.Duration
	// Pacer paces Send; nil sends without pacing.
	Pacer *Pacer
	// Clock is used by retries (default the system clock).
	Clock Clock
	// MarketingMessages sends marketing templates (messages with Marketing set) through
	// the Marketing Messages API, POST /{phone_number_id}/marketing_messages, as Meta
	// documents; everything else goes to /messages as before.
	MarketingMessages bool
}

// Client talks to the WhatsApp Business Cloud API for one phone number.
type Client struct {
	cfg  ClientConfig
	http *http.Client
	ua   string
}

// NewClient returns a Client. Empty BaseURL and APIVersion take the defaults.
func NewClient(cfg ClientConfig) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultAPIBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{cfg: cfg, http: hc, ua: build.UserAgent()}
}

// Config returns the client's configuration.
func (c *Client) Config() ClientConfig { return c.cfg }

// Pacer returns the client's pacer (nil when it does not pace).
func (c *Client) Pacer() *Pacer { return c.cfg.Pacer }

// SendResult is Graph's answer to an accepted message: accepted, not yet delivered.
type SendResult struct {
	MessageID string `json:"message_id"`
	// WaID is the WhatsApp id Graph resolved the recipient to (contacts[0].wa_id): with
	// Input, the recipient → wa_id mapping (in Mexico, Brazil and Argentina the two differ).
	// Empty for a send to a BSUID.
	WaID string `json:"wa_id,omitempty"`
	// Input is the "to" (or "recipient") as Graph echoed it.
	Input string `json:"input,omitempty"`
	// UserID is the business-scoped user id Graph answered for a send to a BSUID.
	UserID string `json:"user_id,omitempty"`
	// Contacts is every contacts[] entry of the answer, as Graph sent it.
	Contacts []SendContact `json:"contacts,omitempty"`
	// MessageStatus is messages[0].message_status when Graph sends one (the Marketing
	// Messages API: accepted, held_for_quality_assessment, …).
	MessageStatus string `json:"message_status,omitempty"`
}

// SendContact is one contacts[] entry of a send answer: the recipient as sent (Input) and
// who Graph resolved it to.
type SendContact struct {
	Input  string `json:"input,omitempty"`
	WaID   string `json:"wa_id,omitempty"`
	UserID string `json:"user_id,omitempty"`
}

func (c *Client) url(parts ...string) string {
	esc := make([]string, len(parts))
	for i, p := range parts {
		esc[i] = url.PathEscape(p)
	}
	return c.cfg.BaseURL + "/" + c.cfg.APIVersion + "/" + strings.Join(esc, "/")
}

// Prepare fills the envelope defaults of m (messaging_product, recipient_type, a flow's
// message version) and validates it.
func Prepare(m *Message) error {
	if m.MessagingProduct == "" {
		m.MessagingProduct = MessagingProduct
	}
	if in := m.Interactive; in != nil && in.Action.Flow != nil {
		if in.Action.Flow.FlowMessageVersion == "" {
			in.Action.Flow.FlowMessageVersion = FlowMessageVersion
		}
		if in.Action.Name == "" {
			in.Action.Name = "flow"
		}
	}
	if m.RecipientType == "" {
		m.RecipientType = RecipientIndividual
	}
	return m.Validate()
}

// NewSendRequest builds the HTTP request that sends m (after Prepare). Send uses it; it is
// exported for dry runs and benchmarks.
func (c *Client) NewSendRequest(ctx context.Context, m *Message) (*http.Request, error) {
	if err := Prepare(m); err != nil {
		return nil, err
	}
	w, ep := m.Wire(), c.endpoint(m)
	if ep == EndpointMarketingMessages && w.Context != nil {
		// The Marketing Messages API takes no reply context (Meta's
		// MarketingMessageRequestPayload): a flow's marketing template goes without it.
		cp := *w
		cp.Context = nil
		w = &cp
	}
	body, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return c.newRequest(ctx, http.MethodPost, c.url(c.cfg.PhoneNumberID, ep), "application/json", bytes.NewReader(body))
}

// Endpoints a message can be sent to.
const (
	EndpointMessages          = "messages"
	EndpointMarketingMessages = "marketing_messages"
)

// endpoint is where m goes: marketing_messages for a marketing template when the client
// uses the Marketing Messages API, messages otherwise.
func (c *Client) endpoint(m *Message) string {
	if c.cfg.MarketingMessages && m.Marketing && m.Type == TypeTemplate {
		return EndpointMarketingMessages
	}
	return EndpointMessages
}

func (c *Client) newRequest(ctx context.Context, method, u, contentType string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// do runs req with the call timeout and decodes a 2xx JSON answer into out. Errors are
// *GraphError (Graph answers and transport failures alike); none carries the token.
func (c *Client) do(req *http.Request, out any) error {
	parent := req.Context()
	ctx, cancel := context.WithTimeout(parent, c.cfg.Timeout)
	defer cancel()
	// Once a connection carries the request, Graph may act on it whatever happens next.
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }})
	req = req.WithContext(ctx)
	resp, err := c.http.Do(req)
	if err != nil {
		if parent.Err() != nil {
			if wrote.Load() {
				return &UnclearError{Err: parent.Err()}
			}
			return parent.Err() // the caller gave up: not a Cloud API problem
		}
		// url.Error holds the URL, which has no secret (the token travels in a header).
		return &GraphError{Class: ClassTransient, Err: transportErr(err), Unclear: wrote.Load()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return &GraphError{HTTPStatus: resp.StatusCode, Class: ClassTransient, Err: fmt.Errorf("read answer: %w", err), Unclear: true}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return DecodeGraphError(resp.StatusCode, body)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		// A 2xx was answered: the call was carried out, its answer is lost.
		return &UnclearError{Err: fmt.Errorf("decode answer of %s %s: %w", req.Method, req.URL.Path, err)}
	}
	return nil
}

func transportErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("%s %s: timed out", ue.Op, ue.URL)
		}
		return fmt.Errorf("%s %s: %w", ue.Op, ue.URL, ue.Err)
	}
	return err
}

type sendAnswer struct {
	Contacts []SendContact `json:"contacts"`
	Messages []struct {
		ID            string `json:"id"`
		MessageStatus string `json:"message_status"`
	} `json:"messages"`
}

// Send validates m, waits for the pacer and makes ONE attempt. A refused message is a
// *ValidationError; a Graph answer other than 2xx is a *GraphError.
func (c *Client) Send(ctx context.Context, m *Message) (*SendResult, error) {
	req, err := c.NewSendRequest(ctx, m)
	if err != nil {
		return nil, err
	}
	if c.cfg.Pacer != nil {
		if err := c.cfg.Pacer.Wait(ctx, m.RecipientKey()); err != nil {
			return nil, err
		}
	}
	return c.send(req, m.RecipientKey())
}

// SendNow is Send without the pacer, for callers that paced themselves (Pacer.Reserve).
func (c *Client) SendNow(ctx context.Context, m *Message) (*SendResult, error) {
	req, err := c.NewSendRequest(ctx, m)
	if err != nil {
		return nil, err
	}
	return c.send(req, m.RecipientKey())
}

func (c *Client) send(req *http.Request, to string) (*SendResult, error) {
	var ans sendAnswer
	if err := c.do(req, &ans); err != nil {
		var ge *GraphError
		if errors.As(err, &ge) {
			ge.Recipient = to
		}
		return nil, fmt.Errorf("send to %s: %w", to, err)
	}
	if len(ans.Messages) == 0 || ans.Messages[0].ID == "" {
		return nil, fmt.Errorf("send to %s: %w", to, &UnclearError{Err: errors.New("the answer has no message id")})
	}
	r := &SendResult{MessageID: ans.Messages[0].ID, MessageStatus: ans.Messages[0].MessageStatus, Contacts: ans.Contacts}
	if len(ans.Contacts) > 0 {
		r.WaID, r.Input, r.UserID = ans.Contacts[0].WaID, ans.Contacts[0].Input, ans.Contacts[0].UserID
	}
	return r, nil
}

// MarkRead marks an inbound message read; with typing it also shows the typing indicator
// (cleared after 25 s or when gtc replies).
func (c *Client) MarkRead(ctx context.Context, wamid string, typing bool) error {
	if wamid == "" {
		return errors.New("mark read: message id is empty")
	}
	body := map[string]any{"messaging_product": MessagingProduct, "status": "read", "message_id": wamid}
	if typing {
		body["typing_indicator"] = map[string]string{"type": "text"}
	}
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("mark read: %w", err)
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.url(c.cfg.PhoneNumberID, "messages"), "application/json", bytes.NewReader(data))
	if err != nil {
		return err
	}
	if err := c.do(req, nil); err != nil {
		return fmt.Errorf("mark %s read: %w", wamid, err)
	}
	return nil
}

// Media size limits of the Cloud API, by kind.
var MaxMediaSize = map[string]int64{
	TypeImage:    5 << 20,
	TypeVideo:    16 << 20,
	TypeAudio:    16 << 20,
	TypeDocument: 100 << 20,
	TypeSticker:  500 << 10,
}

// UploadMedia uploads a file (multipart, POST /{phone_number_id}/media) and returns its
// media id. mimeType is required by the Cloud API (e.g. image/jpeg).
func (c *Client) UploadMedia(ctx context.Context, filename, mimeType string, r io.Reader) (string, error) {
	if mimeType == "" {
		return "", fmt.Errorf("upload %s: the MIME type is unknown: give a file with a known extension", filename)
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.WriteField("messaging_product", MessagingProduct); err != nil {
		return "", fmt.Errorf("upload %s: %w", filename, err)
	}
	if err := w.WriteField("type", mimeType); err != nil {
		return "", fmt.Errorf("upload %s: %w", filename, err)
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filepath.Base(filename)))
	h.Set("Content-Type", mimeType)
	if _, err := w.CreatePart(h); err != nil {
		return "", fmt.Errorf("upload %s: %w", filename, err)
	}
	prefix := buf.Len()
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("upload %s: %w", filename, err)
	}
	head, trailer := buf.Bytes()[:prefix], buf.Bytes()[prefix:]
	// A file is streamed with a known length instead of being held in memory (documents may
	// be 100 MB); any other reader is read into memory first.
	var body io.Reader
	var length int64
	if f, ok := r.(interface {
		io.Seeker
		Stat() (os.FileInfo, error)
	}); ok {
		st, err := f.Stat()
		if err != nil {
			return "", fmt.Errorf("upload %s: %w", filename, err)
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return "", fmt.Errorf("upload %s: %w", filename, err)
		}
		size := st.Size() - off
		body = io.MultiReader(bytes.NewReader(head), io.LimitReader(r, size), bytes.NewReader(trailer))
		length = int64(len(head)) + size + int64(len(trailer))
	} else {
		data, err := io.ReadAll(r)
		if err != nil {
			return "", fmt.Errorf("upload %s: read: %w", filename, err)
		}
		all := make([]byte, 0, len(head)+len(data)+len(trailer))
		all = append(append(append(all, head...), data...), trailer...)
		body, length = bytes.NewReader(all), int64(len(all))
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.url(c.cfg.PhoneNumberID, "media"), w.FormDataContentType(), body)
	if err != nil {
		return "", err
	}
	req.ContentLength = length
	var ans struct {
		ID string `json:"id"`
	}
	if err := c.do(req, &ans); err != nil {
		return "", fmt.Errorf("upload %s: %w", filename, err)
	}
	if ans.ID == "" {
		return "", fmt.Errorf("upload %s: the answer has no media id", filename)
	}
	return ans.ID, nil
}

// MediaInfo describes uploaded or received media. URL is valid for 5 minutes and must be
// fetched with the bearer token.
type MediaInfo struct {
	ID       string `json:"id"`
	URL      string `json:"url"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	FileSize int64  `json:"file_size"`
}

// MediaInfo looks a media id up (GET /{media_id}).
func (c *Client) MediaInfo(ctx context.Context, mediaID string) (*MediaInfo, error) {
	if mediaID == "" {
		return nil, errors.New("media info: media id is empty")
	}
	req, err := c.newRequest(ctx, http.MethodGet, c.url(mediaID), "", nil)
	if err != nil {
		return nil, err
	}
	var mi MediaInfo
	if err := c.do(req, &mi); err != nil {
		return nil, fmt.Errorf("media %s: %w", mediaID, err)
	}
	return &mi, nil
}

// TemplateInfo is one message template of the business account.
type TemplateInfo struct {
	ID         string              `json:"id,omitempty"`
	Name       string              `json:"name"`
	Language   string              `json:"language"`
	Status     string              `json:"status"`
	Category   string              `json:"category"`
	Components []TemplateComponent `json:"components,omitempty"`
	// QualityScore is Meta's quality rating of the template (GREEN, YELLOW, RED, UNKNOWN)
	// when Graph reports one.
	QualityScore *TemplateQuality `json:"quality_score,omitempty"`
	// RejectedReason is why Meta rejected (or paused) it: NONE when there is no reason.
	RejectedReason string `json:"rejected_reason,omitempty"`
}

// TemplateQuality is a template's quality_score as Graph reports it.
type TemplateQuality struct {
	Score string `json:"score"`
	Date  int64  `json:"date,omitempty"` // Unix seconds of the rating
}

// Quality is the template's quality score, "" when Graph gave none.
func (t *TemplateInfo) Quality() string {
	if t.QualityScore == nil {
		return ""
	}
	return t.QualityScore.Score
}

// Sendable reports whether Meta accepts sends of the template now: its status is APPROVED.
// A template that is PAUSED, DISABLED, REJECTED, PENDING, … is refused by Graph.
func (t *TemplateInfo) Sendable() bool { return t.Status == "APPROVED" }

// TemplateComponent is a part of a template as Graph describes it.
type TemplateComponent struct {
	Type    string           `json:"type"`
	Format  string           `json:"format,omitempty"`
	Text    string           `json:"text,omitempty"`
	Buttons []TemplateButton `json:"buttons,omitempty"`
	Example json.RawMessage  `json:"example,omitempty"`
}

// TemplateButton is a button of a template.
type TemplateButton struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
	URL  string `json:"url,omitempty"`
}

// Parameters lists the placeholders of a template, "component:name" in order, e.g.
// "body:1", "body:first_name", "header:image", "button[0]:url".
func (t *TemplateInfo) Parameters() []string {
	var out []string
	for _, comp := range t.Components {
		typ := strings.ToLower(comp.Type)
		switch {
		case typ == "header" && comp.Format != "" && !strings.EqualFold(comp.Format, "text"):
			out = append(out, "header:"+strings.ToLower(comp.Format))
		case typ == "buttons":
			for i, b := range comp.Buttons {
				if strings.EqualFold(b.Type, "url") && strings.Contains(b.URL, "{{") {
					out = append(out, fmt.Sprintf("button[%d]:url", i))
				}
			}
		default:
			for _, p := range placeholders(comp.Text) {
				out = append(out, typ+":"+p)
			}
		}
	}
	return out
}

// placeholders returns the {{name}} / {{1}} placeholders of a template text, in order.
func placeholders(s string) []string {
	var out []string
	seen := map[string]bool{}
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			return out
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return out
		}
		name := strings.TrimSpace(s[i+2 : i+j])
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
		s = s[i+j+2:]
	}
}

// ErrNoBusinessAccount is returned by ListTemplates when the client has no business account id.
var ErrNoBusinessAccount = errors.New("business_account_id is not set: add it to the answers (business_account_id, the WhatsApp Business Account id from WhatsApp Manager) and run gtc setup again")

// templatePageSize is how many templates one page asks for.
const templatePageSize = 100

// maxTemplatePages bounds cursor paging against a misbehaving server.
const maxTemplatePages = 1000

// ListTemplates lists every template of the business account, following the cursors.
func (c *Client) ListTemplates(ctx context.Context) ([]TemplateInfo, error) {
	if c.cfg.BusinessAccountID == "" {
		return nil, ErrNoBusinessAccount
	}
	var all []TemplateInfo
	after := ""
	for page := 0; page < maxTemplatePages; page++ {
		q := url.Values{}
		q.Set("fields", "name,language,status,category,components,quality_score,rejected_reason")
		q.Set("limit", fmt.Sprint(templatePageSize))
		if after != "" {
			q.Set("after", after)
		}
		req, err := c.newRequest(ctx, http.MethodGet, c.url(c.cfg.BusinessAccountID, "message_templates")+"?"+q.Encode(), "", nil)
		if err != nil {
			return nil, err
		}
		var ans struct {
			Data   []TemplateInfo `json:"data"`
			Paging struct {
				Cursors struct {
					After string `json:"after"`
				} `json:"cursors"`
				Next string `json:"next"`
			} `json:"paging"`
		}
		if err := c.do(req, &ans); err != nil {
			return nil, fmt.Errorf("list templates: %w", err)
		}
		all = append(all, ans.Data...)
		next := ans.Paging.Cursors.After
		if len(ans.Data) == 0 || next == "" || next == after || ans.Paging.Next == "" {
			return all, nil
		}
		after = next
	}
	return nil, fmt.Errorf("list templates: more than %d pages: the server keeps returning cursors", maxTemplatePages)
}

// PhoneNumberInfo describes the phone number.
type PhoneNumberInfo struct {
	ID                 string `json:"id"`
	DisplayPhoneNumber string `json:"display_phone_number"`
	VerifiedName       string `json:"verified_name"`
	QualityRating      string `json:"quality_rating"`
	Throughput         struct {
		Level string `json:"level"`
	} `json:"throughput"`
	// MessagingLimit is the business portfolio's messaging limit: TIER_250, TIER_2K,
	// TIER_10K, TIER_100K or TIER_UNLIMITED (see MessagingLimitUsers).
	MessagingLimit string `json:"whatsapp_business_manager_messaging_limit"`
}

// MessagingLimitUsers reads a messaging limit tier ("TIER_2K"): the users a portfolio may
// reach outside a window in 24 hours, 0 for TIER_UNLIMITED; ok is false for a value it does
// not know.
func MessagingLimitUsers(tier string) (n int, ok bool) {
	t, found := strings.CutPrefix(tier, "TIER_")
	if !found || t == "" {
		return 0, false
	}
	if t == "UNLIMITED" {
		return 0, true
	}
	mult := 1
	if k, isK := strings.CutSuffix(t, "K"); isK {
		t, mult = k, 1000
	}
	v, err := strconv.Atoi(t)
	if err != nil || v <= 0 {
		return 0, false
	}
	return v * mult, true
}

// PhoneNumberInfo reads the phone number's display number, verified name, quality rating,
// throughput level and its business portfolio's messaging limit.
func (c *Client) PhoneNumberInfo(ctx context.Context) (*PhoneNumberInfo, error) {
	req, err := c.newRequest(ctx, http.MethodGet, c.url(c.cfg.PhoneNumberID)+"?fields=display_phone_number,verified_name,quality_rating,throughput,whatsapp_business_manager_messaging_limit", "", nil)
	if err != nil {
		return nil, err
	}
	var pi PhoneNumberInfo
	if err := c.do(req, &pi); err != nil {
		return nil, fmt.Errorf("phone number %s: %w", c.cfg.PhoneNumberID, err)
	}
	return &pi, nil
}

// String describes the configuration without the token, so a logged or printed
// ClientConfig never leaks it.
func (c ClientConfig) String() string {
	tok := "unset"
	if c.Token != "" {
		tok = "[redacted]"
	}
	return fmt.Sprintf("{BaseURL:%s APIVersion:%s PhoneNumberID:%s BusinessAccountID:%s Token:%s Timeout:%s}",
		c.BaseURL, c.APIVersion, c.PhoneNumberID, c.BusinessAccountID, tok, c.Timeout)
}

// GoString is String, for %#v.
func (c ClientConfig) GoString() string { return "whatsapp.ClientConfig" + c.String() }

// LogValue keeps the token out of structured logs.
func (c ClientConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

// String describes the client without its token.
func (c *Client) String() string { return "whatsapp.Client" + c.cfg.String() }
