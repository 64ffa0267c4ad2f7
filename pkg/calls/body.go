package calls

import (
	"bytes"
	"encoding/json"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/greentic/gtc/pkg/flow"
)

// parseBody is the response body for vars.NAME.body: the parsed JSON value when the content
// type says JSON (application/json, text/json, anything +json) and the body parses, else the
// text ("" when empty). Invalid UTF-8 is replaced. Secret values the call carries are
// redacted, so a backend that echoes a token does not put it in the conversation.
func (r *Runner) parseBody(c *flow.Call, contentType string, body []byte) any {
	if isJSON(contentType) {
		if v, ok := decodeJSON(body); ok {
			return r.redactValue(c, v)
		}
	}
	return r.redact(c, strings.ToValidUTF8(string(body), "\uFFFD"))
}

// isJSON reports whether a Content-Type names JSON.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	}
	switch {
	case mt == "application/json", mt == "text/json":
		return true
	case strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
		return true
	}
	return false
}

// decodeJSON decodes exactly one JSON value (numbers as float64, like every value in vars).
func decodeJSON(b []byte) (any, bool) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if len(bytes.TrimSpace(b)) == 0 || !utf8.Valid(b) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if dec.More() {
		return nil, false
	}
	if _, err := dec.Token(); err == nil {
		return nil, false
	}
	return v, true
}

func (r *Runner) redactValue(c *flow.Call, v any) any {
	switch x := v.(type) {
	case string:
		return r.redact(c, x)
	case []any:
		for i := range x {
			x[i] = r.redactValue(c, x[i])
		}
	case map[string]any:
		for k, e := range x {
			if rk := r.redact(c, k); rk != k {
				delete(x, k)
				k = rk
			}
			x[k] = r.redactValue(c, e)
		}
	}
	return v
}
