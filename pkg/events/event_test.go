package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/whatsapp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

var at = time.Date(2026, 11, 30, 9, 15, 2, 345_000_000, time.UTC)

func head(id string) Head {
	return Head{ID: id, Time: at, Tenant: "acme", Team: "support",
		Contact: Contact{Phone: "+4915123456789", UserID: "DE.1234567890123456789", Name: "Ada"}}
}

// examples has one event of each type, as docs/serve.md shows them.
func examples() map[Type]*Event {
	return map[Type]*Event{
		TypeMessageReceived: NewMessageReceived(head("evt_101"), MessageReceived{
			WAMID: "wamid.HBgNNDkxNTEyMzQ1Njc4ORUCABIYFjNFQjBDNkM5", Kind: "text",
			Text: "Where is my order 1042?", SentAt: At(at.Add(-time.Second)), State: StateHandoff}),
		TypeMessageStatus: NewMessageStatus(head("evt_102"), MessageStatus{
			MessageID: "318", WAMID: "wamid.HBgNNDkxNTEyMzQ1Njc4ORUCABEYEjdBRkU0", Status: "read"}),
		TypeHandoffRequested: NewHandoffRequested(head("evt_103"), HandoffRequested{
			By: ByFlow, Queue: "support", Note: "Order 1042: delayed", Flow: "main", Node: "escalate",
			TimeoutAt: At(at.Add(8 * time.Hour))}),
		TypeHandoffReleased: NewHandoffReleased(head("evt_104"), HandoffReleased{
			By: ByAPI, Queue: "support", Flow: "main", Node: "after_human"}),
		TypeConversationEnded: NewConversationEnded(head("evt_105"), ConversationEnded{
			ConversationID: "9f2c4e71a0b3d856", Flow: "main", Node: "thanks", Reason: "completed"}),
		TypeSendFailed: NewSendFailed(head("evt_106"), SendFailed{
			MessageID: "319", Kind: "text", ErrorClass: "window_closed", ErrorCode: 131047,
			ErrorMessage: "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
			Attempts:     1}),
	}
}

func TestGolden(t *testing.T) {
	for _, typ := range Types {
		t.Run(string(typ), func(t *testing.T) {
			ev := examples()[typ]
			body, err := ev.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, body, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", "golden", string(typ)+".json")
			if *update {
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/events -update)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("%s differs (go test ./pkg/events -update rewrites it):\n%s", path, pretty.Bytes())
			}
			// The golden file parses back to the same event.
			got, err := Parse(want)
			if err != nil {
				t.Fatalf("Parse(%s): %v", path, err)
			}
			if !reflect.DeepEqual(got, ev) {
				t.Errorf("Parse(%s) = %+v, want %+v", path, got, ev)
			}
		})
	}
}

func TestEnvelopeKeys(t *testing.T) {
	body, err := examples()[TypeMessageStatus].Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"evt_102","type":"message.status","timestamp":"2026-11-30T09:15:02.345Z","tenant":"acme","team":"support",` +
		`"contact":{"phone":"+4915123456789","user_id":"DE.1234567890123456789","name":"Ada"},` +
		`"data":{"message_id":"318","wamid":"wamid.HBgNNDkxNTEyMzQ1Njc4ORUCABEYEjdBRkU0","status":"read"}}`
	if string(body) != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
}

func TestTimeIsUTC(t *testing.T) {
	h := head("evt_1")
	h.Time = time.Date(2026, 11, 30, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	body, err := NewHandoffReleased(h, HandoffReleased{By: ByTimeout}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"timestamp":"2026-11-30T09:00:00.000Z"`) {
		t.Errorf("timestamp not in UTC: %s", body)
	}
}

