package answers

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/secret"
)

// Settings of conversations, backend calls, events, retention and Meta's 2026 Cloud API,
// all in the provider object next to the seed's keys. docs: /work/notes/settings.md.

// Defaults of the conversation and retention settings.
const (
	DefaultConversationTimeout    = time.Hour
	DefaultReconcileWindow        = 3 * time.Minute
	MinReconcileWindow            = 10 * time.Second
	MaxReconcileWindow            = 24 * time.Hour
	DefaultRetentionMessages      = 90 * 24 * time.Hour
	DefaultRetentionIdempotency   = 24 * time.Hour
	DefaultLLMBaseURL             = "https://api.openai.com/v1"
	MinConversationTimeout        = time.Second
	MaxConversationTimeout        = 30 * 24 * time.Hour
	MinRetention                  = time.Hour
	MaxRetentionMessages          = 3650 * 24 * time.Hour
	MaxRetentionIdempotency       = 30 * 24 * time.Hour
	maxHTTPAllow                  = 100
	defaultRetentionMessagesText  = "90d"
	defaultRetentionIdempoKeyText = "24h"
)

// Field names of the newer settings. Nested keys are written with a dot, which is also
// their JSON path below the provider object and their YAML path in the provider file.
const (
	FieldConversationTimeout = "conversation_timeout"
	FieldReconcileWindow     = "reconcile_window"
	FieldLLM                 = "llm"
	FieldLLMBaseURL          = "llm.base_url"
	FieldLLMModel            = "llm.model"
	FieldLLMAPIKey           = "llm.api_key"
	FieldOrderAPIURL         = "order_api_url"
	FieldHTTPAllow           = "http_allow"
	FieldEventsURL           = "events_url"
	FieldEventsSecret        = "events_secret"
	FieldRetention           = "retention"
	FieldRetentionMessages   = "retention.messages"
	FieldRetentionIdemKeys   = "retention.idempotency_keys"
	FieldMarketingMessages   = "marketing_messages"
	FieldPortfolio           = "portfolio"
	FieldPortfolioID         = "portfolio.id"
	FieldPortfolioLimit      = "portfolio.messaging_limit"
)

var (
	llmFields       = []string{"base_url", "model", "api_key"}
	retentionFields = []string{"messages", "idempotency_keys"}
	portfolioFields = []string{"id", "messaging_limit"}
)

// LLM is the OpenAI-compatible endpoint of `ai` nodes: POST {BaseURL}/chat/completions.
type LLM struct {
	BaseURL string
	Model   string
	// APIKey is optional (Ollama and llama.cpp need none).
	APIKey secret.Value
}

// Retention says how long the state database keeps message content and idempotency keys.
type Retention struct {
	Messages        time.Duration
	IdempotencyKeys time.Duration
}

// DefaultRetention is the privacy default: 90 days of message content, 24 hours of keys.
func DefaultRetention() Retention {
	return Retention{Messages: DefaultRetentionMessages, IdempotencyKeys: DefaultRetentionIdempotency}
}

// Portfolio is the Meta business portfolio a number belongs to. Its messaging limit
// (business-initiated conversations per 24 hours, 0 for unlimited) is shared by every
// number of the bundle with the same ID.
type Portfolio struct {
	ID             string
	MessagingLimit int
}

