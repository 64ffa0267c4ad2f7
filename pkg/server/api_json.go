package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/store"
)

// apiEnvelope are the send API's own keys; the rest of the body is a reply config.
var apiEnvelope = []string{"to", "tenant", "team", "vars", "flow", "node"}

type apiRequest struct {
	To     string         `json:"to"`
	Tenant string         `json:"tenant"`
	Team   string         `json:"team"`
	Flow   string         `json:"flow"`
	Node   string         `json:"node"`
	Vars   map[string]any `json:"vars"`
}

type apiProblem struct {
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// apiError is every error answer of the send and conversations APIs: error says what is
// wrong and what to do, path names the field at fault, code (when set) is a stable word a
// program can switch on.
type apiError struct {
	Error    string       `json:"error"`
	Code     string       `json:"code,omitempty"`
	Path     string       `json:"path,omitempty"`
	Reason   string       `json:"reason,omitempty"`
	ID       string       `json:"id,omitempty"`
	Problems []apiProblem `json:"problems,omitempty"`
}

type apiMessage struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

type apiAccepted struct {
	ID       string       `json:"id"`
	Status   string       `json:"status"`
	Messages []apiMessage `json:"messages"`
}

type apiStatus struct {
	ID           string     `json:"id"`
	Tenant       string     `json:"tenant"`
	Team         string     `json:"team"`
	To           string     `json:"to"`
	Type         string     `json:"type"`
	State        string     `json:"state"`
	WAMID        string     `json:"wamid,omitempty"`
	Status       string     `json:"status,omitempty"`
	StatusAt     *time.Time `json:"status_at,omitempty"`
	ErrorClass   string     `json:"error_class,omitempty"`
	ErrorCode    int        `json:"error_code,omitempty"`
	ErrorMessage string     `json:"error_message,omitempty"`
	Attempts     int        `json:"attempts"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	writeJSONBody(w, code, marshal(v))
}

// marshal encodes v without escaping <, > and & (the answers are read by people too).
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func writeJSONBody(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(body)
	_, _ = io.WriteString(w, "\n")
}

func badRequest(w http.ResponseWriter, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	writeJSON(w, http.StatusBadRequest, apiError{Error: msg, Path: path, Problems: []apiProblem{{Path: path, Message: msg}}})
}

// jsonKind names a Go kind as the JSON value it decodes from.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Bool:
		return "true or false"
	}
	return "a " + k.String()
}

// forAPI words a flow error for the API's caller, who gives variables in vars.
func forAPI(msg string) string {
	return strings.ReplaceAll(msg, "pass it with --var or in the start's variables", "give it in vars")
}

func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.reqLog(r).Error("send api: "+what, "err", err.Error())
	writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal error: " + what + "; retry later"})
}

func idOf(o *store.Outbound) string { return strconv.FormatInt(o.ID, 10) }
