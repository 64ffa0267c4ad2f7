// Package metaschema checks outbound Cloud API request bodies against Meta's own OpenAPI
// description of the WhatsApp Business Messaging API (v23.0), read at run time from the
// shared directory beside the repository (never copied into it), and hands out the spec's
// named webhook example payloads.
//
// Meta's schema has quirks that a strict JSON Schema validator trips on, while the live API
// (and Meta's own request examples) accept the bodies. Before compiling, the validator
// applies exactly these fixes and keeps everything else strict:
//
//   - every allOf of the *Message schemas is merged into one object, so the
//     additionalProperties:false inside the branches rejects unknown keys instead of every body;
//   - LanguageObject.policy is not required ({"code":"en_US"} alone is what Meta sends);
//   - location latitude/longitude accept numbers as well as strings;
//   - a template button component's index is an integer or a string, 0–9;
//   - recipient_type is not required;
//   - interactive type "cta_url" with action {name:"cta_url", parameters:{display_text ≤20,
//     url}} is added: Meta documents and accepts it, but the v23.0 spec's InteractiveObject
//     and ActionObject omit it;
//   - every message may carry biz_opaque_callback_data (a string of at most 512
//     characters, echoed in status webhooks) and recipient (a business-scoped user id),
//     and needs to or recipient: Meta documents both fields on the messages endpoint
//     (the Messages API reference and "Business-scoped user IDs"), the v23.0 spec has
//     neither;
//   - a template button may have sub_type "flow" with a parameter of type "action"
//     ({flow_token, flow_action_data}): the spec's own "Send Flow Template Message"
//     example sends one, its enums lack them. (The spec does not tie template button
//     parameters to ButtonParameterObject, so the action object itself is checked by
//     whatsapp.Message.Validate, not here.)
//
// Bodies for POST /{phone_number_id}/marketing_messages (the Marketing Messages API) are
// checked against the spec's MarketingMessageRequestPayload (ValidateMarketingMessage),
// with the same fixes: recipient_type is not required, biz_opaque_callback_data and
// recipient may be sent, to or recipient is required.
//
// A body is validated against the *Message schema its "type" selects through the spec's
// discriminator mapping, so an error names the field that is wrong rather than eleven
// failed oneOf branches.
package metaschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// EnvVar names the environment variable that points at the spec file (or at its directory).
const EnvVar = "GTC_META_OPENAPI"

// SpecFile is the spec's file name inside shared/meta-openapi.
const SpecFile = "business-messaging-api_v23.0.yaml"

// ErrNotFound is returned when the spec cannot be found.
var ErrNotFound = errors.New("meta openapi spec not found (set " + EnvVar +
	" or place shared/meta-openapi/" + SpecFile + " beside the repository)")

// Validator validates request bodies against Meta's Message schema.
type Validator struct {
	path      string
	byType    map[string]*jsonschema.Schema
	marketing *jsonschema.Schema
	types     []string
	examples  map[string][]byte
	requests  map[string][]byte
	mrequests map[string][]byte
}

var (
	defaultOnce sync.Once
	defaultV    *Validator
	defaultErr  error
)

// Default loads the spec found by Find, once per process.
func Default() (*Validator, error) {
	defaultOnce.Do(func() {
		path, err := Find()
		if err != nil {
			defaultErr = err
			return
		}
		defaultV, defaultErr = Load(path)
	})
	return defaultV, defaultErr
}

// TB is the part of testing.TB that Require uses (so this package does not import testing).
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Require returns the default validator, or skips the test with a message saying where the
// spec is looked for. A spec that exists but cannot be compiled fails the test.
func Require(t TB) *Validator {
	t.Helper()
	v, err := Default()
	if errors.Is(err, ErrNotFound) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatalf("meta schema: %v", err)
	}
	return v
}

