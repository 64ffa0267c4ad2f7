package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "EAAG-secret-token"

// graphStub is a small Graph API for client tests: it answers from a queue of responses and
// records every request. It fails the test when a queued answer was never asked for.
type graphStub struct {
	t       *testing.T
	mu      sync.Mutex
	answers []stubAnswer
	reqs    []stubReq
	srv     *httptest.Server
}

type stubAnswer struct {
	status int
	body   string
}

type stubReq struct {
	Method, Path, Query, Auth, UA, ContentType string
	Body                                       []byte
}

func newGraphStub(t *testing.T, answers ...stubAnswer) *graphStub {
	g := &graphStub{t: t, answers: answers}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.reqs = append(g.reqs, stubReq{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"),
			r.Header.Get("User-Agent"), r.Header.Get("Content-Type"), body})
		a := stubAnswer{200, `{"messaging_product":"whatsapp","contacts":[{"input":"+4915123456789","wa_id":"4915123456789"}],"messages":[{"id":"wamid.OK"}]}`}
		if len(g.answers) > 0 {
			a, g.answers = g.answers[0], g.answers[1:]
		}
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(func() {
		g.srv.Close()
		if len(g.answers) > 0 {
			t.Errorf("graph stub: %d queued answers were never requested", len(g.answers))
		}
	})
	return g
}

func (g *graphStub) requests() []stubReq {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]stubReq(nil), g.reqs...)
}

func (g *graphStub) client(clk Clock) *Client {
	return NewClient(ClientConfig{BaseURL: g.srv.URL + "/", APIVersion: "v23.0", PhoneNumberID: "1234",
		BusinessAccountID: "5678", Token: testToken, Clock: clk, Timeout: 5 * time.Second})
}

func textMsg(to, body string) *Message {
	return &Message{To: to, Type: TypeText, Text: &Text{Body: body}}
}

func TestSend(t *testing.T) {
	g := newGraphStub(t)
	res, err := g.client(nil).Send(context.Background(), textMsg("+4915123456789", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if res.MessageID != "wamid.OK" || res.WaID != "4915123456789" {
		t.Errorf("result = %+v", res)
	}
	r := g.requests()[0]
	if r.Method != "POST" || r.Path != "/v23.0/1234/messages" {
		t.Errorf("request %s %s", r.Method, r.Path)
	}
	if r.Auth != "Bearer "+testToken || !strings.HasPrefix(r.UA, "gtc/") || r.ContentType != "application/json" {
		t.Errorf("headers: auth %q ua %q ct %q", r.Auth, r.UA, r.ContentType)
	}
	var got map[string]any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatal(err)
	}
	if got["messaging_product"] != "whatsapp" || got["recipient_type"] != "individual" || got["to"] != "+4915123456789" {
		t.Errorf("envelope = %v", got)
	}
}

func TestSendRefusesInvalidWithoutCalling(t *testing.T) {
	g := newGraphStub(t)
	_, err := g.client(nil).Send(context.Background(), textMsg("+4915123456789", strings.Repeat("x", MaxTextBody+1)))
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "text.body: is 4097 characters, the limit is 4096") {
		t.Fatalf("err = %v", err)
	}
	if n := len(g.requests()); n != 0 {
		t.Errorf("%d requests made for an invalid message", n)
	}
}

func TestSendGraphErrorNeverHasToken(t *testing.T) {
	g := newGraphStub(t, stubAnswer{401, `{"error":{"message":"Error validating access token","type":"OAuthException","code":190,"fbtrace_id":"AbC"}}`})
	_, err := g.client(nil).Send(context.Background(), textMsg("+4915123456789", "hi"))
	if ClassOf(err) != ClassAuth || CodeOf(err) != 190 {
		t.Fatalf("err = %v (class %s)", err, ClassOf(err))
	}
	if strings.Contains(err.Error(), testToken) || strings.Contains(fmt.Sprintf("%+v", err), testToken) {
		t.Errorf("error leaks the token: %v", err)
	}
	if !strings.Contains(AdviceOf(err), "access token") {
		t.Errorf("advice = %q", AdviceOf(err))
	}
}

