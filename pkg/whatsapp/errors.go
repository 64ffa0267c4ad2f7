package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
)

// ErrorClass is what gtc does about a failed Cloud API call (see cloud-api.md, "Errors").
type ErrorClass string

// The error classes. Decisions are made on the Graph error code, not the HTTP status.
const (
	ClassNone         ErrorClass = ""
	ClassRateLimited  ErrorClass = "rate_limited"
	ClassTransient    ErrorClass = "transient"
	ClassSpamLimit    ErrorClass = "spam_limit"
	ClassWindowClosed ErrorClass = "window_closed"
	ClassUnreachable  ErrorClass = "unreachable"
	ClassBadRequest   ErrorClass = "bad_request"
	ClassAuth         ErrorClass = "auth"
	// ClassUnknown is a Graph error whose code gtc does not know; it is not retried.
	ClassUnknown ErrorClass = "unknown"
	// ClassInvalid is a message gtc refused before sending (Validate failed).
	ClassInvalid ErrorClass = "invalid"
)

// Notable error codes.
const (
	CodeRateLimitApp      = 4
	CodeRateLimitBusiness = 80007
	CodeThroughput        = 130429
	CodePairRate          = 131056
	CodeWindowClosed      = 131047
	CodeTemplateNotFound  = 132001
	CodeTokenInvalid      = 190
	CodeUndeliverable     = 131026
	CodeSpamLimit         = 131048
	// CodeBSUIDUnsupported: this message cannot go to a business-scoped user id (one-tap,
	// zero-tap and copy-code authentication templates need a phone number).
	CodeBSUIDUnsupported = 131062
)

var codeClasses = map[int]ErrorClass{}

func init() {
	add := func(c ErrorClass, codes ...int) {
		for _, code := range codes {
			codeClasses[code] = c
		}
	}
	add(ClassRateLimited, 4, 80007, 130429, 131056)
	add(ClassTransient, 1, 2, 131000, 131016, 133004, 131057)
	add(ClassSpamLimit, 131048, 131064)
	add(ClassWindowClosed, 131047)
	add(ClassUnreachable, 131026, 131049, 131050, 130472, 130403)
	add(ClassBadRequest, 100, 131008, 131009, 131051, 131052, 131053, 132000, 132001, 132005,
		132007, 132008, 132012, 132015, 132016, 131030, 131062)
	add(ClassAuth, 0, 190, 3, 10, 368, 131031, 131042, 130497)
	for c := 200; c <= 299; c++ {
		add(ClassAuth, c)
	}
}

// ClassOfCode classifies a Graph error code (as found in an error body or a failed status
// webhook). Unknown codes are ClassUnknown.
func ClassOfCode(code int) ErrorClass {
	if c, ok := codeClasses[code]; ok {
		return c
	}
	return ClassUnknown
}

// Retryable reports whether an error of class c may be sent again. Rate limits are retried
// only when the caller asks for it (retry_on_rate_limit).
func (c ErrorClass) Retryable(retryOnRateLimit bool) bool {
	switch c {
	case ClassTransient:
		return true
	case ClassRateLimited:
		return retryOnRateLimit
	}
	return false
}

// Advice tells the user what to do about an error of class c.
func (c ErrorClass) Advice() string {
	switch c {
	case ClassRateLimited:
		return "rate limited by the Cloud API: slow down and retry later (gtc retries when retry_on_rate_limit is set)"
	case ClassTransient:
		return "temporary Cloud API problem: retry later"
	case ClassSpamLimit:
		return "Meta limited this number for spam: pause sending to this user and check the number's quality rating in WhatsApp Manager"
	case ClassWindowClosed:
		return "the 24-hour window is closed: send an approved template (--template) instead"
	case ClassUnreachable:
		return "the recipient cannot receive this message (not on WhatsApp, opted out or blocked): do not retry"
	case ClassBadRequest:
		return "the request was rejected: fix the message and send again"
	case ClassAuth:
		return "the access token or account is not allowed to do this: check access_token, phone_number_id and the app's permissions"
	case ClassInvalid:
		return "fix the message: it breaks a Cloud API limit"
	}
	return "see the Graph error code in Meta's error reference"
}

