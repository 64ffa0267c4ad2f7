package graphfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/whatsapp/metaschema"
)

const (
	tok   = graphfake.DefaultToken
	phone = graphfake.DefaultPhoneNumberID
	waba  = graphfake.DefaultBusinessAccountID
)

type graphErr struct {
	Error struct {
		Message   string `json:"message"`
		Type      string `json:"type"`
		Code      int    `json:"code"`
		Subcode   int    `json:"error_subcode"`
		FBTraceID string `json:"fbtrace_id"`
		ErrorData struct {
			MessagingProduct string `json:"messaging_product"`
			Details          string `json:"details"`
		} `json:"error_data"`
	} `json:"error"`
}

// do sends one request and returns status and body.
func do(t *testing.T, method, url, token, ctype string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func send(t *testing.T, s *graphfake.Server, body string) (int, []byte) {
	t.Helper()
	return do(t, "POST", s.URL+"/v23.0/"+phone+"/messages", tok, "application/json", []byte(body))
}

func decodeErr(t *testing.T, b []byte) graphErr {
	t.Helper()
	var ge graphErr
	if err := json.Unmarshal(b, &ge); err != nil || ge.Error.Code == 0 && ge.Error.Message == "" {
		t.Fatalf("not a Graph error body: %s", b)
	}
	if len(ge.Error.FBTraceID) != 11 {
		t.Errorf("fbtrace_id %q, want 11 characters", ge.Error.FBTraceID)
	}
	return ge
}

const textMsg = `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+4915112345678","type":"text","text":{"body":"hi"}}`

func TestAuthAndRouting(t *testing.T) {
	s := graphfake.New(graphfake.Options{})
	defer s.Close()
	tests := []struct {
		name       string
		method     string
		path       string
		token      string
		wantStatus int
		wantCode   int
		wantSub    int
	}{
		{"ok", "POST", "/v23.0/" + phone + "/messages", tok, 200, 0, 0},
		{"ok older version", "POST", "/v18.0/" + phone + "/messages", tok, 200, 0, 0},
		{"missing token", "POST", "/v23.0/" + phone + "/messages", "", 401, 190, 0},
		{"wrong token", "POST", "/v23.0/" + phone + "/messages", "nope", 401, 190, 0},
		{"wrong phone id", "POST", "/v23.0/999/messages", tok, 400, 100, 33},
		{"no version", "POST", "/" + phone + "/messages", tok, 400, 2500, 0},
		{"GET messages", "GET", "/v23.0/" + phone + "/messages", tok, 400, 100, 33},
		{"unknown object", "GET", "/v23.0/12345", tok, 400, 100, 33},
		{"wrong waba", "GET", "/v23.0/" + phone + "/message_templates", tok, 400, 100, 33},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, b := do(t, tt.method, s.URL+tt.path, tt.token, "application/json", []byte(textMsg))
			if st != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", st, tt.wantStatus, b)
			}
			if tt.wantCode == 0 {
				return
			}
			ge := decodeErr(t, b)
			if ge.Error.Code != tt.wantCode || ge.Error.Subcode != tt.wantSub {
				t.Fatalf("code %d/%d, want %d/%d: %s", ge.Error.Code, ge.Error.Subcode, tt.wantCode, tt.wantSub, b)
			}
		})
	}
	for _, c := range s.Calls() {
		if a := c.Header.Get("Authorization"); a != "" && strings.Contains(a, tok) {
			t.Errorf("recorded Authorization %q contains the token", a)
		}
	}
}