// ParseDuration is time.ParseDuration plus a whole number of days, like "90d".
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok && n != "" {
		days, err := strconv.ParseUint(n, 10, 32)
		if err != nil || days > math.MaxInt64/uint64(24*time.Hour) {
			return 0, fmt.Errorf("invalid duration %q: days must be a whole number like \"90d\"", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// FormatDuration writes d the way answers.json does: "90d" for two days or more in whole
// days, else Go's form without zero units ("1h", "30m", "1h30m").
func FormatDuration(d time.Duration) string {
	day := 24 * time.Hour
	if d >= 2*day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func durationText(lo, hi time.Duration) string {
	return FormatDuration(lo) + " and " + FormatDuration(hi)
}

// setting decodes one of the newer provider keys; false when key is not one of them.
func (d *decoder) setting(a *Answers, path, key string, v *node) bool {
	switch key {
	case FieldConversationTimeout:
		d.duration(path, v, FieldConversationTimeout, "1h", &a.ConversationTimeout)
	case FieldReconcileWindow:
		d.duration(path, v, FieldReconcileWindow, "3m", &a.ReconcileWindow)
	case FieldOrderAPIURL:
		d.plain(path, v, &a.OrderAPIURL)
	case FieldEventsURL:
		d.plain(path, v, &a.EventsURL)
	case FieldEventsSecret:
		d.secret(path, key, v, &a.EventsSecret)
	case FieldMarketingMessages:
		d.boolean(path, v, &a.MarketingMessages)
	case FieldHTTPAllow:
		d.hostPatterns(path, v, &a.HTTPAllow)
	case FieldLLM:
		llm := LLM{BaseURL: DefaultLLMBaseURL}
		d.object(path, key, v, llmFields, func(sub, subPath string, sv *node) {
			switch sub {
			case "base_url":
				d.plain(subPath, sv, &llm.BaseURL)
			case "model":
				d.plain(subPath, sv, &llm.Model)
			case "api_key":
				d.secret(subPath, FieldLLMAPIKey, sv, &llm.APIKey)
			}
		})
		if v.kind == kindObject {
			a.LLM = &llm
		}
	case FieldRetention:
		d.object(path, key, v, retentionFields, func(sub, subPath string, sv *node) {
			switch sub {
			case "messages":
				d.duration(subPath, sv, FieldRetentionMessages, defaultRetentionMessagesText, &a.Retention.Messages)
			case "idempotency_keys":
				d.duration(subPath, sv, FieldRetentionIdemKeys, defaultRetentionIdempoKeyText, &a.Retention.IdempotencyKeys)
			}
		})
	case FieldPortfolio:
		pf := Portfolio{MessagingLimit: a.MessagingLimit}
		limitSet := false
		d.object(path, key, v, portfolioFields, func(sub, subPath string, sv *node) {
			switch sub {
			case "id":
				d.plain(subPath, sv, &pf.ID)
			case "messaging_limit":
				limitSet = true
				d.integer(subPath, sv, 0, math.MaxInt32, &pf.MessagingLimit)
			}
		})
		if v.kind == kindObject {
			a.Portfolio = &pf
			if !limitSet {
				d.portfolioLimitDefault = true
			}
		}
	default:
		return false
	}
	return true
}

// object decodes a nested settings object, reporting unknown keys with the nearest known one
// and remembering where each key was.
func (d *decoder) object(path, field string, n *node, known []string, each func(key, path string, v *node)) {
	if n.kind != kindObject {
		d.errorf(path, n.off, "must be an object like %s, not %s", objectExample(field), n.kind)
		return
	}
	for _, m := range n.members {
		sp := path + "." + m.key
		ok := false
		for _, k := range known {
			ok = ok || k == m.key
		}
		if !ok {
			d.errorf(sp, m.keyOff, "%s", problem.UnknownKey(m.key, known))
			continue
		}
		before := len(d.probs.Errors())
		each(m.key, sp, m.value)
		if len(d.probs.Errors()) == before {
			d.where[field+"."+m.key] = place{sp, d.at(m.value.off)}
		} else {
			d.bad[field+"."+m.key] = true
		}
	}
}

func objectExample(field string) string {
	switch field {
	case FieldLLM:
		return `{"base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini", "api_key": "${OPENAI_API_KEY}"}`
	case FieldRetention:
		return `{"messages": "90d", "idempotency_keys": "24h"}`
	case FieldPortfolio:
		return `{"id": "1234567890", "messaging_limit": 1000}`
	}
	return "{...}"
}

func (d *decoder) duration(path string, n *node, field, example string, dst *time.Duration) {
	s, ok := d.str(path, n, false)
	if !ok {
		return
	}
	v, err := ParseDuration(s)
	if err != nil {
		d.errorf(path, n.off, "must be a duration like %q (units: s, m, h, d)", example)
		return
	}
	*dst = v
}

func (d *decoder) hostPatterns(path string, n *node, dst *[]string) {
	out, ok := d.stringList(path, n, `host patterns like ["api.shop.example", "*.example.com"]`, func(s string) (string, string, error) {
		if err := CheckHostPattern(s); err != nil {
			return "", "", err
		}
		p := normalizePattern(s)
		return p, p, nil
	})
	if n.kind == kindArray && len(n.items) > maxHTTPAllow {
		d.errorf(path, n.off, "at most %d host patterns: use a wildcard like \"*.example.com\"", maxHTTPAllow)
		ok = false
	}
	if ok {
		*dst = out
	}
}

// checkSettings validates the newer settings for Check.
func checkSettings(a *Answers, add func(field string, warning bool, format string, args ...any)) {
	check := func(field, value string) {
		if value == "" {
			return
		}
		warn, err := CheckField(field, value)
		if err != nil {
			add(field, false, "%s", err)
		}
		if warn != "" {
			add(field, true, "%s", warn)
		}
	}
	if a.ConversationTimeout < MinConversationTimeout || a.ConversationTimeout > MaxConversationTimeout {
		add(FieldConversationTimeout, false, "conversation_timeout must be between %s, like \"1h\" (the default) or \"30m\"", durationText(MinConversationTimeout, MaxConversationTimeout))
	}
	if a.ReconcileWindow < MinReconcileWindow || a.ReconcileWindow > MaxReconcileWindow {
		add(FieldReconcileWindow, false, "reconcile_window must be between %s, like \"3m\" (the default): how long a send whose outcome is unclear waits for its status webhook before it is sent again", durationText(MinReconcileWindow, MaxReconcileWindow))
	}
	check(FieldOrderAPIURL, a.OrderAPIURL)
	check(FieldEventsURL, a.EventsURL)
	if !a.EventsSecret.IsZero() {
		if _, err := CheckField(FieldEventsSecret, a.EventsSecret.Raw()); err != nil {
			add(FieldEventsSecret, false, "%s", err)
		}
	}
	switch {
	case a.EventsURL != "" && a.EventsSecret.IsZero():
		add(FieldEventsURL, true, "events_secret is not set: event POSTs go out unsigned, so the receiver cannot tell them from forgeries; add \"events_secret\": \"${GTC_EVENTS_SECRET}\"")
	case a.EventsURL == "" && !a.EventsSecret.IsZero():
		add(FieldEventsSecret, true, "events_secret is set but events_url is not: no events are sent; add events_url or remove events_secret")
	}
	for i, p := range a.HTTPAllow {
		if err := CheckHostPattern(p); err != nil {
			add(FieldHTTPAllow, false, "http_allow[%d]: %s", i, err)
		}
	}
	if a.LLM != nil {
		if a.LLM.BaseURL == "" {
			add(FieldLLMBaseURL, false, "llm.base_url must not be empty: write the OpenAI-compatible endpoint, like %q or \"http://localhost:11434/v1\" (Ollama)", DefaultLLMBaseURL)
		}
		check(FieldLLMBaseURL, a.LLM.BaseURL)
		if strings.TrimSpace(a.LLM.Model) == "" {
			add(FieldLLMModel, false, "llm.model is required when llm is given: name the model, like \"gpt-4o-mini\" or \"llama3.1\"")
		} else {
			check(FieldLLMModel, a.LLM.Model)
		}
		if !a.LLM.APIKey.IsZero() {
			if _, err := CheckField(FieldLLMAPIKey, a.LLM.APIKey.Raw()); err != nil {
				add(FieldLLMAPIKey, false, "%s", err)
			}
		}
	}
	r := a.Retention
	if r.Messages < MinRetention || r.Messages > MaxRetentionMessages {
		add(FieldRetentionMessages, false, "retention.messages must be between %s, like \"90d\" (the default)", durationText(MinRetention, MaxRetentionMessages))
	}
	if r.IdempotencyKeys < MinRetention || r.IdempotencyKeys > MaxRetentionIdempotency {
		add(FieldRetentionIdemKeys, false, "retention.idempotency_keys must be between %s, like \"24h\" (the default)", durationText(MinRetention, MaxRetentionIdempotency))
	}
	if p := a.Portfolio; p != nil {
		if p.ID == "" {
			add(FieldPortfolioID, false, "portfolio.id is required when portfolio is given: copy the business portfolio ID from Meta Business Suite → Settings → Business info")
		}
		check(FieldPortfolioID, p.ID)
		if p.MessagingLimit < 0 {
			add(FieldPortfolioLimit, false, "portfolio.messaging_limit must not be negative (0 means no limit)")
		}
	}
}

var modelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$`)

// checkSettingField is CheckField for the newer string settings; handled reports whether
// field is one of them.
func checkSettingField(field, value string) (warning string, handled bool, err error) {
	switch field {
	case FieldOrderAPIURL:
		warning, err = checkURLRule(field, value, urlRule{anyHTTP: true})
	case FieldEventsURL:
		warning, err = checkURLRule(field, value, urlRule{query: true,
			httpMsg: "events_url must use https (events carry customer messages); plain http is allowed for localhost, 127.0.0.1 and ::1 only"})
	case FieldLLMBaseURL:
		warning, err = checkURLRule(field, value, urlRule{
			httpMsg: "llm.base_url must use https (requests carry the API key and customer messages); plain http is allowed for localhost, 127.0.0.1 and ::1 only (a local Ollama, vLLM or llama.cpp)"})
	case FieldLLMModel:
		if !modelRE.MatchString(value) {
			err = fmt.Errorf("llm.model must be a model name like \"gpt-4o-mini\" or \"llama3.1:8b\" (letters, digits and . _ : / @ + -, no spaces)")
		}
	case FieldPortfolioID:
		if !digitsRE.MatchString(value) {
			err = fmt.Errorf("portfolio.id must be digits only, like \"1234567890\" (Meta Business Suite → Settings → Business info)")
		}
	case FieldEventsSecret, FieldLLMAPIKey:
		if value == "" {
			err = fmt.Errorf("%s must not be empty", field)
		} else if strings.ContainsFunc(value, isSpace) {
			err = fmt.Errorf("%s contains whitespace: copy the value again without spaces or line breaks", field)
		}
	default:
		return "", false, nil
	}
	return warning, true, err
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

var (
	hostLabelRE = regexp.MustCompile(`^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$`)
)

// CheckHostPattern validates one http_allow entry: a host name ("api.shop.example"), a
// wildcard over its subdomains ("*.example.com"), an IP address, "*" for any host, each
// optionally with ":port" ("api.shop.com:8443", "[::1]:8080").
func CheckHostPattern(p string) error {
	const how = `like "api.shop.example", "*.example.com" or "api.shop.com:8443" (a host, no scheme or path)`
	if p == "" {
		return fmt.Errorf("must not be empty: write a host pattern %s", how)
	}
	if strings.Contains(p, "://") || strings.ContainsAny(p, "/?#@ ") {
		return fmt.Errorf("%q is not a host pattern: write it %s", p, how)
	}
	host, port, err := splitPattern(normalizePattern(p))
	if err != nil {
		return fmt.Errorf("%q: %v; write it %s", p, err, how)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: the port must be a number from 1 to 65535", p)
		}
	}
	if host == "*" || net.ParseIP(host) != nil {
		return nil
	}
	name := strings.TrimPrefix(host, "*.")
	if strings.Contains(name, "*") {
		return fmt.Errorf("%q: a * is allowed only as the whole first label (\"*.example.com\") or alone", p)
	}
	if len(name) > 253 {
		return fmt.Errorf("%q: the host name is longer than 253 characters", p)
	}
	for _, l := range strings.Split(name, ".") {
		if !hostLabelRE.MatchString(l) {
			return fmt.Errorf("%q is not a valid host name: %s", p, how)
		}
	}
	return nil
}

func normalizePattern(p string) string {
	return strings.ToLower(strings.TrimSpace(p))
}

// splitPattern splits "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address.
func splitPattern(p string) (host, port string, err error) {
	if strings.HasPrefix(p, "[") {
		end := strings.Index(p, "]")
		if end < 0 {
			return "", "", fmt.Errorf("missing ] after the IPv6 address")
		}
		host, rest := p[1:end], p[end+1:]
		if net.ParseIP(host) == nil {
			return "", "", fmt.Errorf("invalid IPv6 address")
		}
		if rest == "" {
			return host, "", nil
		}
		if !strings.HasPrefix(rest, ":") {
			return "", "", fmt.Errorf("unexpected text after the IPv6 address")
		}
		return host, rest[1:], nil
	}
	if strings.Count(p, ":") > 1 {
		if net.ParseIP(p) == nil {
			return "", "", fmt.Errorf("invalid IPv6 address (write a port as [::1]:8080)")
		}
		return p, "", nil
	}
	host, port, _ = strings.Cut(p, ":")
	if host == "" {
		return "", "", fmt.Errorf("the host is missing")
	}
	if strings.HasSuffix(p, ":") {
		return "", "", fmt.Errorf("the port is missing after :")
	}
	return strings.TrimSuffix(host, "."), port, nil
}

// AllowHost reports whether a flow may call host (a URL's Host: "name", "name:port",
// "[v6]:port") under the http_allow patterns. An empty list allows every host, as an unset
// http_allow does. A pattern without a port matches any port; "*.example.com" matches
// every subdomain of example.com at any depth but not example.com itself; "*" matches any
// host. Matching ignores case and a trailing dot; an invalid pattern matches nothing.
func AllowHost(patterns []string, host string) bool {
	if len(patterns) == 0 {
		return true
	}
	h, port, err := splitPattern(normalizePattern(host))
	if err != nil || h == "" {
		return false
	}
	h = strings.TrimSuffix(h, ".")
	for _, raw := range patterns {
		if CheckHostPattern(raw) != nil {
			continue // an invalid pattern never widens what is allowed
		}
		ph, pport, err := splitPattern(normalizePattern(raw))
		if err != nil {
			continue
		}
		if pport != "" && pport != port {
			continue
		}
		switch {
		case ph == "*":
			return true
		case strings.HasPrefix(ph, "*."):
			if suffix := ph[1:]; strings.HasSuffix(h, suffix) && len(h) > len(suffix) {
				return true
			}
		case ph == h:
			return true
		case net.ParseIP(ph) != nil && net.ParseIP(h) != nil && net.ParseIP(ph).Equal(net.ParseIP(h)):
			return true
		}
	}
	return false
}

// urlRule is what a URL setting accepts beyond an absolute http(s) URL without user info
// or fragment.
type urlRule struct {
	anyHTTP bool   // plain http on any host (an internal API), not only loopback
	query   bool   // a ?query is kept (a token in an events URL, say)
	httpMsg string // the error for plain http on a host that is not loopback
}

func checkURLRule(field, value string, r urlRule) (string, error) {
	u, err := url.Parse(value)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%s must be an absolute URL like \"https://api.example.com/path\"", field)
	}
	if u.User != nil {
		return "", fmt.Errorf("%s must not contain a user name or password: put credentials into a secret", field)
	}
	if !r.query && (u.RawQuery != "" || u.ForceQuery) {
		return "", fmt.Errorf("%s must not have a query (?...): remove it", field)
	}
	if u.Fragment != "" || strings.Contains(value, "#") {
		return "", fmt.Errorf("%s must not have a fragment (#...): remove it", field)
	}
	switch u.Scheme {
	case "https":
		return "", nil
	case "http":
		if r.anyHTTP || IsLoopback(u.Hostname()) {
			return "", nil
		}
		return "", errors.New(r.httpMsg)
	default:
		return "", fmt.Errorf("%s must start with https:// or http://", field)
	}
}