func TestSendTimeoutIsTransient(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	c := NewClient(ClientConfig{BaseURL: srv.URL, PhoneNumberID: "1", Token: testToken, Timeout: 20 * time.Millisecond})
	_, err := c.Send(context.Background(), textMsg("+4915123456789", "hi"))
	if ClassOf(err) != ClassTransient {
		t.Fatalf("timeout classified %s: %v", ClassOf(err), err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error leaks the token: %v", err)
	}
}

func TestSendConnectionRefusedIsTransient(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := NewClient(ClientConfig{BaseURL: url, PhoneNumberID: "1", Token: testToken})
	_, err := c.Send(context.Background(), textMsg("+4915123456789", "hi"))
	if ClassOf(err) != ClassTransient {
		t.Fatalf("connection refused classified %s: %v", ClassOf(err), err)
	}
}

func TestSendCancelledIsNotTransient(t *testing.T) {
	g := newGraphStub(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := g.client(nil).Send(ctx, textMsg("+4915123456789", "hi"))
	if !errors.Is(err, context.Canceled) || ClassOf(err) == ClassTransient {
		t.Fatalf("err = %v (class %s)", err, ClassOf(err))
	}
}

func TestMarkRead(t *testing.T) {
	for _, typing := range []bool{false, true} {
		t.Run(fmt.Sprint(typing), func(t *testing.T) {
			g := newGraphStub(t, stubAnswer{200, `{"success":true}`})
			if err := g.client(nil).MarkRead(context.Background(), "wamid.IN", typing); err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			json.Unmarshal(g.requests()[0].Body, &got)
			if got["status"] != "read" || got["message_id"] != "wamid.IN" {
				t.Errorf("body = %v", got)
			}
			if _, ok := got["typing_indicator"]; ok != typing {
				t.Errorf("typing_indicator present = %v, want %v", ok, typing)
			}
		})
	}
}

func TestUploadMediaAndInfo(t *testing.T) {
	g := newGraphStub(t, stubAnswer{200, `{"id":"media-1"}`},
		stubAnswer{200, `{"id":"media-1","url":"https://lookaside/x","mime_type":"image/png","sha256":"ab","file_size":3,"messaging_product":"whatsapp"}`})
	c := g.client(nil)
	id, err := c.UploadMedia(context.Background(), "/tmp/pic.png", "image/png", strings.NewReader("PNG"))
	if err != nil || id != "media-1" {
		t.Fatalf("upload = %q, %v", id, err)
	}
	up := g.requests()[0]
	if up.Path != "/v23.0/1234/media" || !strings.HasPrefix(up.ContentType, "multipart/form-data") {
		t.Errorf("upload %s %s", up.Path, up.ContentType)
	}
	for _, want := range []string{`name="messaging_product"`, "whatsapp", `filename="pic.png"`, "Content-Type: image/png", "PNG"} {
		if !strings.Contains(string(up.Body), want) {
			t.Errorf("multipart body lacks %q", want)
		}
	}
	mi, err := c.MediaInfo(context.Background(), "media-1")
	if err != nil || mi.MimeType != "image/png" || mi.FileSize != 3 || mi.URL == "" {
		t.Fatalf("media info = %+v, %v", mi, err)
	}
	if r := g.requests()[1]; r.Method != "GET" || r.Path != "/v23.0/media-1" {
		t.Errorf("media info request %s %s", r.Method, r.Path)
	}
}

func TestListTemplatesPaging(t *testing.T) {
	g := newGraphStub(t,
		stubAnswer{200, `{"data":[{"name":"hello_world","language":"en_US","status":"APPROVED","category":"UTILITY","components":[{"type":"BODY","text":"Hello {{1}}, your order {{order_id}}"}]}],"paging":{"cursors":{"before":"b","after":"c1"},"next":"https://next"}}`},
		stubAnswer{200, `{"data":[{"name":"promo","language":"de","status":"PENDING","category":"MARKETING","components":[{"type":"HEADER","format":"IMAGE"},{"type":"BUTTONS","buttons":[{"type":"URL","text":"Go","url":"https://x/{{1}}"},{"type":"QUICK_REPLY","text":"Stop"}]}]}],"paging":{"cursors":{"before":"c1","after":"c2"}}}`})
	ts, err := g.client(nil).ListTemplates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Name != "hello_world" || ts[1].Status != "PENDING" {
		t.Fatalf("templates = %+v", ts)
	}
	if got := strings.Join(ts[0].Parameters(), ","); got != "body:1,body:order_id" {
		t.Errorf("params 0 = %s", got)
	}
	if got := strings.Join(ts[1].Parameters(), ","); got != "header:image,button[0]:url" {
		t.Errorf("params 1 = %s", got)
	}
	reqs := g.requests()
	if reqs[0].Path != "/v23.0/5678/message_templates" || !strings.Contains(reqs[0].Query, "fields=name%2Clanguage%2Cstatus%2Ccategory%2Ccomponents") {
		t.Errorf("first page %s?%s", reqs[0].Path, reqs[0].Query)
	}
	if !strings.Contains(reqs[1].Query, "after=c1") {
		t.Errorf("second page query %s", reqs[1].Query)
	}
}

func TestListTemplatesNeedsBusinessAccount(t *testing.T) {
	c := NewClient(ClientConfig{BaseURL: "http://127.0.0.1:1", PhoneNumberID: "1", Token: testToken})
	if _, err := c.ListTemplates(context.Background()); !errors.Is(err, ErrNoBusinessAccount) {
		t.Fatalf("err = %v", err)
	}
}

func TestPhoneNumberInfo(t *testing.T) {
	g := newGraphStub(t, stubAnswer{200, `{"id":"1234","display_phone_number":"+1 555 0100","verified_name":"Acme","quality_rating":"GREEN","throughput":{"level":"STANDARD"},"whatsapp_business_manager_messaging_limit":"TIER_10K"}`})
	pi, err := g.client(nil).PhoneNumberInfo(context.Background())
	if err != nil || pi.VerifiedName != "Acme" || pi.Throughput.Level != "STANDARD" || pi.MessagingLimit != "TIER_10K" {
		t.Fatalf("info = %+v, %v", pi, err)
	}
	if r := g.requests()[0]; r.Path != "/v23.0/1234" || !strings.Contains(r.Query, "quality_rating") || !strings.Contains(r.Query, "whatsapp_business_manager_messaging_limit") {
		t.Errorf("request %s?%s", r.Path, r.Query)
	}
}

func TestMessagingLimitUsers(t *testing.T) {
	for _, tt := range []struct {
		tier string
		n    int
		ok   bool
	}{
		{"TIER_250", 250, true}, {"TIER_2K", 2000, true}, {"TIER_10K", 10000, true}, {"TIER_100K", 100000, true},
		{"TIER_UNLIMITED", 0, true}, {"TIER_1K", 1000, true}, {"TIER_50", 50, true},
		{"", 0, false}, {"TIER_", 0, false}, {"TIER_XK", 0, false}, {"2K", 0, false}, {"TIER_-1", 0, false},
	} {
		if n, ok := MessagingLimitUsers(tt.tier); n != tt.n || ok != tt.ok {
			t.Errorf("MessagingLimitUsers(%q) = %d, %v; want %d, %v", tt.tier, n, ok, tt.n, tt.ok)
		}
	}
}

func BenchmarkBuildAndEncodeRequest(b *testing.B) {
	c := NewClient(ClientConfig{BaseURL: "https://graph.example", PhoneNumberID: "1234", Token: testToken})
	ctx := context.Background()
	idx := "0"
	b.ReportAllocs()
	for b.Loop() {
		m := &Message{To: "+4915123456789", Type: TypeTemplate, Template: &Template{Name: "order_update",
			Language: Language{Code: "en"}, Components: []Component{
				{Type: "body", Parameters: []Parameter{{Type: "text", Text: "Ada"}, {Type: "text", Text: "A-1234"}}},
				{Type: "button", SubType: "quick_reply", Index: &idx, Parameters: []Parameter{{Type: "payload", Payload: "track"}}}}}}
		if _, err := c.NewSendRequest(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

func TestConfigNeverPrintsToken(t *testing.T) {
	c := NewClient(ClientConfig{PhoneNumberID: "1", Token: testToken})
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("client", "config", c.Config(), "client", c)
	for _, s := range []string{fmt.Sprint(c.Config()), fmt.Sprintf("%+v", c.Config()), fmt.Sprintf("%#v", c.Config()),
		fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), logs.String()} {
		if strings.Contains(s, testToken) {
			t.Errorf("token printed: %s", s)
		}
	}
}

func TestUploadMediaStreamsFiles(t *testing.T) {
	path := t.TempDir() + "/doc.pdf"
	content := strings.Repeat("%PDF-1.4 data ", 1000)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := newGraphStub(t, stubAnswer{200, `{"id":"m-file"}`}, stubAnswer{200, `{"id":"m-mem"}`})
	c := g.client(nil)
	if id, err := c.UploadMedia(context.Background(), path, "application/pdf", f); err != nil || id != "m-file" {
		t.Fatalf("file upload = %q, %v", id, err)
	}
	if id, err := c.UploadMedia(context.Background(), path, "application/pdf", strings.NewReader(content)); err != nil || id != "m-mem" {
		t.Fatalf("reader upload = %q, %v", id, err)
	}
	reqs := g.requests()
	for i, r := range reqs {
		mt, params, err := mime.ParseMediaType(r.ContentType)
		if err != nil || mt != "multipart/form-data" {
			t.Fatalf("request %d content type %q", i, r.ContentType)
		}
		mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
		fields := map[string]string{}
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			data, _ := io.ReadAll(p)
			fields[p.FormName()] = string(data)
		}
		if fields["messaging_product"] != "whatsapp" || fields["type"] != "application/pdf" || fields["file"] != content {
			t.Errorf("request %d: fields %q %q, file of %d bytes", i, fields["messaging_product"], fields["type"], len(fields["file"]))
		}
	}
}