func TestSendChecks(t *testing.T) {
	s := graphfake.New(graphfake.Options{})
	defer s.Close()
	long := strings.Repeat("x", 4097)
	buttons := func(n int) string {
		var b []string
		for i := 0; i < n; i++ {
			id := string(rune('a' + i))
			b = append(b, `{"type":"reply","reply":{"id":"`+id+`","title":"T`+id+`"}}`)
		}
		return `{"messaging_product":"whatsapp","to":"4915112345678","type":"interactive","interactive":{"type":"button","body":{"text":"Pick"},"action":{"buttons":[` + strings.Join(b, ",") + `]}}}`
	}
	rows := func(n int) string {
		var r []string
		for i := 0; i < n; i++ {
			r = append(r, `{"id":"r`+string(rune('a'+i))+`","title":"Row"}`)
		}
		return `{"messaging_product":"whatsapp","to":"4915112345678","type":"interactive","interactive":{"type":"list","body":{"text":"Pick"},"action":{"button":"Menu","sections":[{"title":"S","rows":[` + strings.Join(r, ",") + `]}]}}}`
	}
	tests := []struct {
		name     string
		ctype    string
		body     string
		wantCode int // 0 = accepted
		wantPath string
	}{
		{"text", "", textMsg, 0, ""},
		{"text no plus", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"text","text":{"body":"hi"}}`, 0, ""},
		{"content type", "text/plain", textMsg, 100, "Content-Type"},
		{"not json", "", `{"messaging_product":`, 100, "$"},
		{"trailing data", "", textMsg + `{}`, 100, "$"},
		{"unknown key", "", `{"messaging_product":"whatsapp","to":"1555000111","type":"text","text":{"body":"hi"},"colour":"red"}`, 100, "colour"},
		{"wrong json type", "", `{"messaging_product":"whatsapp","to":"1555000111","type":"text","text":{"body":5}}`, 100, "text.body"},
		{"missing product", "", `{"to":"4915112345678","type":"text","text":{"body":"hi"}}`, 131008, "messaging_product"},
		{"wrong product", "", `{"messaging_product":"sms","to":"4915112345678","type":"text","text":{"body":"hi"}}`, 131009, "messaging_product"},
		{"missing to", "", `{"messaging_product":"whatsapp","type":"text","text":{"body":"hi"}}`, 131008, "to"},
		{"bad to", "", `{"messaging_product":"whatsapp","to":"call me","type":"text","text":{"body":"hi"}}`, 131009, "to"},
		{"missing type", "", `{"messaging_product":"whatsapp","to":"4915112345678","text":{"body":"hi"}}`, 131008, "type"},
		{"unknown type", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"carousel"}`, 131051, "type"},
		{"type without object", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"text"}`, 131008, "text"},
		{"two kinds", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"text","text":{"body":"hi"},"image":{"link":"https://x.y/a.jpg"}}`, 131009, "image"},
		{"empty body", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"text","text":{"body":""}}`, 131008, "text.body"},
		{"long body", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"text","text":{"body":"` + long + `"}}`, 131009, "text.body"},
		{"3 buttons", "", buttons(3), 0, ""},
		{"4 buttons", "", buttons(4), 131009, "interactive.action.buttons"},
		{"long button title", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"interactive","interactive":{"type":"button","body":{"text":"Pick"},"action":{"buttons":[{"type":"reply","reply":{"id":"a","title":"This title is too long!"}}]}}}`, 131009, "interactive.action.buttons[0].reply.title"},
		{"duplicate button id", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"interactive","interactive":{"type":"button","body":{"text":"Pick"},"action":{"buttons":[{"type":"reply","reply":{"id":"a","title":"A"}},{"type":"reply","reply":{"id":"a","title":"B"}}]}}}`, 131009, "interactive.action.buttons[1].reply.id"},
		{"button without body", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"interactive","interactive":{"type":"button","action":{"buttons":[{"type":"reply","reply":{"id":"a","title":"A"}}]}}}`, 131008, "interactive.body.text"},
		{"10 rows", "", rows(10), 0, ""},
		{"11 rows", "", rows(11), 131009, "interactive.action.sections"},
		{"cta_url", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"interactive","interactive":{"type":"cta_url","body":{"text":"Go"},"action":{"name":"cta_url","parameters":{"display_text":"Open","url":"https://example.com"}}}}`, 0, ""},
		{"cta_url bad url", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"interactive","interactive":{"type":"cta_url","body":{"text":"Go"},"action":{"name":"cta_url","parameters":{"display_text":"Open","url":"example"}}}}`, 131009, "interactive.action.parameters.url"},
		{"image link", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"image","image":{"link":"https://x.y/a.jpg","caption":"c"}}`, 0, ""},
		{"image id and link", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"image","image":{"id":"1","link":"https://x.y/a.jpg"}}`, 131009, "image"},
		{"image neither", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"image","image":{}}`, 131008, "image"},
		{"audio caption", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"audio","audio":{"id":"1","caption":"c"}}`, 131009, "audio.caption"},
		{"sticker filename", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"sticker","sticker":{"id":"1","filename":"a.webp"}}`, 131009, "sticker.filename"},
		{"location", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"location","location":{"latitude":52.5,"longitude":13.4}}`, 0, ""},
		{"location out of range", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"location","location":{"latitude":95,"longitude":13.4}}`, 131009, "location.latitude"},
		{"contacts", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"contacts","contacts":[{"name":{"formatted_name":"Ann"}}]}`, 0, ""},
		{"contact without name", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"contacts","contacts":[{"name":{}}]}`, 131008, "contacts[0].name.formatted_name"},
		{"reaction", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"reaction","reaction":{"message_id":"wamid.X","emoji":"👍"}}`, 0, ""},
		{"reply context empty", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"text","context":{"message_id":""},"text":{"body":"hi"}}`, 131008, "context.message_id"},
		{"template", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"order_confirmation","language":{"code":"en"},"components":[{"type":"body","parameters":[{"type":"text","text":"Ann"},{"type":"text","text":"A-1"}]}]}}`, 0, ""},
		{"template hello_world", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"hello_world","language":{"code":"en_US"}}}`, 0, ""},
		{"template unknown", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"nope","language":{"code":"en"}}}`, 132001, ""},
		{"template wrong language", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"hello_world","language":{"code":"en"}}}`, 132001, ""},
		{"template param count", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"order_confirmation","language":{"code":"en"},"components":[{"type":"body","parameters":[{"type":"text","text":"Ann"}]}]}}`, 132000, ""},
		{"template header image missing", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"appointment_reminder","language":{"code":"en"},"components":[{"type":"body","parameters":[{"type":"text","text":"Ann"},{"type":"text","text":"Mon"}]}]}}`, 132012, ""},
		{"template with header and button", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"appointment_reminder","language":{"code":"en"},"components":[{"type":"header","parameters":[{"type":"image","image":{"link":"https://x.y/a.jpg"}}]},{"type":"body","parameters":[{"type":"text","text":"Ann"},{"type":"text","text":"Mon"}]},{"type":"button","sub_type":"quick_reply","index":"1","parameters":[{"type":"payload","payload":"R"}]}]}}`, 0, ""},
		{"template button index out of range", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"appointment_reminder","language":{"code":"en"},"components":[{"type":"header","parameters":[{"type":"image","image":{"link":"https://x.y/a.jpg"}}]},{"type":"body","parameters":[{"type":"text","text":"Ann"},{"type":"text","text":"Mon"}]},{"type":"button","sub_type":"quick_reply","index":"5","parameters":[{"type":"payload","payload":"R"}]}]}}`, 132000, ""},
		{"template button index integer", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"appointment_reminder","language":{"code":"en"},"components":[{"type":"header","parameters":[{"type":"image","image":{"link":"https://x.y/a.jpg"}}]},{"type":"body","parameters":[{"type":"text","text":"Ann"},{"type":"text","text":"Mon"}]},{"type":"button","sub_type":"quick_reply","index":0,"parameters":[{"type":"payload","payload":"R"}]}]}}`, 0, ""},
		{"location as strings", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"location","location":{"latitude":"52.5","longitude":"13.4"}}`, 0, ""},
		{"location not a number", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"location","location":{"latitude":"north","longitude":"13.4"}}`, 100, "location.latitude"},
		{"template button without index", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"follow_up","language":{"code":"en"},"components":[{"type":"button","sub_type":"quick_reply"}]}}`, 131008, "template.components[0].index"},
		{"template missing language", "", `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"follow_up"}}`, 131008, "template.language.code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := tt.ctype
			if ct == "" {
				ct = "application/json"
			}
			st, b := do(t, "POST", s.URL+"/v23.0/"+phone+"/messages", tok, ct, []byte(tt.body))
			if tt.wantCode == 0 {
				if st != 200 {
					t.Fatalf("status %d: %s", st, b)
				}
				var ok struct {
					Contacts []struct {
						Input string `json:"input"`
						WaID  string `json:"wa_id"`
					} `json:"contacts"`
					Messages []struct{ ID string } `json:"messages"`
				}
				if err := json.Unmarshal(b, &ok); err != nil || len(ok.Messages) != 1 || !strings.HasPrefix(ok.Messages[0].ID, "wamid.HBg") ||
					len(ok.Contacts) != 1 || ok.Contacts[0].WaID != strings.TrimPrefix(ok.Contacts[0].Input, "+") {
					t.Fatalf("bad success body: %s", b)
				}
				return
			}
			if st != 400 {
				t.Fatalf("status %d, want 400: %s", st, b)
			}
			ge := decodeErr(t, b)
			if ge.Error.Code != tt.wantCode {
				t.Fatalf("code %d, want %d: %s", ge.Error.Code, tt.wantCode, b)
			}
			if tt.wantPath != "" && !strings.HasPrefix(ge.Error.ErrorData.Details, tt.wantPath+": ") && !strings.Contains(ge.Error.Message, tt.wantPath) {
				t.Fatalf("error does not name %s: %s", tt.wantPath, b)
			}
			if ge.Error.Code >= 130000 && ge.Error.ErrorData.MessagingProduct != "whatsapp" {
				t.Errorf("error_data.messaging_product missing: %s", b)
			}
		})
	}
}