var codeAdvice = map[int]string{
	4:      "the app hit its API call limit: wait an hour or lower the rate",
	80007:  "the WhatsApp business account hit its rate limit: wait and retry later",
	130429: "throughput limit of the phone number reached (80 messages/s by default): lower rate_per_second",
	131056: "too many messages to the same recipient in a short time (pair rate limit): wait before messaging this user again",
	131047: "the 24-hour window is closed: the user has not written in the last 24 hours; send an approved template (--template) instead",
	132001: "the template name or language does not exist or is not approved: check with 'gtc templates list' and use the exact name and language",
	132000: "the number of template parameters does not match the template: check with 'gtc templates list'",
	132012: "a template parameter has the wrong format: check with 'gtc templates list'",
	190:    "the access token is invalid or expired: create a new (permanent system-user) token and update access_token in secrets.env",
	131026: "the message could not be delivered: the number may not be on WhatsApp, or the user has not accepted the terms or blocked the business",
	131048: "spam rate limit hit: too many messages were blocked or reported; pause and check quality in WhatsApp Manager",
	131031: "the business account is locked or restricted: check WhatsApp Manager",
	131030: "the recipient is not in the allowed list of this test number: add it in the app dashboard (API Setup) or use a production number",
	100:    "invalid parameter: check the message fields and ids (phone_number_id, media id)",
	10:     "permission denied: the token lacks whatsapp_business_messaging/whatsapp_business_management permission",
	131009: "a parameter value is invalid: check the message fields",
	131062: "this message cannot be sent to a business-scoped user id (authentication templates need a phone number): send it to the contact's phone number",
	131008: "a required parameter is missing",
	131051: "unsupported message type",
	131053: "the media could not be uploaded or fetched: check the URL or file type",
}

// GraphError is an error answered by the Graph API, decoded from
// {"error":{message,type,code,error_data{details},error_subcode,fbtrace_id}}, or a transport
// failure (HTTPStatus 0 with Class transient). It never contains the access token.
type GraphError struct {
	HTTPStatus int
	Code       int
	Subcode    int
	Type       string
	Message    string
	Details    string
	FBTraceID  string
	Class      ErrorClass
	// Recipient is the "to" of the failed send, when known (used for per-recipient backoff).
	Recipient string
	// Err is the underlying transport error, when there was no Graph answer.
	Err error
	// Unclear: the request was written but no Graph answer says what became of it (a
	// timeout, a reset connection, a 5xx that is not a Graph error); see Unclear.
	Unclear bool
}

func (e *GraphError) Error() string {
	var b strings.Builder
	if e.Code == 0 && e.HTTPStatus == 0 && e.Err != nil {
		fmt.Fprintf(&b, "cloud api request failed: %v", e.Err)
		return b.String()
	}
	b.WriteString("cloud api error")
	if e.Code != 0 {
		fmt.Fprintf(&b, " %d", e.Code)
		if e.Subcode != 0 {
			fmt.Fprintf(&b, "/%d", e.Subcode)
		}
	}
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Details != "" && e.Details != e.Message {
		b.WriteString(": ")
		b.WriteString(e.Details)
	}
	if e.FBTraceID != "" {
		fmt.Fprintf(&b, " [fbtrace_id %s]", e.FBTraceID)
	}
	return b.String()
}

func (e *GraphError) Unwrap() error { return e.Err }

// Advice tells the user what to do: the code's own advice when gtc knows it, else the class's.
func (e *GraphError) Advice() string {
	if a, ok := codeAdvice[e.Code]; ok && e.Code != 0 {
		return a
	}
	return e.Class.Advice()
}

