package whatsapp

// The one-pass reader of webhook bodies. parseWebhookByLevel decodes a body level by level
// (top, entry, change, value, message), each level an encoding/json.Unmarshal into
// json.RawMessage parts: the bytes of a message are scanned about ten times and copied four
// times before the message itself is read. parseWebhookOnePass walks the body once,
// checking it is valid JSON as it goes, cuts out the parts (entries, changes, values and
// their messages, statuses, errors, preferences) as sub-slices without copying, and reads
// each part with the same code as the level-by-level parser, so both give the same events
// for the same body.
//
// It reads only what it reads exactly as encoding/json would: when a part of the frame is
// odd (an entry that is not an object, a change without a value, a value of another type, a
// key given twice or in another case, a nesting deeper than any webhook), it gives up and
// the level-by-level parser, which cuts the odd part out exactly where it is, reads the
// body instead. An odd message or status inside a well-formed frame is read by the shared
// code and needs no fallback.
//
// That shared code reads the messages, statuses and contacts seen most (text, replies,
// button and list replies; statuses without errors) with quickMessage, quickStatus and
// quickContact below: typed, without encoding/json's reflection, with json.Unmarshal for
// anything else. FuzzParseWebhookOnePass and FuzzQuickDecoders hold both readers to
// encoding/json's answers.

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// maxScanDepth is the nesting the one-pass reader follows before giving up (encoding/json
// refuses beyond 10,000; webhooks nest about ten deep).
const maxScanDepth = 512

// scannedChange is one change cut out of a body: the entry's id and time and the change's
// field in base, the value's raw JSON and its parts in v.
type scannedChange struct {
	base  Event
	ref   changeRef
	value json.RawMessage
	v     wireValue
}

// parseWebhookOnePass is ParseWebhook for a body whose frame it reads exactly; ok is false
// when it gives up (see the top of this file), and then the body must be parsed by level.
func parseWebhookOnePass(body []byte) (events []Event, ok bool) {
	s := &scanner{b: body}
	var (
		changes []scannedChange
		object  string
	)
	s.ws()
	ok = s.fields(topKeys, func(key string) (ok bool) {
		switch key {
		case "object":
			object, ok = s.stringValue()
		case "entry":
			ok = s.arrayOrNull(func(i int) bool { return s.entry(i, &changes) })
		}
		return ok
	})
	if !ok {
		return nil, false
	}
	s.ws()
	if s.i != len(s.b) || object != "whatsapp_business_account" {
		return nil, false
	}
	if len(changes) == 0 {
		return nil, true
	}
	n, size := 0, 0
	for i := range changes {
		c := &changes[i]
		n += len(c.v.Messages) + len(c.v.Statuses) + len(c.v.Errors) + len(c.v.UserPreferences) + 1
		for _, list := range [][]json.RawMessage{c.v.Messages, c.v.Statuses, c.v.Errors, c.v.UserPreferences} {
			for _, raw := range list {
				size += len(raw)
			}
		}
		if c.base.Field != "messages" && c.base.Field != "standby" {
			size += len(c.value)
		}
	}
	a := &rawArena{buf: make([]byte, 0, size)}
	events = make([]Event, 0, n)
	for i := range changes {
		c := &changes[i]
		events = appendChange(events, c.base, c.value, &c.v, c.ref, a)
	}
	return events, true
}

// rawArena holds the raw JSON the events of one body keep (Event.Raw), copied out of the
// body into one allocation: events never alias the caller's buffer, nor keep the rest of
// it alive. A nil *rawArena keeps raw JSON as it is (encoding/json's parts are copies).
type rawArena struct{ buf []byte }

func (a *rawArena) keep(raw json.RawMessage) json.RawMessage {
	raw = cloneRaw(raw)
	if a == nil || raw == nil {
		return raw
	}
	start := len(a.buf)
	a.buf = append(a.buf, raw...)
	return a.buf[start:len(a.buf):len(a.buf)] // full slice: an append to one Raw cannot overwrite the next
}

// The keys of the frame's objects, as encoding/json reads them into parseWebhookByLevel's
// structs.
var (
	topKeys      = []string{"object", "entry"}
	entryKeys    = []string{"id", "time", "changes"}
	changeKeys   = []string{"field", "value"}
	metadataKeys = []string{"display_phone_number", "phone_number_id"}
)