func TestSchemaValidation(t *testing.T) {
	v := metaschema.Require(t)
	s := graphfake.New(graphfake.Options{Schema: v})
	defer s.Close()
	body := `{"messaging_product":"whatsapp","to":"4915112345678","type":"interactive","interactive":{"type":"list","body":{"text":"Pick"},"action":{"button":"Menu","sections":[{"title":"S","rows":[{"id":"a","title":"A"}]}]}}}`
	if st, b := send(t, s, body); st != 200 {
		t.Fatalf("valid list rejected: %s", b)
	}
	// A read receipt is never schema-checked as a Message.
	if st, b := send(t, s, `{"messaging_product":"whatsapp","status":"read","message_id":"wamid.X"}`); st != 200 {
		t.Fatalf("read receipt rejected: %s", b)
	}
	// Six contacts pass the fake's own limit (257, cloud-api.md) but not Meta's schema (5).
	var cards []string
	for i := 0; i < 6; i++ {
		cards = append(cards, `{"name":{"formatted_name":"Ann"}}`)
	}
	six := `{"messaging_product":"whatsapp","to":"4915112345678","type":"contacts","contacts":[` + strings.Join(cards, ",") + `]}`
	plain := graphfake.New(graphfake.Options{})
	defer plain.Close()
	if st, b := send(t, plain, six); st != 200 {
		t.Fatalf("without a schema: %d %s", st, b)
	}
	st, b := send(t, s, six)
	if st != 400 {
		t.Fatalf("status %d: %s", st, b)
	}
	ge := decodeErr(t, b)
	if ge.Error.Code != 100 || !strings.Contains(ge.Error.Message, "contacts") || !strings.Contains(ge.Error.ErrorData.Details, "schema") {
		t.Fatalf("want code 100 naming the field: %s", b)
	}
}

