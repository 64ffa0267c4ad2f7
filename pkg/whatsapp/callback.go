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

// CallbackData is the biz_opaque_callback_data gtc puts on a send: "gtc:<outbound id>:<attempt>".
// Meta echoes it in the message's status webhooks, so a status can be tied to the exact
// attempt even when the send's answer was lost (a timeout, a crash).
func CallbackData(outboundID int64, attempt int) string {
	return callbackPrefix + strconv.FormatInt(outboundID, 10) + ":" + strconv.Itoa(attempt)
}

// ParseCallbackData reads what CallbackData wrote; ok is false for anything else (another
// app's data, or none).
func ParseCallbackData(s string) (outboundID int64, attempt int, ok bool) {
	rest, found := strings.CutPrefix(s, callbackPrefix)
	if !found {
		return 0, 0, false
	}
	idText, attText, found := strings.Cut(rest, ":")
	if !found {
		return 0, 0, false
	}
	id, err1 := strconv.ParseInt(idText, 10, 64)
	att, err2 := strconv.Atoi(attText)
	if err1 != nil || err2 != nil || id <= 0 || att < 0 {
		return 0, 0, false
	}
	return id, att, true
}