// Retryable reports whether the failed call may be repeated.
func (e *GraphError) Retryable(retryOnRateLimit bool) bool {
	return e.Class.Retryable(retryOnRateLimit)
}

type graphErrorBody struct {
	Error *struct {
		Message   string `json:"message"`
		Type      string `json:"type"`
		Code      int    `json:"code"`
		Subcode   int    `json:"error_subcode"`
		FBTraceID string `json:"fbtrace_id"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
	} `json:"error"`
}

// DecodeGraphError turns a non-2xx Graph answer into a *GraphError. The class comes from the
// code; a body that is not a Graph error is transient for HTTP 5xx and 429, else bad_request.
func DecodeGraphError(status int, body []byte) *GraphError {
	ge := &GraphError{HTTPStatus: status}
	var eb graphErrorBody
	if err := json.Unmarshal(body, &eb); err == nil && eb.Error != nil {
		ge.Code = eb.Error.Code
		ge.Subcode = eb.Error.Subcode
		ge.Type = eb.Error.Type
		ge.Message = eb.Error.Message
		ge.Details = eb.Error.ErrorData.Details
		ge.FBTraceID = eb.Error.FBTraceID
		ge.Class = ClassOfCode(ge.Code)
		if ge.Class == ClassUnknown && status >= 500 {
			ge.Class = ClassTransient
		}
		return ge
	}
	switch {
	case status >= 500:
		// A gateway's answer, not Graph's: the request may have been carried out.
		ge.Class = ClassTransient
		ge.Message = "server error"
		ge.Unclear = true
	case status == 429:
		ge.Class = ClassRateLimited
		ge.Message = "too many requests"
	case status == 401 || status == 403:
		ge.Class = ClassAuth
		ge.Message = "not authorized"
	default:
		ge.Class = ClassBadRequest
		ge.Message = "unexpected answer"
	}
	return ge
}

// ClassOf classifies any error returned by the client: Graph errors by code, timeouts and
// connection errors as transient, invalid messages as ClassInvalid. nil is ClassNone.
func ClassOf(err error) ErrorClass {
	if err == nil {
		return ClassNone
	}
	var ge *GraphError
	if errors.As(err, &ge) {
		return ge.Class
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ClassInvalid
	}
	if errors.Is(err, context.Canceled) {
		return ClassUnknown
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) {
		return ClassTransient
	}
	return ClassUnknown
}

// UnclearError is a call whose outcome is unknown for a reason other than a Graph error: the
// caller gave up after the request was written, or a 2xx answer could not be read.
type UnclearError struct{ Err error }

func (e *UnclearError) Error() string { return "outcome unknown: " + e.Err.Error() }
func (e *UnclearError) Unwrap() error { return e.Err }

// Unclear reports whether a failed call may have been carried out all the same: the
// request was written and no Graph error answered it (a timeout, a reset connection, a 5xx
// without a Graph error body, the caller giving up mid-call, an unreadable 2xx). A send that
// failed this way must not be repeated at once: Graph has no idempotency key, so gtc waits
// for its status webhook first (docs/design.md, "Durability"). A Graph error answer, or a
// failure before the request was written (no connection), is clear: nothing was sent.
func Unclear(err error) bool {
	var ue *UnclearError
	if errors.As(err, &ue) {
		return true
	}
	var ge *GraphError
	return errors.As(err, &ge) && ge.Unclear
}

// CodeOf returns the Graph error code of err, or 0.
func CodeOf(err error) int {
	var ge *GraphError
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// AdviceOf returns what the user should do about err ("" when there is nothing to add).
func AdviceOf(err error) string {
	if Unclear(err) {
		return "the request may have reached the Cloud API: gtc did not send it again, so the customer gets it at most once; " +
			"look for it in the chat or its status webhook (gtc messages) before sending it again"
	}
	var ge *GraphError
	if errors.As(err, &ge) {
		return ge.Advice()
	}
	if c := ClassOf(err); c != ClassUnknown && c != ClassNone {
		return c.Advice()
	}
	return ""
}