func TestReadReceipts(t *testing.T) {
	s := graphfake.New(graphfake.Options{})
	defer s.Close()
	tests := []struct {
		name     string
		body     string
		wantCode int
	}{
		{"read", `{"messaging_product":"whatsapp","status":"read","message_id":"wamid.ABC"}`, 0},
		{"typing", `{"messaging_product":"whatsapp","status":"read","message_id":"wamid.ABC","typing_indicator":{"type":"text"}}`, 0},
		{"bad typing", `{"messaging_product":"whatsapp","status":"read","message_id":"wamid.ABC","typing_indicator":{"type":"audio"}}`, 131009},
		{"no id", `{"messaging_product":"whatsapp","status":"read"}`, 131008},
		{"not a wamid", `{"messaging_product":"whatsapp","status":"read","message_id":"123"}`, 131009},
		{"unknown key", `{"messaging_product":"whatsapp","status":"read","message_id":"wamid.ABC","x":1}`, 100},
		{"status delivered", `{"messaging_product":"whatsapp","status":"delivered","message_id":"wamid.ABC"}`, 131009},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, b := send(t, s, tt.body)
			if tt.wantCode == 0 {
				if st != 200 || string(b) != `{"success":true}` {
					t.Fatalf("%d %s", st, b)
				}
				return
			}
			if ge := decodeErr(t, b); ge.Error.Code != tt.wantCode {
				t.Fatalf("code %d, want %d: %s", ge.Error.Code, tt.wantCode, b)
			}
		})
	}
	reads := s.Reads()
	if len(reads) != 2 || reads[0].Typing || !reads[1].Typing || reads[0].MessageID != "wamid.ABC" {
		t.Fatalf("reads %+v", reads)
	}
	if len(s.Messages()) != 0 {
		t.Fatalf("read receipts recorded as messages")
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name   string
		inject func(s *graphfake.Server)
		sends  []string // recipients, in order
		want   []int    // per send: 0 ok, else code
		status []int    // per send: HTTP status (0 = don't care)
	}{
		{"once", func(s *graphfake.Server) { s.FailNext(1, 130429) }, []string{"111111111", "111111111"}, []int{130429, 0}, []int{400, 200}},
		{"n times", func(s *graphfake.Server) { s.FailNext(2, 131000) }, []string{"111111111", "111111111", "111111111"}, []int{131000, 131000, 0}, []int{500, 500, 200}},
		{"for recipient", func(s *graphfake.Server) { s.FailFor("+4915112345678", 131026) }, []string{"4915112345678", "111111111", "+4915112345678"}, []int{131026, 0, 131026}, nil},
		{"always", func(s *graphfake.Server) { s.FailAlways(190) }, []string{"111111111", "111111111"}, []int{190, 190}, []int{401, 401}},
		{"http status override", func(s *graphfake.Server) { s.Inject(graphfake.Fault{Code: 131047, HTTPStatus: 403, Times: 1}) }, []string{"111111111"}, []int{131047}, []int{403}},
		{"read faults do not hit sends", func(s *graphfake.Server) { s.Inject(graphfake.Fault{Code: 1, Endpoint: graphfake.EndpointRead}) }, []string{"111111111"}, []int{0}, nil},
		{"async", func(s *graphfake.Server) { s.Inject(graphfake.Fault{Code: 131026, Async: true, Times: 1}) }, []string{"111111111", "111111111"}, []int{0, 0}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := graphfake.New(graphfake.Options{})
			defer s.Close()
			tt.inject(s)
			for i, to := range tt.sends {
				st, b := send(t, s, `{"messaging_product":"whatsapp","to":"`+to+`","type":"text","text":{"body":"hi"}}`)
				if tt.status != nil && tt.status[i] != st {
					t.Errorf("send %d: status %d, want %d", i, st, tt.status[i])
				}
				if tt.want[i] == 0 {
					if st != 200 {
						t.Errorf("send %d: %d %s", i, st, b)
					}
					continue
				}
				if ge := decodeErr(t, b); ge.Error.Code != tt.want[i] {
					t.Errorf("send %d: code %d, want %d", i, ge.Error.Code, tt.want[i])
				}
			}
			ok := 0
			for _, w := range tt.want {
				if w == 0 {
					ok++
				}
			}
			if got := len(s.Messages()); got != ok {
				t.Errorf("%d accepted messages recorded, want %d", got, ok)
			}
			if got := len(s.Calls()); got != len(tt.sends) {
				t.Errorf("%d calls recorded, want %d", got, len(tt.sends))
			}
		})
	}
}