// Find locates the spec: $GTC_META_OPENAPI (the file or its directory), else, walking up
// from the working directory, <ancestor>/shared/meta-openapi/<SpecFile> and
// <ancestor>/../shared/meta-openapi/<SpecFile>.
func Find() (string, error) {
	if p, ok := os.LookupEnv(EnvVar); ok && p != "" {
		if fi, err := os.Stat(p); err == nil {
			if fi.IsDir() {
				p = filepath.Join(p, SpecFile)
				if _, err := os.Stat(p); err != nil {
					return "", fmt.Errorf("%s: %w", EnvVar, ErrNotFound)
				}
			}
			return p, nil
		}
		return "", fmt.Errorf("%s=%s: %w", EnvVar, p, ErrNotFound)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find spec: %w", err)
	}
	rel := filepath.Join("shared", "meta-openapi", SpecFile)
	for dir := wd; ; dir = filepath.Dir(dir) {
		for _, cand := range []string{filepath.Join(dir, rel), filepath.Join(filepath.Dir(dir), rel)} {
			if fi, err := os.Stat(cand); err == nil && !fi.IsDir() {
				return cand, nil
			}
		}
		if filepath.Dir(dir) == dir {
			return "", ErrNotFound
		}
	}
}

// Load reads and compiles the spec at path.
func Load(path string) (*Validator, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read meta spec: %w", err)
	}
	v, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("meta spec %s: %w", path, err)
	}
	v.path = path
	return v, nil
}

// Path is the spec file the validator was loaded from.
func (v *Validator) Path() string { return v.path }

// Types lists the message types the schema knows (text, image, interactive, ...).
func (v *Validator) Types() []string { return append([]string(nil), v.types...) }

// WebhookExamples returns the spec's named webhook payloads (16 in v23.0) as JSON.
func (v *Validator) WebhookExamples() map[string][]byte { return cloneMap(v.examples) }

// RequestExamples returns the spec's named request examples for POST /{phone}/messages
// as JSON (including ones that are not Message bodies, such as the read receipt).
func (v *Validator) RequestExamples() map[string][]byte { return cloneMap(v.requests) }

// MarketingRequestExamples returns the spec's named request examples for POST
// /{phone}/marketing_messages as JSON.
func (v *Validator) MarketingRequestExamples() map[string][]byte { return cloneMap(v.mrequests) }

func cloneMap(m map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, b := range m {
		out[k] = append([]byte(nil), b...)
	}
	return out
}

// Violation is one place where a body breaks the schema.
type Violation struct {
	Path string // JSON path of the offending value, like "interactive.action.buttons"
	Msg  string
}

// Error lists every violation of one body.
type Error struct {
	Type       string // the message type that selected the schema
	Violations []Violation
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("body does not match Meta's schema")
	if e.Type != "" {
		b.WriteString(" for type " + e.Type)
	}
	for i, x := range e.Violations {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(x.Path + ": " + x.Msg)
	}
	return b.String()
}

// First returns the first violation (every Error has at least one).
func (e *Error) First() Violation {
	if len(e.Violations) == 0 {
		return Violation{Path: "$", Msg: "invalid"}
	}
	return e.Violations[0]
}

// ValidateMessage checks one request body for POST /{phone_number_id}/messages. The error
// is a *Error whose violations name JSON paths.
func (v *Validator) ValidateMessage(body []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return &Error{Violations: []Violation{{Path: "$", Msg: "not valid JSON: " + err.Error()}}}
	}
	obj, ok := inst.(map[string]any)
	if !ok {
		return &Error{Violations: []Violation{{Path: "$", Msg: "want a JSON object"}}}
	}
	typ, ok := obj["type"].(string)
	if !ok {
		return &Error{Violations: []Violation{{Path: "type", Msg: "missing or not a string; want one of " + strings.Join(v.types, ", ")}}}
	}
	sch, ok := v.byType[typ]
	if !ok {
		return &Error{Violations: []Violation{{Path: "type", Msg: fmt.Sprintf("unknown message type %q; want one of %s", typ, strings.Join(v.types, ", "))}}}
	}
	return validate(sch, typ, inst)
}

