package flow

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/greentic/gtc/pkg/whatsapp"
)

var offered = []Choice{{ID: "good", Title: "Good"}, {ID: "bad", Title: "Not good"}, {ID: "row_7", Title: "Billing question"}}

func TestParseAnswer(t *testing.T) {
	img := &whatsapp.InboundMedia{Type: "image", ID: "media.1", MimeType: "image/jpeg", Caption: "my cat"}
	tests := []struct {
		name   string
		expect string
		ev     Event
		want   any
		errHas string // "" : valid
	}{
		// text
		{"text trimmed", ExpectText, textEv("  A-1234 \n"), "A-1234", ""},
		{"text empty", ExpectText, textEv("   "), nil, "empty text"},
		{"text from a button", ExpectText, Event{Type: "interactive", Button: &whatsapp.ButtonReply{ID: "x"}}, nil, "not text"},
		// number
		{"number integer", ExpectNumber, textEv("42"), 42.0, ""},
		{"number dot", ExpectNumber, textEv("1.5"), 1.5, ""},
		{"number comma", ExpectNumber, textEv("1,5"), 1.5, ""},
		{"number negative", ExpectNumber, textEv(" -3 "), -3.0, ""},
		{"number grouped spaces", ExpectNumber, textEv("1 000"), 1000.0, ""},
		{"number grouped commas", ExpectNumber, textEv("1,000,000"), 1000000.0, ""},
		{"number en grouping and decimal", ExpectNumber, textEv("1,234.5"), 1234.5, ""},
		{"number de grouping and decimal", ExpectNumber, textEv("1.234,5"), 1234.5, ""},
		{"number leading dot", ExpectNumber, textEv(".5"), 0.5, ""},
		{"number words", ExpectNumber, textEv("five"), nil, "not a number"},
		{"number two decimals", ExpectNumber, textEv("1,2,3"), nil, "mixes separators"},
		{"number only separator", ExpectNumber, textEv(","), nil, "not a number"},
		{"number huge", ExpectNumber, textEv(strings.Repeat("9", 310)), nil, "not a number"},
		{"number too long", ExpectNumber, textEv(strings.Repeat("9", 400)), nil, "too long"},
		{"number with unit", ExpectNumber, textEv("5kg"), nil, "not a number"},
		// email
		{"email lower-cased", ExpectEmail, textEv(" Ada@Example.COM "), "ada@example.com", ""},
		{"email display name", ExpectEmail, textEv("Ada <ada@example.com>"), "ada@example.com", ""},
		{"email no at", ExpectEmail, textEv("ada.example.com"), nil, "not an email"},
		{"email no domain dot", ExpectEmail, textEv("ada@localhost"), nil, "not an email"},
		{"email two addresses", ExpectEmail, textEv("a@x.com, b@y.com"), nil, "not an email"},
		// phone
		{"phone international", ExpectPhone, textEv("+49 151 2345 6789"), "+4915123456789", ""},
		{"phone 00 prefix", ExpectPhone, textEv("0049 151 23456789"), "+4915123456789", ""},
		{"phone without country code", ExpectPhone, textEv("0151 23456789"), nil, "no country code"},
		{"phone letters", ExpectPhone, textEv("+49 abc"), nil, "unexpected character"},
		{"phone too short", ExpectPhone, textEv("+49 12"), nil, "E.164"},
		// date
		{"date iso", ExpectDate, textEv("2026-03-01"), "2026-03-01", ""},
		{"date dots", ExpectDate, textEv("01.03.2026"), "2026-03-01", ""},
		{"date dots short", ExpectDate, textEv("1.3.2026"), "2026-03-01", ""},
		{"date slashes day first", ExpectDate, textEv("13/03/2026"), "2026-03-13", ""},
		{"date not in calendar", ExpectDate, textEv("31.02.2026"), nil, "not a date in the calendar"},
		{"date month 13", ExpectDate, textEv("2026-13-01"), nil, "not a date in the calendar"},
		{"date words", ExpectDate, textEv("tomorrow"), nil, "not a date"},
		{"date two-digit year", ExpectDate, textEv("01.03.26"), nil, "not a date"},
		// choice
		{"choice tapped button", ExpectChoice, Event{Type: "interactive", Button: &whatsapp.ButtonReply{Kind: "button_reply", ID: "good", Title: "Good"}}, "good", ""},
		{"choice tapped row", ExpectChoice, Event{Type: "interactive", List: &whatsapp.ListReply{ID: "row_7", Title: "Billing question"}}, "row_7", ""},
		{"choice row title typed", ExpectChoice, textEv("  billing QUESTION "), "row_7", ""},
		{"choice button title typed", ExpectChoice, textEv("not good"), "bad", ""},
		{"choice id typed is not a title", ExpectChoice, textEv("row_7"), nil, "none of the offered titles"},
		{"choice other question's button", ExpectChoice, Event{Type: "interactive", Button: &whatsapp.ButtonReply{ID: "help"}}, nil, "was not offered"},
		{"choice image", ExpectChoice, Event{Type: "image", MediaType: "image"}, nil, "not a tap"},
		// location
		{"location", ExpectLocation, Event{Type: "location", Location: &whatsapp.InboundLocation{Latitude: 52.5, Longitude: 13.4, Name: "Office", Address: "Main St 1"}},
			map[string]any{"latitude": 52.5, "longitude": 13.4, "name": "Office", "address": "Main St 1"}, ""},
		{"location as text", ExpectLocation, textEv("Berlin"), nil, "not a shared location"},
		// media
		{"media image", ExpectMedia, Event{Type: "image", MediaType: "image", Media: img, Text: "my cat"},
			map[string]any{"type": "image", "id": "media.1", "mime_type": "image/jpeg", "caption": "my cat"}, ""},
		{"media text", ExpectMedia, textEv("here"), nil, "not an image"},
		// any
		{"any text", ExpectAny, textEv("hi"), map[string]any{"id": "wamid.1", "type": "text", "text": "hi", "from": "4915112345678", "timestamp": int64(0), "media_type": ""}, ""},
		{"any nothing", ExpectAny, Event{}, nil, "no message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAnswer(tt.expect, tt.ev, offered)
			if tt.errHas != "" {
				var ae *AnswerError
				if err == nil || !errors.As(err, &ae) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("got %v, %v; want an AnswerError containing %q", got, err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
	if _, err := ParseAnswer("colour", textEv("red"), nil); err == nil || !strings.Contains(err.Error(), "unknown expect") {
		t.Errorf("unknown expect: %v", err)
	}
}

// FuzzParseAnswer: any text answers every expect with a value or an AnswerError, never a
// panic; numbers are finite and dates, emails and phones come out normalized.
func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{"1,5", "1.234,5", "01.03.2026", "2026-02-29", "+49 151 2345 6789", "Ada <A@B.C>", "billing question", "", "-", "1e400", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, e := range Expects {
			v, err := ParseAnswer(e, textEv(s), offered)
			if err != nil {
				var ae *AnswerError
				if !errors.As(err, &ae) || ae.Msg == "" {
					t.Fatalf("%s %q: error %v is not an AnswerError with a message", e, s, err)
				}
				continue
			}
			switch e {
			case ExpectDate:
				if d := v.(string); len(d) != 10 || d[4] != '-' {
					t.Fatalf("date %q -> %q", s, d)
				}
			case ExpectEmail:
				if a := v.(string); a != strings.ToLower(a) || !strings.Contains(a, "@") {
					t.Fatalf("email %q -> %q", s, a)
				}
			case ExpectPhone:
				if p := v.(string); !strings.HasPrefix(p, "+") {
					t.Fatalf("phone %q -> %q", s, p)
				}
			}
		}
	})
}