func TestValidate(t *testing.T) {
	ok := func() *Event { return examples()[TypeMessageReceived] }
	tests := []struct {
		name  string
		edit  func(e *Event)
		paths []string
	}{
		{"ok", func(*Event) {}, nil},
		{"ulid id", func(e *Event) { e.ID = "01JDX3Q8J5M1ZK6Y0V4T2B9N7C" }, nil},
		{"bsuid only", func(e *Event) { e.Contact = Contact{UserID: "US.13491208655302741918"} }, nil},
		{"no id", func(e *Event) { e.ID = "" }, []string{"id"}},
		{"id with space", func(e *Event) { e.ID = "evt 1" }, []string{"id"}},
		{"id too long", func(e *Event) { e.ID = strings.Repeat("a", 65) }, []string{"id"}},
		{"unknown type", func(e *Event) { e.Type = "message.sent" }, []string{"type"}},
		{"data of another type", func(e *Event) { e.Type = TypeSendFailed }, []string{"data"}},
		{"data not event data", func(e *Event) { e.Data = map[string]any{} }, []string{"data"}},
		{"no time", func(e *Event) { e.Time = time.Time{} }, []string{"timestamp"}},
		{"no tenant, team", func(e *Event) { e.Tenant, e.Team = "", "" }, []string{"tenant", "team"}},
		{"no contact", func(e *Event) { e.Contact = Contact{Name: "Ada"} }, []string{"contact"}},
		{"phone without +", func(e *Event) { e.Contact.Phone = "4915123456789" }, []string{"contact.phone"}},
		{"phone with spaces", func(e *Event) { e.Contact.Phone = "+49 151" }, []string{"contact.phone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok()
			tt.edit(e)
			err := e.Validate()
			var ve *ValidationError
			if tt.paths == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			var paths []string
			for _, p := range ve.Problems {
				paths = append(paths, p.Path)
			}
			if !reflect.DeepEqual(paths, tt.paths) {
				t.Errorf("problems at %v, want %v (%v)", paths, tt.paths, err)
			}
			if _, err := e.Marshal(); err == nil {
				t.Error("Marshal accepted an invalid event")
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	good, err := examples()[TypeHandoffRequested].Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, body, want string }{
		{"not json", `nope`, "invalid character"},
		{"unknown key", strings.Replace(string(good), `"tenant"`, `"tennant":"x","tenant"`, 1), `unknown field "tennant"`},
		{"unknown data key", strings.Replace(string(good), `"queue"`, `"queeu":"x","queue"`, 1), `unknown field "queeu"`},
		{"unknown type", strings.Replace(string(good), `handoff.requested`, `handoff.asked`, 1), `unknown event type "handoff.asked"`},
		{"no data", strings.Replace(string(good), `"data":{`, `"x":{`, 1), `unknown field "x"`},
		{"bad time", strings.Replace(string(good), `2026-11-30T09:15:02.345Z`, `yesterday`, 1), `"yesterday" is not an RFC 3339 timestamp`},
		{"trailing", string(good) + `{}`, "extra data"},
		{"invalid envelope", strings.Replace(string(good), `"evt_103"`, `""`, 1), "id:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestContactFromKey(t *testing.T) {
	tests := []struct {
		key  string
		want Contact
	}{
		{"4915123456789", Contact{Phone: "+4915123456789"}},
		{"+4915123456789", Contact{Phone: "+4915123456789"}},
		{"US.13491208655302741918", Contact{UserID: "US.13491208655302741918"}},
		{"", Contact{}},
	}
	for _, tt := range tests {
		if got := ContactFromKey(tt.key); got != tt.want {
			t.Errorf("ContactFromKey(%q) = %+v, want %+v", tt.key, got, tt.want)
		}
		if tt.key != "" && ContactFromKey(tt.key).Key() != strings.TrimPrefix(tt.key, "+") {
			t.Errorf("ContactFromKey(%q).Key() = %q", tt.key, ContactFromKey(tt.key).Key())
		}
	}
}

func TestFromInbound(t *testing.T) {
	tests := []struct {
		name string
		m    whatsapp.InboundMessage
		want MessageReceived
	}{
		{"text", whatsapp.InboundMessage{ID: "wamid.1", Type: "text", Text: "hi", Timestamp: 1764494102,
			Context: &whatsapp.InboundContext{ID: "wamid.0"}},
			MessageReceived{WAMID: "wamid.1", Kind: "text", Text: "hi", Context: "wamid.0", SentAt: Unix(1764494102), State: StateBot}},
		{"button", whatsapp.InboundMessage{ID: "wamid.2", Type: "interactive",
			Button: &whatsapp.ButtonReply{Kind: "button_reply", ID: "human", Title: "Talk to Human"}},
			MessageReceived{WAMID: "wamid.2", Kind: "interactive", Text: "Talk to Human", ReplyID: "human", State: StateBot}},
		{"list", whatsapp.InboundMessage{ID: "wamid.3", Type: "interactive",
			List: &whatsapp.ListReply{ID: "row1", Title: "Shoes"}},
			MessageReceived{WAMID: "wamid.3", Kind: "interactive", Text: "Shoes", ReplyID: "row1", State: StateBot}},
		{"image", whatsapp.InboundMessage{ID: "wamid.4", Type: "image",
			Media: &whatsapp.InboundMedia{Type: "image", ID: "m1", MimeType: "image/jpeg", Caption: "broken", SHA256: "x"}},
			MessageReceived{WAMID: "wamid.4", Kind: "image", Text: "broken", Media: &Media{ID: "m1", MimeType: "image/jpeg"}, State: StateBot}},
		{"location", whatsapp.InboundMessage{ID: "wamid.5", Type: "location",
			Location: &whatsapp.InboundLocation{Latitude: 52.5, Longitude: 13.4, Name: "Shop"}},
			MessageReceived{WAMID: "wamid.5", Kind: "location", Location: &Location{Latitude: 52.5, Longitude: 13.4, Name: "Shop"}, State: StateBot}},
		{"reaction", whatsapp.InboundMessage{ID: "wamid.6", Type: "reaction",
			Reaction: &whatsapp.Reaction{MessageID: "wamid.out", Emoji: "👍"}},
			MessageReceived{WAMID: "wamid.6", Kind: "reaction", Text: "👍", Context: "wamid.out", State: StateBot}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromInbound(&tt.m, StateBot); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FromInbound = %+v, want %+v", got, tt.want)
			}
		})
	}
	c := InboundContact(&whatsapp.InboundMessage{From: "4915123456789", FromUser: "DE.1", ContactName: "Ada"})
	if c != (Contact{Phone: "+4915123456789", UserID: "DE.1", Name: "Ada"}) {
		t.Errorf("InboundContact = %+v", c)
	}
}

func TestFromStatus(t *testing.T) {
	s := &whatsapp.Status{ID: "wamid.9", Status: "failed", RecipientID: "4915123456789",
		Errors: []whatsapp.ErrorDetail{{Code: 131047, Title: "Re-engagement message", Details: "24 hours have passed"}}}
	got := FromStatus(s, "out_1")
	want := MessageStatus{MessageID: "out_1", WAMID: "wamid.9", Status: "failed", ErrorClass: "window_closed",
		ErrorCode: 131047, ErrorMessage: "24 hours have passed"}
	if got != want {
		t.Errorf("FromStatus = %+v, want %+v", got, want)
	}
	if c := StatusContact(s); c != (Contact{Phone: "+4915123456789"}) {
		t.Errorf("StatusContact = %+v", c)
	}
}

func FuzzParse(f *testing.F) {
	for _, ev := range examples() {
		b, err := ev.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"evt_1","type":"send.failed","data":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := Parse(body)
		if err != nil {
			return
		}
		again, err := ev.Marshal()
		if err != nil {
			t.Fatalf("a parsed event does not marshal: %v", err)
		}
		ev2, err := Parse(again)
		if err != nil {
			t.Fatalf("a marshalled event does not parse: %v\n%s", err, again)
		}
		if again2, _ := ev2.Marshal(); !bytes.Equal(again, again2) {
			t.Fatalf("not stable:\n%s\n%s", again, again2)
		}
	})
}

func TestMarshalValue(t *testing.T) {
	ev := examples()[TypeHandoffReleased]
	byPtr, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	byVal, err := json.Marshal(*ev)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(byPtr, byVal) {
		t.Errorf("an Event value marshals differently:\n%s\n%s", byVal, byPtr)
	}
}
