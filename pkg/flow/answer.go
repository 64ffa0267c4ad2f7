package flow

import (
	"errors"
	"fmt"
	"math"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// Expect values: what an ask accepts as its answer.
const (
	ExpectText     = "text"
	ExpectNumber   = "number"
	ExpectEmail    = "email"
	ExpectPhone    = "phone"
	ExpectDate     = "date"
	ExpectChoice   = "choice"
	ExpectLocation = "location"
	ExpectMedia    = "media"
	ExpectAny      = "any"
	ExpectFlow     = "flow" // a submitted WhatsApp Flow form
)

// Expects lists every expect value.
var Expects = []string{ExpectText, ExpectNumber, ExpectEmail, ExpectPhone, ExpectDate, ExpectChoice, ExpectLocation, ExpectMedia, ExpectAny, ExpectFlow}

// Choice is one button or list row a question offered.
type Choice struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// AnswerError says why a message does not answer the question; Msg is safe to show the
// contact's operator, never the contact (the contact gets the retry message).
type AnswerError struct {
	Expect string
	Msg    string
}

func (e *AnswerError) Error() string { return fmt.Sprintf("invalid %s answer: %s", e.Expect, e.Msg) }

func invalid(expect, format string, args ...any) *AnswerError {
	return &AnswerError{Expect: expect, Msg: fmt.Sprintf(format, args...)}
}

// ParseAnswer parses ev as the answer to a question expecting expect, which offered choices
// (buttons or list rows; only for choice). The value is what lands in vars.<save_as>:
// string (text, email, phone, date, choice), float64 (number), or map[string]any
// (location, media, any, flow). An unknown expect is an error too.
func ParseAnswer(expect string, ev Event, choices []Choice) (any, error) {
	switch expect {
	case ExpectText:
		return parseTextAnswer(ev)
	case ExpectNumber:
		s, err := answerText(expect, ev)
		if err != nil {
			return nil, err
		}
		return ParseNumber(s)
	case ExpectEmail:
		s, err := answerText(expect, ev)
		if err != nil {
			return nil, err
		}
		return ParseEmail(s)
	case ExpectPhone:
		s, err := answerText(expect, ev)
		if err != nil {
			return nil, err
		}
		return ParsePhone(s)
	case ExpectDate:
		s, err := answerText(expect, ev)
		if err != nil {
			return nil, err
		}
		return ParseDate(s)
	case ExpectChoice:
		return parseChoice(ev, choices)
	case ExpectLocation:
		if ev.Type != whatsapp.TypeLocation || ev.Location == nil {
			return nil, invalid(expect, "a %s message, not a shared location", orAny(ev.Type))
		}
		l := ev.Location
		return map[string]any{"latitude": l.Latitude, "longitude": l.Longitude, "name": l.Name, "address": l.Address}, nil
	case ExpectMedia:
		if ev.Media == nil && (ev.MediaType == "" || !contains(whatsapp.MediaTypes, ev.MediaType)) {
			return nil, invalid(expect, "a %s message, not an image, video, audio, document or sticker", orAny(ev.Type))
		}
		out := map[string]any{"type": ev.MediaType, "id": "", "mime_type": "", "caption": ev.Text}
		if ev.Media != nil {
			out["id"], out["mime_type"], out["caption"] = ev.Media.ID, ev.Media.MimeType, ev.Media.Caption
			if out["type"] == "" {
				out["type"] = ev.Media.Type
			}
		}
		return out, nil
	case ExpectFlow:
		return parseFlowAnswer(ev)
	case ExpectAny:
		if ev.Type == "" {
			return nil, invalid(expect, "no message")
		}
		return messageValue(ev), nil
	}
	return nil, fmt.Errorf("unknown expect %q: use one of %s", expect, strings.Join(Expects, ", "))
}

// messageValue is the whole message as a value (expect: any).
func messageValue(ev Event) map[string]any {
	m := map[string]any{"id": ev.MessageID, "type": ev.Type, "text": ev.Text, "from": ev.From, "timestamp": ev.Timestamp, "media_type": ev.MediaType}
	if ev.Button != nil {
		m["button"] = map[string]any{"id": ev.Button.ID, "title": ev.Button.Title}
	}
	if ev.List != nil {
		m["list"] = map[string]any{"id": ev.List.ID, "title": ev.List.Title, "description": ev.List.Description}
	}
	if l := ev.Location; l != nil {
		m["location"] = map[string]any{"latitude": l.Latitude, "longitude": l.Longitude, "name": l.Name, "address": l.Address}
	}
	if md := ev.Media; md != nil {
		m["media"] = map[string]any{"type": md.Type, "id": md.ID, "mime_type": md.MimeType, "caption": md.Caption}
	}
	if ev.Flow != nil && ev.Flow.Response != nil {
		m["flow"] = jsonPlain(ev.Flow.Response)
	}
	return m
}

// answerText is the typed text of a text message.
func answerText(expect string, ev Event) (string, error) {
	if ev.Type != whatsapp.TypeText {
		return "", invalid(expect, "a %s message, not text", orAny(ev.Type))
	}
	s := strings.TrimSpace(ev.Text)
	if s == "" {
		return "", invalid(expect, "empty text")
	}
	if expect != ExpectText && len(s) > maxTypedAnswer {
		return "", invalid(expect, "%d characters: too long for a %s", len(s), expect)
	}
	return s, nil
}

// maxTypedAnswer bounds the text parsed as a number, email, phone or date (an email address
// has at most 254 characters).
const maxTypedAnswer = 320

func parseTextAnswer(ev Event) (any, error) {
	return answerText(ExpectText, ev)
}

var groupedRe = regexp.MustCompile(`^\d{1,3}([,.' ]\d{3})+$`)

// ParseNumber reads a number as people type it: "42", "-3", "1.5" and "1,5" (either mark
// is the decimal separator when it appears once), "1 000", "1'000", "1,234.5" and
// "1.234,5" (with both marks, the last one is the decimal separator), "1,000,000" (a mark
// repeated between groups of three digits groups thousands).
func ParseNumber(s string) (float64, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\u00a0", " "))
	if s == "" {
		return 0, invalid(ExpectNumber, "empty text")
	}
	sign := ""
	if s[0] == '-' || s[0] == '+' {
		sign, s = s[:1], strings.TrimSpace(s[1:])
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9') && !strings.ContainsRune(",.' ", r) {
			return 0, invalid(ExpectNumber, "%q is not a number: type digits, like 42 or 1,5", s)
		}
	}
	commas, dots := strings.Count(s, ","), strings.Count(s, ".")
	intPart, frac := s, ""
	switch {
	case commas > 0 && dots > 0:
		dec := max(strings.LastIndexByte(s, ','), strings.LastIndexByte(s, '.'))
		intPart, frac = s[:dec], s[dec+1:]
	case commas == 1:
		i := strings.IndexByte(s, ',')
		intPart, frac = s[:i], s[i+1:]
	case dots == 1:
		i := strings.IndexByte(s, '.')
		intPart, frac = s[:i], s[i+1:]
	}
	if strings.ContainsAny(intPart, ",.' ") {
		if !groupedRe.MatchString(intPart) {
			return 0, invalid(ExpectNumber, "%q mixes separators: write it like 1234.5 or 1234,5", s)
		}
		intPart = strings.NewReplacer(",", "", ".", "", "'", "", " ", "").Replace(intPart)
	}
	if strings.ContainsAny(frac, ",.' ") {
		return 0, invalid(ExpectNumber, "%q mixes separators: write it like 1234.5 or 1234,5", s)
	}
	if intPart == "" && frac == "" {
		return 0, invalid(ExpectNumber, "%q is not a number", s)
	}
	num := sign + orZero(intPart)
	if frac != "" {
		num += "." + frac
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, invalid(ExpectNumber, "%q is not a number", s)
	}
	return f, nil
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// ParseEmail returns the lower-cased address of an email typed on its own
// ("Ada@Example.com" → "ada@example.com"). Display names ("Ada <ada@x.com>") are accepted
// and dropped.
func ParseEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", invalid(ExpectEmail, "%q is not an email address like name@example.com", s)
	}
	addr := strings.ToLower(a.Address)
	at := strings.LastIndexByte(addr, '@')
	domain := addr[at+1:]
	if at <= 0 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.ContainsAny(addr, " \"") {
		return "", invalid(ExpectEmail, "%q is not an email address like name@example.com", s)
	}
	return addr, nil
}

