package graphfake

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
)

// Fault is a Graph error the server answers with instead of (or, when Async, after)
// accepting a call. Inject it with Server.Inject or the FailNext/FailFor/FailAlways shortcuts.
type Fault struct {
	Code       int    // Graph error code, e.g. 131047
	Subcode    int    // error_subcode, 0 for none
	HTTPStatus int    // 0 picks Meta's usual status for the code (see DefaultHTTPStatus)
	Type       string // error type; "" picks OAuthException
	Message    string // "" picks Meta's title for the code
	Details    string // error_data.details; "" picks a generic detail
	// Times is how many matching calls fail; 0 means every matching call until ClearFaults.
	Times int
	// To limits the fault to sends to this recipient (compared digits only).
	To string
	// Endpoint limits the fault to one kind of call: "" or EndpointMessages (sends, not
	// read receipts), or any Endpoint* constant, or "*" for every call.
	Endpoint string
	// Async accepts the send (200 with a wamid) and reports the error in a "failed" status
	// webhook instead, the way Meta reports undeliverable messages. Sends only.
	Async bool
	// Gateway answers HTTPStatus (default 502) with an HTML page instead of a Graph error,
	// as a proxy in front of Graph does: the caller cannot tell whether the call was
	// carried out (whatsapp.Unclear). Code is ignored.
	Gateway bool
}

// Endpoints, as recorded in Call.Endpoint and matched by Fault.Endpoint.
const (
	EndpointMessages  = "messages"           // POST /{phone}/messages with a message
	EndpointMarketing = "marketing_messages" // POST /{phone}/marketing_messages (Marketing Messages API)
	EndpointRead      = "read"               // POST /{phone}/messages with status:read (+ typing)
	EndpointMedia     = "media"              // POST /{phone}/media
	EndpointMediaInfo = "media_info"         // GET /{media_id}
	EndpointDownload  = "download"           // GET of a media url
	EndpointTemplates = "templates"          // GET /{waba}/message_templates
	EndpointPhone     = "phone"              // GET /{phone}
	EndpointUnknown   = "unknown"            // anything else
)

// titles are Meta's error messages for the codes the fake answers with on its own or by
// injection (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
var titles = map[int]string{
	0:      "AuthException",
	1:      "API Unknown",
	2:      "API Service",
	3:      "API Method",
	4:      "(#4) Application request limit reached",
	10:     "(#10) Permission Denied",
	100:    "Invalid parameter",
	190:    "Invalid OAuth access token - Cannot parse access token",
	200:    "(#200) Permissions error",
	368:    "Temporarily blocked for policies violations",
	80007:  "(#80007) Rate limit issues",
	130429: "(#130429) Rate limit hit",
	130472: "(#130472) User's number is part of an experiment",
	130497: "Business account is restricted from messaging users in this country",
	131000: "(#131000) Something went wrong",
	131005: "(#131005) Access denied",
	131008: "(#131008) Required parameter is missing",
	131009: "(#131009) Parameter value is not valid",
	131016: "(#131016) Service unavailable",
	131021: "(#131021) Recipient cannot be sender",
	131026: "Message undeliverable",
	131030: "(#131030) Recipient phone number not in allowed list",
	131031: "(#131031) Business Account locked",
	131042: "Business eligibility payment issue",
	131045: "Incorrect certificate",
	131047: "Re-engagement message",
	131048: "Spam rate limit hit",
	131049: "This message was not delivered to maintain healthy ecosystem engagement.",
	131050: "Unable to deliver message. Reasons can include: The user has stopped marketing messages.",
	131051: "(#131051) Unsupported message type",
	131052: "Media download error",
	131053: "(#131053) Media upload error",
	131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
	131057: "(#131057) Account in maintenance mode",
	131064: "Spam rate limit hit",
	132000: "(#132000) Number of parameters does not match the expected number of params",
	132001: "(#132001) Template name does not exist in the translation",
	132005: "(#132005) Translated text too long",
	132007: "(#132007) Template Format Character Policy Violated",
	132012: "(#132012) Parameter format does not match format in the created template",
	132015: "(#132015) Template is Paused",
	132016: "(#132016) Template is Disabled",
	133004: "(#133004) Server temporarily unavailable",
}

// Title is Meta's error message for code ("Graph error N" when the fake does not know it).
func Title(code int) string {
	if t, ok := titles[code]; ok {
		return t
	}
	return "Graph error"
}

// DefaultHTTPStatus is the HTTP status Meta usually answers code with: 401 for an invalid
// token, 403 for permission errors, 429 for app-level rate limits, 500/503 for server-side
// codes, else 400.
func DefaultHTTPStatus(code int) int {
	switch code {
	case 190, 0:
		return http.StatusUnauthorized
	case 10, 200, 131005:
		return http.StatusForbidden
	case 4, 80007:
		return http.StatusTooManyRequests
	case 1, 2, 131000, 131016:
		return http.StatusInternalServerError
	case 133004:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// graphError is the body {"error":{...}} in Meta's shape.
type graphError struct {
	Message   string     `json:"message"`
	Type      string     `json:"type"`
	Code      int        `json:"code"`
	ErrorData *errorData `json:"error_data,omitempty"`
	Subcode   int        `json:"error_subcode,omitempty"`
	FBTraceID string     `json:"fbtrace_id"`
}

type errorData struct {
	MessagingProduct string `json:"messaging_product"`
	Details          string `json:"details"`
}

func (f Fault) status() int {
	if f.HTTPStatus != 0 {
		return f.HTTPStatus
	}
	return DefaultHTTPStatus(f.Code)
}

func (f Fault) body() graphError {
	ge := graphError{Message: f.Message, Type: f.Type, Code: f.Code, Subcode: f.Subcode, FBTraceID: traceID()}
	if ge.Message == "" {
		ge.Message = Title(f.Code)
	}
	if ge.Type == "" {
		ge.Type = "OAuthException"
	}
	if f.Code >= 130000 || f.Details != "" {
		d := f.Details
		if d == "" {
			d = ge.Message
		}
		ge.ErrorData = &errorData{MessagingProduct: "whatsapp", Details: d}
	}
	return ge
}

func writeFault(w http.ResponseWriter, f Fault) []byte {
	if f.Gateway {
		status := f.HTTPStatus
		if status == 0 {
			status = http.StatusBadGateway
		}
		b := []byte("<html><body><h1>" + http.StatusText(status) + "</h1></body></html>\n")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = w.Write(b)
		return b
	}
	b, _ := json.Marshal(map[string]graphError{"error": f.body()})
	writeJSON(w, f.status(), b)
	return b
}

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("X-Fb-Trace-Id", traceID())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// traceID looks like Meta's fbtrace_id: 11 url-safe base64 characters.
func traceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])[:11]
}

// badParam is a request problem found by the fake's own checks: code 100, 131008 or 131009
// with the JSON path in the message and details.
func badParam(code int, path, msg string) Fault {
	return Fault{Code: code, Message: Title(code) + ": " + path, Details: path + ": " + msg}
}
