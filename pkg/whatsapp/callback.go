package whatsapp

// Business-scoped user ids and the callback data gtc puts on every send.

import (
	"regexp"
	"strconv"
	"strings"
)

// bsuidRe is a business-scoped user id: an ISO 3166 alpha-2 country code, a dot, an
// optional "ENT." (a parent BSUID of an enterprise), then letters and digits, e.g.
// US.13491208655302741918 or US.ENT.11815799212886844830.
var bsuidRe = regexp.MustCompile(`^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$`)

// IsBSUID reports whether s is a business-scoped user id (BSUID) rather than a phone number.
func IsBSUID(s string) bool { return bsuidRe.MatchString(s) }

// callbackPrefix marks biz_opaque_callback_data written by gtc.
const callbackPrefix = "gtc:"

// Callback is what gtc's biz_opaque_callback_data names: the outbound row and the attempt
// that sent it. Meta echoes the data in the message's status webhooks, so a status can be
// tied to the exact attempt even when the send's answer was lost (a timeout, a crash).
// Created is the row's creation time (Unix ms): row ids start again in a new database, and
// a status for row 5 of another one (a reset database, a copy serving the same number) must
// not settle this one's row 5. It is 0 in the form gtc wrote before it was added
// ("gtc:<id>:<attempt>").
type Callback struct {
	OutboundID int64
	Attempt    int
	Created    int64
}

// String is the callback data: "gtc:<outbound id>:<attempt>:<created ms>".
func (c Callback) String() string {
	s := callbackPrefix + strconv.FormatInt(c.OutboundID, 10) + ":" + strconv.Itoa(c.Attempt)
	if c.Created > 0 {
		s += ":" + strconv.FormatInt(c.Created, 10)
	}
	return s
}

// ParseCallback reads what Callback.String wrote, or the older form without the creation
// time; ok is false for anything else (another app's data, or none).
func ParseCallback(s string) (Callback, bool) {
	rest, found := strings.CutPrefix(s, callbackPrefix)
	if !found {
		return Callback{}, false
	}
	parts := strings.Split(rest, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Callback{}, false
	}
	id, err1 := strconv.ParseInt(parts[0], 10, 64)
	att, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || id <= 0 || att < 0 {
		return Callback{}, false
	}
	c := Callback{OutboundID: id, Attempt: att}
	if len(parts) == 3 {
		created, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil || created <= 0 {
			return Callback{}, false
		}
		c.Created = created
	}
	return c, true
}