// entry reads entry[i] into changes.
func (s *scanner) entry(i int, changes *[]scannedChange) bool {
	if !s.at('{') {
		return false // null, or not an object: the level-by-level parser says what it is
	}
	first := len(*changes)
	var (
		id      string
		rawTime []byte
	)
	ok := s.fields(entryKeys, func(key string) (ok bool) {
		switch key {
		case "id":
			id, ok = s.stringValue()
		case "time":
			rawTime, ok = s.value()
		case "changes":
			ok = s.arrayOrNull(func(j int) bool { return s.change(changeRef{i, j}, changes) })
		}
		return ok
	})
	if !ok {
		return false
	}
	base := Event{WABAID: id}
	var t flexInt
	if t.UnmarshalJSON(rawTime) == nil { // as parseEntry: an odd entry.time is left out
		base.EntryTime = int64(t)
	}
	for k := first; k < len(*changes); k++ {
		c := &(*changes)[k]
		c.base.WABAID, c.base.EntryTime = base.WABAID, base.EntryTime
	}
	return true
}

// change reads one change of an entry into changes.
func (s *scanner) change(ref changeRef, changes *[]scannedChange) bool {
	if !s.at('{') {
		return false
	}
	c := scannedChange{ref: ref}
	ok := s.fields(changeKeys, func(key string) (ok bool) {
		switch key {
		case "field":
			c.base.Field, ok = s.stringValue()
		case "value":
			if !s.at('{') {
				return false // a null or odd value is cut out by level
			}
			start := s.i
			if ok = s.changeValue(&c.v); ok {
				c.value = s.b[start:s.i:s.i]
			}
		}
		return ok
	})
	if !ok || c.value == nil {
		return false // and a change without a value
	}
	*changes = append(*changes, c)
	return true
}

// wireValueKeys are the keys encoding/json reads into a wireValue (TestQuickKeys).
var wireValueKeys = []string{"metadata", "contacts", "messages", "statuses", "errors", "user_preferences"}

// changeValue reads a change value into v as json.Unmarshal into a wireValue would.
func (s *scanner) changeValue(v *wireValue) bool {
	return s.fields(wireValueKeys, func(key string) (ok bool) {
		switch key {
		case "metadata":
			if s.at('n') {
				return s.literal("null")
			}
			ok = s.fields(metadataKeys, func(key string) (ok bool) {
				switch key {
				case "display_phone_number":
					v.Metadata.DisplayPhoneNumber, ok = s.stringValue()
				case "phone_number_id":
					v.Metadata.PhoneNumberID, ok = s.stringValue()
				}
				return ok
			})
		case "contacts":
			ok = s.rawList(&v.Contacts)
		case "messages":
			ok = s.rawList(&v.Messages)
		case "statuses":
			ok = s.rawList(&v.Statuses)
		case "errors":
			ok = s.rawList(&v.Errors)
		case "user_preferences":
			ok = s.rawList(&v.UserPreferences)
		}
		return ok
	})
}

// rawList reads an array (or null) of any values, each kept as its raw JSON.
func (s *scanner) rawList(list *[]json.RawMessage) bool {
	if s.at('n') {
		return s.literal("null")
	}
	*list = []json.RawMessage{} // [] is an empty list, as encoding/json makes it
	return s.array(func(int) bool {
		raw, ok := s.value()
		if ok {
			*list = append(*list, raw)
		}
		return ok
	})
}

// scanner walks JSON in b from i. Every method checks the JSON it passes over as
// strictly as encoding/json does (or more: it may refuse what encoding/json accepts, never
// the reverse) and returns false on anything it does not read.
type scanner struct {
	b     []byte
	i     int
	depth int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) at(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

func (s *scanner) literal(lit string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return false
	}
	s.i += len(lit)
	return true
}