func TestDelay(t *testing.T) {
	s := graphfake.New(graphfake.Options{})
	defer s.Close()
	s.Delay(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/v23.0/"+phone+"/messages", strings.NewReader(textMsg))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	if _, err := s.WaitForCalls(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("answered despite the delay: %v", err)
	default:
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("want the client's cancellation")
	}
	s.Delay(0)
	if st, b := send(t, s, textMsg); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
}

func TestWAMIDsUnique(t *testing.T) {
	s := graphfake.New(graphfake.Options{})
	defer s.Close()
	seen := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, b := send(t, s, textMsg)
			var r struct{ Messages []struct{ ID string } }
			_ = json.Unmarshal(b, &r)
			mu.Lock()
			defer mu.Unlock()
			if len(r.Messages) != 1 || seen[r.Messages[0].ID] {
				t.Errorf("missing or duplicate id: %s", b)
				return
			}
			seen[r.Messages[0].ID] = true
		}()
	}
	wg.Wait()
	for id := range seen {
		if !strings.HasPrefix(id, "wamid.HBgN") { // 13-digit recipient
			t.Errorf("id %s does not look like Meta's", id)
		}
	}
	if got, err := s.WaitForMessages(context.Background(), 50); err != nil || len(got) != 50 {
		t.Fatalf("%d %v", len(got), err)
	}
}

func TestWaitForMessagesTimesOut(t *testing.T) {
	s := graphfake.New(graphfake.Options{})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.WaitForMessages(ctx, 1); err == nil || !strings.Contains(err.Error(), "0 of 1") {
		t.Fatalf("want a timeout naming the count, got %v", err)
	}
}

// fakeTB records failures of ExpectMessages without failing this test.
type fakeTB struct {
	testing.TB
	cleanups []func()
	errors   []string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Cleanup(fn func())              { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Errorf(format string, a ...any) { f.errors = append(f.errors, format) }
func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestExpectMessages(t *testing.T) {
	for _, tt := range []struct {
		name      string
		sends     int
		want      int
		wantError bool
	}{
		{"exact", 2, 2, false},
		{"missing", 1, 2, true},
		{"extra", 3, 2, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := graphfake.New(graphfake.Options{})
			defer s.Close()
			ft := &fakeTB{TB: t}
			s.ExpectMessages(ft, tt.want)
			s.ExpectCalls(ft, graphfake.EndpointMessages, tt.want)
			for i := 0; i < tt.sends; i++ {
				send(t, s, textMsg)
			}
			ft.runCleanups()
			if got := len(ft.errors) > 0; got != tt.wantError {
				t.Fatalf("errors %v, want error %v", ft.errors, tt.wantError)
			}
		})
	}
}

func TestTemplatesPaging(t *testing.T) {
	s := graphfake.New(graphfake.Options{})
	defer s.Close()
	var names []string
	url := s.URL + "/v23.0/" + waba + "/message_templates?fields=name,language,status,category,components&limit=3"
	for pages := 0; url != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		st, b := do(t, "GET", url, tok, "", nil)
		if st != 200 {
			t.Fatalf("%d %s", st, b)
		}
		var r struct {
			Data   []graphfake.Template
			Paging struct {
				Cursors struct{ Before, After string }
				Next    string
			}
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		for _, tp := range r.Data {
			names = append(names, tp.Name+"/"+tp.Language+"/"+tp.Status)
			if tp.Category == "" || len(tp.Components) == 0 {
				t.Errorf("fields missing: %+v", tp)
			}
		}
		url = r.Paging.Next
	}
	want := "order_confirmation/en/APPROVED appointment_reminder/en/APPROVED follow_up/en/APPROVED hello_world/en_US/APPROVED"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}

	tests := []struct {
		name, query string
		wantCode    int
	}{
		{"bad limit", "limit=x", 100},
		{"bad cursor", "after=zzz", 100},
		{"bad field", "fields=name,colour", 100},
		{"only names", "fields=name", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, b := do(t, "GET", s.URL+"/v23.0/"+waba+"/message_templates?"+tt.query, tok, "", nil)
			if tt.wantCode == 0 {
				if st != 200 || strings.Contains(string(b), "category") {
					t.Fatalf("%d %s", st, b)
				}
				return
			}
			if ge := decodeErr(t, b); ge.Error.Code != tt.wantCode {
				t.Fatalf("%s", b)
			}
		})
	}
}

