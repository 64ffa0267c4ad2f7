package whatsapp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// PhoneError is a recipient number that is not a usable E.164 number.
type PhoneError struct {
	Input string
	Msg   string
}

func (e *PhoneError) Error() string { return fmt.Sprintf("recipient %q: %s", e.Input, e.Msg) }

// NormalizeE164 checks a recipient number and returns it in E.164 form with the leading "+"
// ("+4915123456789"), which is what gtc sends as "to" (the Cloud API accepts the number with
// or without "+"; keeping it makes the country code explicit in logs and in the store).
// "+49 151 2345-6789", "004915123456789" and "(+49) 151..." are accepted. A number without a
// country code ("015123456789", "15123456789") is an error: gtc never guesses the country.
func NormalizeE164(s string) (string, error) {
	in := s
	s = strings.TrimSpace(s)
	if s == "" {
		return "", &PhoneError{Input: in, Msg: "empty: give the number in international form, e.g. +4915123456789"}
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && b.Len() == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/' || r == '\u00a0':
		default:
			return "", &PhoneError{Input: in, Msg: fmt.Sprintf("unexpected character %q at position %d: use digits only, e.g. +4915123456789", r, i+1)}
		}
	}
	n := b.String()
	if strings.HasPrefix(n, "00") {
		n = "+" + n[2:]
	}
	if !strings.HasPrefix(n, "+") {
		return "", &PhoneError{Input: in, Msg: "no country code: add the country code, e.g. +49 for Germany (015123456789 → +4915123456789)"}
	}
	if len(n) < 8 || len(n) > 16 {
		return "", &PhoneError{Input: in, Msg: "not an E.164 number (7 to 15 digits after the +), e.g. +4915123456789"}
	}
	num, err := phonenumbers.Parse(n, "")
	if err != nil {
		if errors.Is(err, phonenumbers.ErrInvalidCountryCode) {
			return "", &PhoneError{Input: in, Msg: "unknown country code: check the digits after the +, e.g. +49 for Germany"}
		}
		return "", &PhoneError{Input: in, Msg: fmt.Sprintf("not a phone number (%v): use the international form, e.g. +4915123456789", err)}
	}
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.IS_POSSIBLE:
	case phonenumbers.TOO_SHORT:
		return "", &PhoneError{Input: in, Msg: "too short for its country code: check the number"}
	case phonenumbers.TOO_LONG:
		return "", &PhoneError{Input: in, Msg: "too long for its country code: check the number"}
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "", &PhoneError{Input: in, Msg: "unknown country code: check the digits after the +, e.g. +49 for Germany"}
	default:
		return "", &PhoneError{Input: in, Msg: "not a possible number for its country code: check the number"}
	}
	out := phonenumbers.Format(num, phonenumbers.E164)
	if out != n {
		// "+49 0151...": a trunk 0 after the country code, which is not dialled from abroad.
		// Suggest the number without it, never send a number the user did not type.
		if again, err := NormalizeE164(out); err == nil && again == out {
			return "", &PhoneError{Input: in, Msg: fmt.Sprintf("drop the 0 after the country code: did you mean %s?", out)}
		}
		return "", &PhoneError{Input: in, Msg: "not a possible number for its country code: check the number"}
	}
	return out, nil
}

// NumberVariants returns the other forms under which WhatsApp may know the phone number
// digits (E.164 without "+"), by the country rules where the wa_id and the number people
// type differ:
//   - Mexico: 52 + 10 digits ↔ 521 + 10 digits (the old mobile prefix 1, which wa_ids of
//     older accounts keep);
//   - Argentina: 54 + 10 digits ↔ 549 + 10 digits (the mobile 9);
//   - Brazil: 55 + area + 9 + 8 digits ↔ 55 + area + 8 digits, for a mobile number (the
//     8 digits begin with 6 to 9; wa_ids of accounts older than the ninth digit lack it).
//
// Anything else, and digits that are not a number of these forms, has no variant (nil).
// The variants identify the same WhatsApp account: gtc looks a contact up under them, so an
// opt-out recorded under the wa_id holds for the number as typed, and the other way round.
func NumberVariants(digits string) []string {
	if !isAllDigits(digits) {
		return nil
	}
	n := len(digits)
	switch {
	case strings.HasPrefix(digits, "521") && n == 13:
		return []string{"52" + digits[3:]}
	case strings.HasPrefix(digits, "52") && n == 12 && digits[2] != '1':
		return []string{"521" + digits[2:]}
	case strings.HasPrefix(digits, "549") && n == 13:
		return []string{"54" + digits[3:]}
	case strings.HasPrefix(digits, "54") && n == 12 && digits[2] != '9':
		return []string{"549" + digits[2:]}
	case strings.HasPrefix(digits, "55") && n == 13 && digits[2] != '0' && digits[4] == '9' && digits[5] >= '6':
		return []string{digits[:4] + digits[5:]}
	case strings.HasPrefix(digits, "55") && n == 12 && digits[2] != '0' && digits[4] >= '6':
		return []string{digits[:4] + "9" + digits[4:]}
	}
	return nil
}

func isAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// NormalizeRecipient checks a recipient given as a phone number or a business-scoped user id
// (BSUID, "US.13491208655302741918", for a user known without a number): a BSUID is returned
// as given (trimmed), a number in E.164 form (NormalizeE164).
func NormalizeRecipient(s string) (string, error) {
	if t := strings.TrimSpace(s); IsBSUID(t) {
		return t, nil
	}
	return NormalizeE164(s)
}