// object walks the object at i, calling member with i at the value of each key (after
// the colon and spaces); member must pass over the value.
func (s *scanner) object(member func(key []byte) bool) bool {
	if !s.at('{') || s.depth >= maxScanDepth {
		return false
	}
	s.i++
	s.depth++
	s.ws()
	if s.at('}') {
		s.i++
		s.depth--
		return true
	}
	for {
		key, ok := s.str()
		if !ok {
			return false
		}
		s.ws()
		if !s.at(':') {
			return false
		}
		s.i++
		s.ws()
		if !member(key) {
			return false
		}
		s.ws()
		switch {
		case s.at(','):
			s.i++
			s.ws()
		case s.at('}'):
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

// fields walks the object at i, calling read with i at the value of each key in keys,
// which must pass over it and may say false to give up. A key given twice makes it give
// up (encoding/json would merge or overwrite); other keys are passed over (see other).
func (s *scanner) fields(keys []string, read func(key string) bool) bool {
	var seen uint64 // a bit per key in keys
	return s.object(func(key []byte) bool {
		for i, k := range keys {
			if string(key) == k {
				if seen&(1<<i) != 0 {
					return false
				}
				seen |= 1 << i
				return read(k)
			}
		}
		return s.other(key, keys...)
	})
}

// array walks the array at i, calling elem with i at each element; elem must pass over it.
func (s *scanner) array(elem func(k int) bool) bool {
	if !s.at('[') || s.depth >= maxScanDepth {
		return false
	}
	s.i++
	s.depth++
	s.ws()
	if s.at(']') {
		s.i++
		s.depth--
		return true
	}
	for k := 0; ; k++ {
		if !elem(k) {
			return false
		}
		s.ws()
		switch {
		case s.at(','):
			s.i++
			s.ws()
		case s.at(']'):
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

func (s *scanner) arrayOrNull(elem func(k int) bool) bool {
	if s.at('n') {
		return s.literal("null")
	}
	return s.array(elem)
}

// other passes over the value of a key the reader does not use. A key that encoding/json
// might match to one of known (in another case, or spelled with escapes or non-ASCII
// letters, which fold) makes it give up.
func (s *scanner) other(key []byte, known ...string) bool {
	for _, c := range key {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	for _, k := range known {
		if bytes.EqualFold(key, []byte(k)) {
			return false
		}
	}
	_, ok := s.value()
	return ok
}

// stringValue reads a string (or null, as "") as encoding/json decodes it into a string.
func (s *scanner) stringValue() (string, bool) {
	if s.at('n') {
		return "", s.literal("null")
	}
	start := s.i
	inner, ok := s.str()
	if !ok {
		return "", false
	}
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var v string // escapes, or invalid UTF-8 that encoding/json replaces
	if json.Unmarshal(s.b[start:s.i], &v) != nil {
		return "", false
	}
	return v, true
}

// value passes over any value and returns its raw JSON (a sub-slice of b whose capacity
// ends with it).
func (s *scanner) value() ([]byte, bool) {
	start := s.i
	if !s.skip() {
		return nil, false
	}
	return s.b[start:s.i:s.i], true
}

func (s *scanner) skip() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(func([]byte) bool { return s.skip() })
	case c == '[':
		return s.array(func(int) bool { return s.skip() })
	case c == '"':
		_, ok := s.str()
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	}
	return false
}

// str passes over the string at i and returns what is between the quotes, escapes as
// they are. Like encoding/json it refuses control characters and bad escapes, and lets
// bytes that are not UTF-8 through.
func (s *scanner) str() ([]byte, bool) {
	if !s.at('"') {
		return nil, false
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			inner := s.b[start:s.i]
			s.i++
			return inner, true
		case c < 0x20:
			return nil, false
		case c == '\\':
			s.i++
			if s.i >= len(s.b) {
				return nil, false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				s.i++
				if len(s.b)-s.i < 4 {
					return nil, false
				}
				for _, h := range s.b[s.i : s.i+4] {
					if !isHex(h) {
						return nil, false
					}
				}
				s.i += 4
			default:
				return nil, false
			}
		default:
			s.i++
		}
	}
	return nil, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number passes over a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	if s.at('-') {
		s.i++
	}
	switch {
	case s.at('0'):
		s.i++
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.at('.') {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if s.at('e') || s.at('E') {
		s.i++
		if s.at('+') || s.at('-') {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits passes over [0-9]* and says whether there was one.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// wireMessageKeys are the keys encoding/json reads into a wireMessage (TestQuickKeys).
var wireMessageKeys = []string{"from", "from_user_id", "from_parent_user_id", "id", "timestamp", "type", "context", "text",
	"interactive", "button", "image", "video", "audio", "document", "sticker", "location", "contacts", "reaction",
	"order", "system", "referral", "errors"}

// quickMessage reads the messages a bot gets most (text, replies, button and list replies)
// into w as json.Unmarshal would, in one pass and without encoding/json's reflection. It
// reads from, from_user_id, from_parent_user_id, id, timestamp, type, context, text,
// interactive (button_reply, list_reply) and button, each once; on any other field gtc
// reads (media, location, nfm_reply, …), a null or odd-typed part, a key given twice or
// in another case, it returns false and parseMessage uses json.Unmarshal.
func quickMessage(raw []byte, w *wireMessage) bool {
	s := &scanner{b: raw}
	s.ws()
	ok := s.fields(wireMessageKeys, func(key string) (ok bool) {
		switch key {
		case "from":
			w.From, ok = s.stringValue()
		case "from_user_id":
			w.FromUserID, ok = s.stringValue()
		case "from_parent_user_id":
			w.FromParentUserID, ok = s.stringValue()
		case "id":
			w.ID, ok = s.stringValue()
		case "type":
			w.Type, ok = s.stringValue()
		case "timestamp":
			ok = s.flexInt(&w.Timestamp)
		case "text":
			w.Text = &struct {
				Body string `json:"body"`
			}{}
			ok = s.stringFields(strField{"body", &w.Text.Body})
		case "context":
			ok = s.context(w)
		case "interactive":
			ok = s.interactive(w)
		case "button":
			w.Button = &struct {
				Payload string `json:"payload"`
				Text    string `json:"text"`
			}{}
			ok = s.stringFields(strField{"payload", &w.Button.Payload}, strField{"text", &w.Button.Text})
		} // any other field (media, location, …) is read by encoding/json
		return ok
	})
	s.ws()
	return ok && s.i == len(s.b)
}

var (
	contextKeys     = []string{"from", "id", "forwarded"}
	interactiveKeys = []string{"type", "button_reply", "list_reply", "nfm_reply"}
)

func (s *scanner) context(w *wireMessage) bool {
	if !s.at('{') {
		return false
	}
	w.Context = &struct {
		From      string `json:"from"`
		ID        string `json:"id"`
		Forwarded bool   `json:"forwarded"`
	}{}
	c := w.Context
	return s.fields(contextKeys, func(key string) (ok bool) {
		switch key {
		case "from":
			c.From, ok = s.stringValue()
		case "id":
			c.ID, ok = s.stringValue()
		case "forwarded":
			ok = s.bool(&c.Forwarded)
		}
		return ok
	})
}

func (s *scanner) interactive(w *wireMessage) bool {
	if !s.at('{') {
		return false
	}
	in := &struct {
		Type        string `json:"type"`
		ButtonReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply *struct {
			ID          string `json:"id"`
			Title       string `json:"title"`
			Description string `json:"description"`
		} `json:"list_reply"`
		NFMReply json.RawMessage `json:"nfm_reply"`
	}{}
	w.Interactive = in
	return s.fields(interactiveKeys, func(key string) (ok bool) {
		switch key {
		case "type":
			in.Type, ok = s.stringValue()
		case "button_reply":
			in.ButtonReply = &struct {
				ID    string `json:"id"`
				Title string `json:"title"`
			}{}
			ok = s.stringFields(strField{"id", &in.ButtonReply.ID}, strField{"title", &in.ButtonReply.Title})
		case "list_reply":
			in.ListReply = &struct {
				ID          string `json:"id"`
				Title       string `json:"title"`
				Description string `json:"description"`
			}{}
			ok = s.stringFields(strField{"id", &in.ListReply.ID}, strField{"title", &in.ListReply.Title}, strField{"description", &in.ListReply.Description})
		} // nfm_reply is read by encoding/json
		return ok
	})
}

// strField is a string field of an object: its key and where its value goes.
type strField struct {
	key string
	p   *string
}

// stringFields reads an object of string fields (at most 8, each at most once) into
// fields; other keys are passed over. It wants an object: null or another type returns false.
func (s *scanner) stringFields(fields ...strField) bool {
	if !s.at('{') {
		return false
	}
	var seen uint8
	return s.object(func(key []byte) bool {
		for i, f := range fields {
			if string(key) == f.key {
				if seen&(1<<i) != 0 {
					return false
				}
				seen |= 1 << i
				var ok bool
				*f.p, ok = s.stringValue()
				return ok
			}
		}
		for _, f := range fields {
			if bytes.EqualFold(key, []byte(f.key)) {
				return false
			}
		}
		return s.other(key)
	})
}

// wireContactKeys are the keys encoding/json reads into a wireContact (TestQuickKeys).
var wireContactKeys = []string{"profile", "wa_id", "user_id", "parent_user_id"}

// quickContact reads a value.contacts entry as json.Unmarshal into a wireContact would, or
// returns false (see quickMessage).
func quickContact(raw []byte, c *wireContact) bool {
	s := &scanner{b: raw}
	s.ws()
	ok := s.fields(wireContactKeys, func(key string) (ok bool) {
		switch key {
		case "profile":
			ok = s.stringFields(strField{"name", &c.Profile.Name}, strField{"username", &c.Profile.Username})
		case "wa_id":
			c.WaID, ok = s.stringValue()
		case "user_id":
			c.UserID, ok = s.stringValue()
		case "parent_user_id":
			c.ParentUserID, ok = s.stringValue()
		}
		return ok
	})
	s.ws()
	return ok && s.i == len(s.b)
}

// wireStatusKeys are the keys encoding/json reads into a wireStatus (TestQuickKeys).
var wireStatusKeys = []string{"id", "status", "timestamp", "recipient_id", "recipient_user_id", "recipient_parent_user_id",
	"errors", "biz_opaque_callback_data", "pricing", "conversation"}

// quickStatus reads a status without errors (sent, delivered, read, with pricing and
// conversation) into w as json.Unmarshal would, or returns false (see quickMessage).
func quickStatus(raw []byte, w *wireStatus) bool {
	s := &scanner{b: raw}
	s.ws()
	ok := s.fields(wireStatusKeys, func(key string) (ok bool) {
		switch key {
		case "id":
			w.ID, ok = s.stringValue()
		case "status":
			w.Status, ok = s.stringValue()
		case "timestamp":
			ok = s.flexInt(&w.Timestamp)
		case "recipient_id":
			w.RecipientID, ok = s.stringValue()
		case "recipient_user_id":
			w.RecipientUserID, ok = s.stringValue()
		case "recipient_parent_user_id":
			w.RecipientParent, ok = s.stringValue()
		case "biz_opaque_callback_data":
			w.BizOpaque, ok = s.stringValue()
		case "pricing":
			w.Pricing = &wirePricing{}
			ok = s.pricing(w.Pricing)
		case "conversation":
			w.Conversation = &wireConversation{}
			ok = s.conversation(w.Conversation)
		} // errors are read by encoding/json
		return ok
	})
	s.ws()
	return ok && s.i == len(s.b)
}

var (
	pricingKeys      = []string{"billable", "pricing_model", "category", "type"}
	conversationKeys = []string{"id", "expiration_timestamp", "origin"}
)

func (s *scanner) pricing(p *wirePricing) bool {
	return s.at('{') && s.fields(pricingKeys, func(key string) (ok bool) {
		switch key {
		case "billable":
			ok = s.bool(&p.Billable)
		case "pricing_model":
			p.PricingModel, ok = s.stringValue()
		case "category":
			p.Category, ok = s.stringValue()
		case "type":
			p.Type, ok = s.stringValue()
		}
		return ok
	})
}

func (s *scanner) conversation(c *wireConversation) bool {
	return s.at('{') && s.fields(conversationKeys, func(key string) (ok bool) {
		switch key {
		case "id":
			c.ID, ok = s.stringValue()
		case "expiration_timestamp":
			ok = s.flexInt(&c.Expiration)
		case "origin":
			ok = s.stringFields(strField{"type", &c.Origin.Type})
		}
		return ok
	})
}

// bool reads true or false (null leaves b as it is), as encoding/json does.
func (s *scanner) bool(b *bool) bool {
	switch {
	case s.literal("true"):
		*b = true
	case s.literal("false"):
		*b = false
	case s.literal("null"):
	default:
		return false
	}
	return true
}

// flexInt reads a timestamp as encoding/json does through flexInt.UnmarshalJSON (which
// gets any value, null included); an odd one returns false.
func (s *scanner) flexInt(f *flexInt) bool {
	raw, ok := s.value()
	return ok && f.UnmarshalJSON(raw) == nil
}