func TestTemplateStatus(t *testing.T) {
	s := graphfake.New(graphfake.Options{Templates: []graphfake.Template{
		{Name: "paused", Language: "en", Status: "PAUSED", Components: []graphfake.TemplateComponent{{Type: "BODY", Text: "x"}}},
		{Name: "disabled", Language: "en", Status: "DISABLED"},
		{Name: "pending", Language: "en", Status: "PENDING"},
	}})
	defer s.Close()
	for name, code := range map[string]int{"paused": 132015, "disabled": 132016, "pending": 132001, "order_confirmation": 132001} {
		t.Run(name, func(t *testing.T) {
			_, b := send(t, s, `{"messaging_product":"whatsapp","to":"4915112345678","type":"template","template":{"name":"`+name+`","language":{"code":"en"}}}`)
			if ge := decodeErr(t, b); ge.Error.Code != code {
				t.Fatalf("want %d: %s", code, b)
			}
		})
	}
}

func TestPhoneInfo(t *testing.T) {
	s := graphfake.New(graphfake.Options{DisplayPhoneNumber: "15550001111", VerifiedName: "Acme"})
	defer s.Close()
	st, b := do(t, "GET", s.URL+"/v23.0/"+phone+"?fields=display_phone_number,verified_name,quality_rating,throughput", tok, "", nil)
	if st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	want := `{"display_phone_number":"+1 555-000-1111","id":"` + phone + `","quality_rating":"GREEN","throughput":{"level":"STANDARD"},"verified_name":"Acme"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	_, b = do(t, "GET", s.URL+"/v23.0/"+phone+"?fields=colour", tok, "", nil)
	if ge := decodeErr(t, b); ge.Error.Code != 100 || !strings.Contains(ge.Error.Message, "colour") {
		t.Fatalf("%s", b)
	}
}

func upload(t *testing.T, s *graphfake.Server, product, mimeType string, data []byte) (int, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if product != "" {
		_ = mw.WriteField("messaging_product", product)
	}
	if data != nil {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="f"`)
		h.Set("Content-Type", mimeType)
		w, _ := mw.CreatePart(h)
		_, _ = w.Write(data)
	}
	_ = mw.Close()
	return do(t, "POST", s.URL+"/v23.0/"+phone+"/media", tok, mw.FormDataContentType(), buf.Bytes())
}

func TestMedia(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := graphfake.New(graphfake.Options{Clock: clock})
	defer s.Close()

	tests := []struct {
		name     string
		product  string
		mime     string
		size     int
		wantCode int
	}{
		{"jpeg", "whatsapp", "image/jpeg", 1000, 0},
		{"pdf", "whatsapp", "application/pdf", 10, 0},
		{"no product", "", "image/jpeg", 10, 131008},
		{"no file", "whatsapp", "", -1, 131008},
		{"unsupported", "whatsapp", "image/gif", 10, 131053},
		{"sticker too big", "whatsapp", "image/webp", 500<<10 + 1, 131053},
		{"image too big", "whatsapp", "image/png", 5<<20 + 1, 131053},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var data []byte
			if tt.size >= 0 {
				data = bytes.Repeat([]byte{'x'}, tt.size)
			}
			st, b := upload(t, s, tt.product, tt.mime, data)
			if tt.wantCode != 0 {
				if ge := decodeErr(t, b); ge.Error.Code != tt.wantCode {
					t.Fatalf("%d %s", st, b)
				}
				return
			}
			var r struct{ ID string }
			if st != 200 || json.Unmarshal(b, &r) != nil || r.ID == "" {
				t.Fatalf("%d %s", st, b)
			}
			st, b = do(t, "GET", s.URL+"/v23.0/"+r.ID, tok, "", nil)
			var info struct {
				URL, MimeType, Sha256 string
				FileSize              int `json:"file_size"`
			}
			_ = json.Unmarshal(b, &info)
			if st != 200 || info.FileSize != tt.size || info.Sha256 == "" {
				t.Fatalf("%d %s", st, b)
			}
			if st, _ := do(t, "GET", info.URL, "", "", nil); st != 401 {
				t.Fatalf("download without token: %d", st)
			}
			st, got := do(t, "GET", info.URL, tok, "", nil)
			if st != 200 || !bytes.Equal(got, data) {
				t.Fatalf("download: %d, %d bytes", st, len(got))
			}
			mu.Lock()
			now = now.Add(6 * time.Minute)
			mu.Unlock()
			if st, _ := do(t, "GET", info.URL, tok, "", nil); st != 404 {
				t.Fatalf("expired url answered %d", st)
			}
		})
	}
}

type hookSink struct {
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, b)
	h.sigs = append(h.sigs, r.Header.Get("X-Hub-Signature-256"))
	h.mu.Unlock()
}