// ValidateMarketingMessage checks one request body for POST
// /{phone_number_id}/marketing_messages against MarketingMessageRequestPayload (a template
// only). The error is a *Error whose violations name JSON paths.
func (v *Validator) ValidateMarketingMessage(body []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return &Error{Violations: []Violation{{Path: "$", Msg: "not valid JSON: " + err.Error()}}}
	}
	obj, ok := inst.(map[string]any)
	if !ok {
		return &Error{Violations: []Violation{{Path: "$", Msg: "want a JSON object"}}}
	}
	typ, _ := obj["type"].(string)
	return validate(v.marketing, typ, inst)
}

func validate(sch *jsonschema.Schema, typ string, inst any) error {
	err := sch.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validate %s message: %w", typ, err)
	}
	return &Error{Type: typ, Violations: violations(ve)}
}

var printer = message.NewPrinter(language.English)

// violations flattens the error tree to its leaves, each with a JSON path.
func violations(ve *jsonschema.ValidationError) []Violation {
	var out []Violation
	seen := map[string]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		// A failed oneOf/anyOf lists every branch's complaints; only the branch that came
		// closest (its errors reach deepest into the body, then fewest) says what to fix.
		if len(e.Causes) > 1 {
			switch e.ErrorKind.(type) {
			case *kind.OneOf, *kind.AnyOf:
				walk(closestBranch(e.Causes))
				return
			}
		}
		if len(e.Causes) == 0 {
			x := Violation{Path: jsonPath(e.InstanceLocation), Msg: e.ErrorKind.LocalizedString(printer)}
			if k := x.Path + "\x00" + x.Msg; !seen[k] {
				seen[k] = true
				out = append(out, x)
			}
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	// Deepest paths first: they say most precisely what to fix.
	sort.SliceStable(out, func(i, j int) bool {
		return strings.Count(out[i].Path, ".")+strings.Count(out[i].Path, "[") >
			strings.Count(out[j].Path, ".")+strings.Count(out[j].Path, "[")
	})
	return out
}

func closestBranch(branches []*jsonschema.ValidationError) *jsonschema.ValidationError {
	best, bestDepth, bestLeaves := branches[0], -1, 0
	for _, b := range branches {
		depth, leaves := 0, 0
		var visit func(e *jsonschema.ValidationError)
		visit = func(e *jsonschema.ValidationError) {
			if len(e.Causes) == 0 {
				leaves++
				depth = max(depth, len(e.InstanceLocation))
				return
			}
			for _, c := range e.Causes {
				visit(c)
			}
		}
		visit(b)
		if depth > bestDepth || (depth == bestDepth && leaves < bestLeaves) {
			best, bestDepth, bestLeaves = b, depth, leaves
		}
	}
	return best
}

func jsonPath(loc []string) string {
	if len(loc) == 0 {
		return "$"
	}
	var b strings.Builder
	for _, p := range loc {
		if isIndex(p) {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

const resourceURL = "mem://meta-openapi/messages.json"

func parse(data []byte) (*Validator, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	schemas, ok := dig(doc, "components", "schemas").(map[string]any)
	if !ok {
		return nil, errors.New("no components.schemas")
	}
	if err := patch(schemas); err != nil {
		return nil, err
	}
	mapping, ok := dig(schemas, "Message", "discriminator", "mapping").(map[string]any)
	if !ok || len(mapping) == 0 {
		return nil, errors.New("no components.schemas.Message.discriminator.mapping")
	}

	// Round-trip through JSON so the compiler sees JSON values (json.Number and friends).
	raw, err := json.Marshal(map[string]any{
		"$schema":    "https://json-schema.org/draft/2020-12/schema",
		"components": map[string]any{"schemas": schemas},
	})
	if err != nil {
		return nil, fmt.Errorf("encode schemas: %w", err)
	}
	res, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("decode schemas: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(resourceURL, res); err != nil {
		return nil, fmt.Errorf("add schemas: %w", err)
	}
	v := &Validator{byType: map[string]*jsonschema.Schema{}}
	for typ, ref := range mapping {
		r, _ := ref.(string)
		if !strings.HasPrefix(r, "#/") {
			return nil, fmt.Errorf("Message mapping %s: unexpected ref %q", typ, r)
		}
		sch, err := c.Compile(resourceURL + r)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", r, err)
		}
		v.byType[typ] = sch
		v.types = append(v.types, typ)
	}
	sort.Strings(v.types)
	if v.marketing, err = c.Compile(resourceURL + "#/components/schemas/MarketingMessageRequestPayload"); err != nil {
		return nil, fmt.Errorf("compile MarketingMessageRequestPayload: %w", err)
	}

	v.examples, err = examples(dig(doc, "paths", "/whatsapp/webhooks", "post", "requestBody",
		"content", "application/json", "examples"))
	if err != nil {
		return nil, fmt.Errorf("webhook examples: %w", err)
	}
	v.requests, err = examples(dig(doc, "paths", "/{Version}/{Phone-Number-ID}/messages", "post",
		"requestBody", "content", "application/json", "examples"))
	if err != nil {
		return nil, fmt.Errorf("message examples: %w", err)
	}
	v.mrequests, err = examples(dig(doc, "paths", "/{Version}/{Phone-Number-ID}/marketing_messages", "post",
		"requestBody", "content", "application/json", "examples"))
	if err != nil {
		return nil, fmt.Errorf("marketing message examples: %w", err)
	}
	return v, nil
}

func examples(node any) (map[string][]byte, error) {
	m, ok := node.(map[string]any)
	if !ok {
		return nil, errors.New("not found")
	}
	out := make(map[string][]byte, len(m))
	for name, ex := range m {
		val, ok := dig(ex, "value").(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: no value", name)
		}
		b, err := json.Marshal(val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

func dig(n any, keys ...string) any {
	for _, k := range keys {
		m, ok := n.(map[string]any)
		if !ok {
			return nil
		}
		n = m[k]
	}
	return n
}

// patch applies the documented fixes to components.schemas in place. Each fix checks that
// the spec still has the shape it fixes, so a new spec version fails loudly instead of being
// silently relaxed in the wrong place.
func patch(s map[string]any) error {
	// 1. merge the allOf of every *Message schema into one object.
	for name, sch := range s {
		if !strings.HasSuffix(name, "Message") {
			continue
		}
		m, ok := sch.(map[string]any)
		if !ok || m["allOf"] == nil {
			continue
		}
		merged, err := mergeAllOf(s, m)
		if err != nil {
			return fmt.Errorf("merge %s: %w", name, err)
		}
		s[name] = merged
	}

	// 2. LanguageObject.policy not required.
	lang, _ := s["LanguageObject"].(map[string]any)
	if lang == nil {
		return errors.New("patch: no LanguageObject")
	}
	lang["required"] = without(lang["required"], "policy")

	// 3. latitude/longitude accept numbers.
	loc, _ := dig(s, "LocationMessage", "properties", "location", "properties").(map[string]any)
	if loc == nil {
		return errors.New("patch: no LocationMessage location properties")
	}
	for _, k := range []string{"latitude", "longitude"} {
		p, _ := loc[k].(map[string]any)
		if p == nil {
			return fmt.Errorf("patch: no location.%s", k)
		}
		p["type"] = []any{"number", "string"}
	}

	// 4. button index: integer or string, 0-9.
	idx, _ := dig(s, "TemplateComponent", "properties").(map[string]any)
	if idx == nil || idx["index"] == nil {
		return errors.New("patch: no TemplateComponent.index")
	}
	idx["index"] = map[string]any{
		"description": "Position index of the button (0-9), integer or string.",
		"oneOf": []any{
			map[string]any{"type": "integer", "minimum": 0, "maximum": 9},
			map[string]any{"type": "string", "pattern": "^[0-9]$"},
		},
	}

	// 5. recipient_type not required (the merge copied "required" into each *Message).
	for name, sch := range s {
		if !strings.HasSuffix(name, "Message") {
			continue
		}
		if m, ok := sch.(map[string]any); ok && m["required"] != nil {
			m["required"] = without(m["required"], "recipient_type")
		}
	}
	if b, ok := s["BaseMessageProperties"].(map[string]any); ok {
		b["required"] = without(b["required"], "recipient_type")
	}

	// 8. template FLOW buttons: sub_type flow with an action parameter (flow_token,
	// flow_action_data), as in the spec's own "Send Flow Template Message" example.
	if err := patchFlowButton(s); err != nil {
		return err
	}

	// 7. biz_opaque_callback_data (≤512 characters, echoed in status webhooks) and
	// recipient (a business-scoped user id, instead of or besides to) on every message;
	// to or recipient is required.
	for name, sch := range s {
		m, ok := sch.(map[string]any)
		props, _ := m["properties"].(map[string]any)
		if !ok || !strings.HasSuffix(name, "Message") || props == nil || props["messaging_product"] == nil {
			continue
		}
		props["biz_opaque_callback_data"] = map[string]any{"type": "string", "maxLength": 512}
		props["recipient"] = map[string]any{"type": "string", "pattern": `^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]+$`}
		m["required"] = without(m["required"], "to")
		m["anyOf"] = []any{map[string]any{"required": []any{"to"}}, map[string]any{"required": []any{"recipient"}}}
	}

	// 9. the Marketing Messages API's body: as 5 and 7.
	mm, _ := s["MarketingMessageRequestPayload"].(map[string]any)
	mprops, _ := mm["properties"].(map[string]any)
	if mprops == nil || mprops["template"] == nil {
		return errors.New("patch: no MarketingMessageRequestPayload.properties.template")
	}
	mprops["biz_opaque_callback_data"] = map[string]any{"type": "string", "maxLength": 512}
	mprops["recipient"] = map[string]any{"type": "string", "pattern": `^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]+$`}
	mm["required"] = without(without(mm["required"], "recipient_type"), "to")
	mm["anyOf"] = []any{map[string]any{"required": []any{"to"}}, map[string]any{"required": []any{"recipient"}}}

	// 6. interactive cta_url.
	it, _ := dig(s, "InteractiveObject", "properties", "type").(map[string]any)
	if it == nil {
		return errors.New("patch: no InteractiveObject.type")
	}
	enum, _ := it["enum"].([]any)
	it["enum"] = append(append([]any(nil), enum...), "cta_url")
	act, _ := s["ActionObject"].(map[string]any)
	oneOf, _ := act["oneOf"].([]any)
	if oneOf == nil {
		return errors.New("patch: no ActionObject.oneOf")
	}
	act["oneOf"] = append(append([]any(nil), oneOf...), map[string]any{
		"required":             []any{"name", "parameters"},
		"additionalProperties": false,
		"properties": map[string]any{
			"name": map[string]any{"type": "string", "enum": []any{"cta_url"}},
			"parameters": map[string]any{
				"type":                 "object",
				"required":             []any{"display_text", "url"},
				"additionalProperties": false,
				"properties": map[string]any{
					"display_text": map[string]any{"type": "string", "minLength": 1, "maxLength": 20},
					"url":          map[string]any{"type": "string", "minLength": 1},
				},
			},
		},
	})
	return nil
}

// mergeAllOf turns {allOf:[{$ref:Base}, {type:object, props...}]} into one object schema.
// Properties defined in several branches keep every definition (as an allOf of them);
// required lists are united; additionalProperties:false from any branch applies to the
// merged property set.
func mergeAllOf(all map[string]any, m map[string]any) (map[string]any, error) {
	out := map[string]any{"type": "object"}
	props := map[string]any{}
	var required []any
	seenReq := map[string]bool{}
	closed := false
	for k, val := range m {
		if k != "allOf" {
			out[k] = val
		}
	}
	branches, _ := m["allOf"].([]any)
	for i, br := range branches {
		b, ok := br.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("allOf[%d]: not an object", i)
		}
		if ref, ok := b["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/components/schemas/")
			target, ok := all[name].(map[string]any)
			if !ok || len(b) != 1 {
				return nil, fmt.Errorf("allOf[%d]: cannot inline %s", i, ref)
			}
			b = target
		}
		for k, val := range b {
			switch k {
			case "type":
				if val != "object" {
					return nil, fmt.Errorf("allOf[%d]: type %v", i, val)
				}
			case "properties":
				pm, _ := val.(map[string]any)
				for pk, pv := range pm {
					if prev, ok := props[pk]; ok {
						props[pk] = map[string]any{"allOf": []any{prev, pv}}
					} else {
						props[pk] = pv
					}
				}
			case "required":
				rl, _ := val.([]any)
				for _, r := range rl {
					if s, ok := r.(string); ok && !seenReq[s] {
						seenReq[s] = true
						required = append(required, s)
					}
				}
			case "additionalProperties":
				if val == false {
					closed = true
				}
			case "description", "example", "title":
			default:
				return nil, fmt.Errorf("allOf[%d]: keyword %s not mergeable", i, k)
			}
		}
	}
	out["properties"] = props
	if len(required) > 0 {
		out["required"] = required
	}
	if closed {
		out["additionalProperties"] = false
	}
	return out, nil
}

func without(list any, name string) []any {
	l, _ := list.([]any)
	out := make([]any, 0, len(l))
	for _, x := range l {
		if x != name {
			out = append(out, x)
		}
	}
	return out
}

// patchFlowButton adds sub_type "flow" to template button components and parameter type
// "action" to their parameters.
func patchFlowButton(s map[string]any) error {
	addEnum := func(where string, v any, value string) error {
		p, _ := v.(map[string]any)
		if p == nil {
			return fmt.Errorf("patch: no %s", where)
		}
		enum, _ := p["enum"].([]any)
		p["enum"] = append(append([]any(nil), enum...), value)
		return nil
	}
	if err := addEnum("TemplateComponent.sub_type", dig(s, "TemplateComponent", "properties", "sub_type"), "flow"); err != nil {
		return err
	}
	if bc, _ := s["ButtonComponent"].(map[string]any); bc != nil {
		branches, _ := bc["allOf"].([]any)
		for _, br := range branches {
			if b, ok := br.(map[string]any); ok && dig(b, "properties", "sub_type") != nil {
				if err := addEnum("ButtonComponent.sub_type", dig(b, "properties", "sub_type"), "flow"); err != nil {
					return err
				}
			}
		}
	}
	bp, _ := s["ButtonParameterObject"].(map[string]any)
	if bp == nil {
		return errors.New("patch: no ButtonParameterObject")
	}
	if err := addEnum("ButtonParameterObject.type", dig(bp, "properties", "type"), "action"); err != nil {
		return err
	}
	props, _ := bp["properties"].(map[string]any)
	props["action"] = map[string]any{
		"type":                 "object",
		"additionalProperties": false,
		"minProperties":        1,
		"properties": map[string]any{
			"flow_token":       map[string]any{"type": "string"},
			"flow_action_data": map[string]any{"type": "object", "minProperties": 1},
		},
	}
	if m, _ := bp["discriminator"].(map[string]any); m != nil {
		if mapping, _ := m["mapping"].(map[string]any); mapping != nil {
			s["ButtonActionParameter"] = map[string]any{"type": "object", "required": []any{"type", "action"},
				"properties": map[string]any{"type": map[string]any{"enum": []any{"action"}}, "action": props["action"]}}
			mapping["action"] = "#/components/schemas/ButtonActionParameter"
		}
	}
	return nil
}