// ParsePhone returns a phone number in E.164 with its "+" ("+49 151 2345 6789" and
// "0049..." → "+4915123456789"). A number without a country code is invalid.
func ParsePhone(s string) (string, error) {
	out, err := whatsapp.NormalizeE164(s)
	if err != nil {
		var pe *whatsapp.PhoneError
		if errors.As(err, &pe) {
			return "", invalid(ExpectPhone, "%s", pe.Msg)
		}
		return "", invalid(ExpectPhone, "%v", err)
	}
	return out, nil
}

var dateRes = []struct {
	re       *regexp.Regexp
	y, m, d  int
	ordering string
}{
	{regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2})$`), 1, 2, 3, "YYYY-MM-DD"},
	{regexp.MustCompile(`^(\d{1,2})\.(\d{1,2})\.(\d{4})$`), 3, 2, 1, "DD.MM.YYYY"},
	{regexp.MustCompile(`^(\d{1,2})/(\d{1,2})/(\d{4})$`), 3, 2, 1, "DD/MM/YYYY"},
}

// ParseDate returns a date as YYYY-MM-DD from "2026-03-01", "1.3.2026" or "01/03/2026"
// (day first, as written outside the US). The date must exist (no 31.02.).
func ParseDate(s string) (string, error) {
	s = strings.TrimSpace(s)
	for _, f := range dateRes {
		m := f.re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		y, _ := strconv.Atoi(m[f.y])
		mo, _ := strconv.Atoi(m[f.m])
		d, _ := strconv.Atoi(m[f.d])
		t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
		if mo < 1 || mo > 12 || d < 1 || t.Day() != d || y < 1 {
			return "", invalid(ExpectDate, "%q is not a date in the calendar", s)
		}
		return t.Format("2006-01-02"), nil
	}
	return "", invalid(ExpectDate, "%q is not a date: write it like 2026-03-01 or 01.03.2026", s)
}

// parseChoice accepts a tapped button or list row this question offered, or the exact
// title of one typed as text (case and surrounding spaces ignored).
func parseChoice(ev Event, choices []Choice) (any, error) {
	var id string
	switch {
	case ev.List != nil:
		id = ev.List.ID
	case ev.Button != nil:
		id = ev.Button.ID
	case ev.Type == whatsapp.TypeText:
		txt := normalizeText(ev.Text)
		for _, c := range choices {
			if txt != "" && normalizeText(c.Title) == txt {
				return c.ID, nil
			}
		}
		return nil, invalid(ExpectChoice, "%q is none of the offered titles (%s)", strings.TrimSpace(ev.Text), titles(choices))
	default:
		return nil, invalid(ExpectChoice, "a %s message, not a tap on an offered option", orAny(ev.Type))
	}
	for _, c := range choices {
		if c.ID == id {
			return id, nil
		}
	}
	return nil, invalid(ExpectChoice, "%q was not offered by this question (it offered %s)", id, titles(choices))
}

func titles(cs []Choice) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Title)
	}
	return strings.Join(out, ", ")
}

// defaultRetry is the retry message of an ask without retry_message.
func defaultRetry(expect string) string {
	switch expect {
	case ExpectNumber:
		return "Please answer with a number, like 42 or 1.5."
	case ExpectEmail:
		return "That does not look like an email address. Please type it like name@example.com."
	case ExpectPhone:
		return "Please send the phone number with its country code, like +49 151 23456789."
	case ExpectDate:
		return "Please send a date like 31.12.2026 or 2026-12-31."
	case ExpectChoice:
		return "Please choose one of the options."
	case ExpectLocation:
		return "Please share a location: tap the attachment icon, then Location."
	case ExpectMedia:
		return "Please send a photo, video, audio or document."
	case ExpectFlow:
		return "Please fill in the form using the button above."
	}
	return "Sorry, I did not get that. Please try again."
}

// choicesOf lists the buttons or list rows of a rendered interactive message.
func choicesOf(m *whatsapp.Message) []Choice {
	if m == nil || m.Interactive == nil {
		return nil
	}
	var out []Choice
	for _, b := range m.Interactive.Action.Buttons {
		out = append(out, Choice{ID: b.Reply.ID, Title: b.Reply.Title})
	}
	for _, s := range m.Interactive.Action.Sections {
		for _, r := range s.Rows {
			out = append(out, Choice{ID: r.ID, Title: r.Title})
		}
	}
	return out
}