type statusBody struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string `json:"id"`
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				Metadata struct {
					PhoneNumberID string `json:"phone_number_id"`
				} `json:"metadata"`
				Statuses []struct {
					ID, Status, Timestamp string
					RecipientID           string `json:"recipient_id"`
					Errors                []struct {
						Code  int
						Title string
					}
				} `json:"statuses"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

func TestStatusWebhooks(t *testing.T) {
	sink := &hookSink{}
	hs := httptest.NewServer(sink)
	defer hs.Close()
	s := graphfake.New(graphfake.Options{StatusWebhook: graphfake.StatusWebhook{URL: hs.URL, AppSecret: "shh"}})
	defer s.Close()

	_, b := send(t, s, textMsg)
	var r struct{ Messages []struct{ ID string } }
	_ = json.Unmarshal(b, &r)
	s.Inject(graphfake.Fault{Code: 131026, Async: true, Times: 1})
	_, b = send(t, s, textMsg)
	var r2 struct{ Messages []struct{ ID string } }
	_ = json.Unmarshal(b, &r2)
	s.Flush()

	sink.mu.Lock()
	defer sink.mu.Unlock()
	var got []string
	for i, body := range sink.bodies {
		if sink.sigs[i] != graphfake.Sign(body, "shh") {
			t.Errorf("webhook %d: bad signature %q", i, sink.sigs[i])
		}
		var sb statusBody
		if err := json.Unmarshal(body, &sb); err != nil {
			t.Fatal(err)
		}
		if sb.Object != "whatsapp_business_account" || sb.Entry[0].ID != waba || sb.Entry[0].Changes[0].Field != "messages" ||
			sb.Entry[0].Changes[0].Value.Metadata.PhoneNumberID != phone {
			t.Errorf("webhook %d shape: %s", i, body)
		}
		st := sb.Entry[0].Changes[0].Value.Statuses[0]
		if st.RecipientID != "4915112345678" || st.Timestamp == "" {
			t.Errorf("webhook %d: %+v", i, st)
		}
		tag := st.Status
		if st.ID == r2.Messages[0].ID {
			tag = "2:" + tag
		}
		if len(st.Errors) > 0 {
			tag += "/" + itoa(st.Errors[0].Code)
		}
		got = append(got, tag)
	}
	if want := "sent delivered read 2:sent 2:failed/131026"; strings.Join(got, " ") != want {
		t.Fatalf("got %s, want %s", strings.Join(got, " "), want)
	}
	if n := len(s.Webhooks()); n != 5 {
		t.Fatalf("%d webhooks recorded", n)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// TestCloseWithPendingWebhooks: Close stops a sender stuck on a slow receiver, race-clean.
func TestCloseWithPendingWebhooks(t *testing.T) {
	block := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer hs.Close()
	defer close(block)
	s := graphfake.New(graphfake.Options{StatusWebhook: graphfake.StatusWebhook{URL: hs.URL}})
	for i := 0; i < 5; i++ {
		send(t, s, textMsg)
	}
	s.Close()
	s.Close() // idempotent
	s.Flush() // returns at once once closed
}

func TestHandlerWithoutListener(t *testing.T) {
	s := graphfake.NewUnstarted(graphfake.Options{Token: "t2", PhoneNumberID: "42"})
	defer s.Close()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/v23.0/42/messages", strings.NewReader(textMsg))
	req.Header.Set("Authorization", "Bearer t2")
	req.Header.Set("Content-Type", "application/json")
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	c := s.Calls()
	if len(c) != 1 || c[0].Message == nil || c[0].Message.Text.Body != "hi" || c[0].MessageID == "" || c[0].Version != "v23.0" {
		t.Fatalf("call %+v", c)
	}
}

func TestAccessTokenQueryRedacted(t *testing.T) {
	s := graphfake.New(graphfake.Options{})
	defer s.Close()
	st, b := do(t, "GET", s.URL+"/v23.0/"+phone+"?fields=verified_name&access_token="+tok, "", "", nil)
	if st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	c := s.Calls()
	if len(c) != 1 || strings.Contains(c[0].Query, tok) || !strings.Contains(c[0].Query, "access_token=%5Bredacted%5D") {
		t.Fatalf("query %q", c[0].Query)
	}
}

func TestLimits(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	to := func(n string) string {
		return `{"messaging_product":"whatsapp","to":"` + n + `","type":"text","text":{"body":"hi"}}`
	}
	code := func(b []byte) int {
		var ge graphErr
		_ = json.Unmarshal(b, &ge)
		return ge.Error.Code
	}

	t.Run("throughput", func(t *testing.T) {
		s := graphfake.New(graphfake.Options{Clock: clock, Limits: graphfake.Limits{PerSecond: 2}})
		defer s.Close()
		var got []int
		for _, n := range []string{"111111111", "222222222", "333333333"} {
			_, b := send(t, s, to(n))
			got = append(got, code(b))
		}
		advance(time.Second)
		_, b := send(t, s, to("444444444"))
		got = append(got, code(b))
		if want := []int{0, 0, 130429, 0}; !equalInts(got, want) {
			t.Fatalf("codes %v, want %v", got, want)
		}
	})
	t.Run("pair rate", func(t *testing.T) {
		s := graphfake.New(graphfake.Options{Clock: clock, Limits: graphfake.Limits{PairInterval: 6 * time.Second, PairBurst: 2}})
		defer s.Close()
		var got []int
		for _, n := range []string{"111111111", "111111111", "111111111", "222222222"} {
			_, b := send(t, s, to(n))
			got = append(got, code(b))
		}
		advance(6 * time.Second)
		_, b := send(t, s, to("111111111"))
		got = append(got, code(b))
		if want := []int{0, 0, 131056, 0, 0}; !equalInts(got, want) {
			t.Fatalf("codes %v, want %v", got, want)
		}
	})
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func BenchmarkSend(b *testing.B) {
	s := graphfake.NewUnstarted(graphfake.Options{})
	defer s.Close()
	body := []byte(textMsg)
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v23.0/"+phone+"/messages", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Body.String())
		}
	}
}

func TestMaxRecorded(t *testing.T) {
	s := graphfake.New(graphfake.Options{MaxRecorded: 2})
	defer s.Close()
	s.ExpectMessages(t, 5)
	for i := 0; i < 5; i++ {
		send(t, s, `{"messaging_product":"whatsapp","to":"4915100000`+string(rune('0'+i))+`","type":"text","text":{"body":"hi"}}`)
	}
	if c := s.Counts(); c.Calls != 5 || c.Messages != 5 {
		t.Fatalf("counts %+v", c)
	}
	m := s.Messages()
	if len(m) != 2 || m[0].To != "49151000003" || m[1].To != "49151000004" || len(s.Calls()) != 2 {
		t.Fatalf("kept %+v", m)
	}
	if _, err := s.WaitForMessages(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
}

func TestTemplatesPreviousPage(t *testing.T) {
	s := graphfake.New(graphfake.Options{})
	defer s.Close()
	type page struct {
		Data   []struct{ Name string }
		Paging struct{ Next, Previous string }
	}
	get := func(url string) page {
		st, b := do(t, "GET", url, tok, "", nil)
		var p page
		if st != 200 || json.Unmarshal(b, &p) != nil {
			t.Fatalf("%d %s", st, b)
		}
		return p
	}
	p1 := get(s.URL + "/v23.0/" + waba + "/message_templates?fields=name&limit=2")
	if p1.Paging.Previous != "" || p1.Paging.Next == "" {
		t.Fatalf("first page paging %+v", p1.Paging)
	}
	p2 := get(p1.Paging.Next)
	if len(p2.Data) != 2 || p2.Data[0].Name != "follow_up" || p2.Paging.Next != "" || p2.Paging.Previous == "" {
		t.Fatalf("second page %+v", p2)
	}
	back := get(p2.Paging.Previous)
	if len(back.Data) != 2 || back.Data[0].Name != "order_confirmation" || back.Data[1].Name != "appointment_reminder" {
		t.Fatalf("previous page %+v", back)
	}
}

func TestCheckMediaIDs(t *testing.T) {
	s := graphfake.New(graphfake.Options{CheckMediaIDs: true})
	defer s.Close()
	st, b := upload(t, s, "whatsapp", "image/png", []byte("png"))
	var r struct{ ID string }
	if st != 200 || json.Unmarshal(b, &r) != nil {
		t.Fatalf("%d %s", st, b)
	}
	for _, tt := range []struct {
		id       string
		wantCode int
	}{{r.ID, 0}, {"999", 100}} {
		t.Run(tt.id, func(t *testing.T) {
			st, b := send(t, s, `{"messaging_product":"whatsapp","to":"4915112345678","type":"image","image":{"id":"`+tt.id+`"}}`)
			if tt.wantCode == 0 {
				if st != 200 {
					t.Fatalf("%d %s", st, b)
				}
				return
			}
			ge := decodeErr(t, b)
			if ge.Error.Code != tt.wantCode || !strings.Contains(ge.Error.ErrorData.Details, "image.id") {
				t.Fatalf("%s", b)
			}
		})
	}
}

func TestStatusWebhookDuplicates(t *testing.T) {
	sink := &hookSink{}
	hs := httptest.NewServer(sink)
	defer hs.Close()
	s := graphfake.New(graphfake.Options{StatusWebhook: graphfake.StatusWebhook{URL: hs.URL, Statuses: []string{"sent"}, Duplicates: 2}})
	defer s.Close()
	send(t, s, textMsg)
	s.Flush()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.bodies) != 3 || !bytes.Equal(sink.bodies[0], sink.bodies[2]) {
		t.Fatalf("got %d bodies", len(sink.bodies))
	}
}
