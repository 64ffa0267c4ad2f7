// Package answers reads answers.json, the file `gtc setup` turns into a bundle: its model,
// strict decoding with a JSON path and line:column for every problem, validation, defaults,
// and ${ENV} references (kept as written, resolved when the bundle is used).
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
	"unicode"

	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/secret"
)

// ProviderID is the key of the WhatsApp provider in answers.json.
const ProviderID = "messaging-whatsapp"

// Defaults.
const (
	DefaultTenant = "default"
	DefaultTeam   = "default"
	// DefaultAPIVersion is the newest Graph API version Meta documents (v26.0, released
	// 29 July 2026) and the one gtc's graphfake and tests speak; answers.json may pin another.
	DefaultAPIVersion        = "v26.0"
	DefaultAPIBaseURL        = "https://graph.facebook.com"
	DefaultRatePerSecond     = 80.0
	DefaultRecipientInterval = 6 * time.Second
	DefaultRecipientBurst    = 45
	// DefaultMessagingLimit is Meta's tier 1: 1,000 business-initiated conversations a day.
	DefaultMessagingLimit = 1000
	// MaxRatePerSecond is the Cloud API's highest throughput per phone number.
	MaxRatePerSecond = 1000.0
)

// DefaultOptOutKeywords and DefaultOptInKeywords are what a user sends to stop and restart
// messages.
var (
	DefaultOptOutKeywords = []string{"STOP", "UNSUBSCRIBE"}
	DefaultOptInKeywords  = []string{"START", "SUBSCRIBE"}
)

// Form says which of the two answers.json shapes a file used.
type Form string

const (
	// FormFlat is the seed's {"messaging-whatsapp": {...}}.
	FormFlat Form = "flat"
	// FormStructured is {"tenant", "team", "setup_answers": {"messaging-whatsapp": {...}}}.
	FormStructured Form = "structured"
)

// Answers are the settings of one WhatsApp provider for one tenant and team. String settings
// other than Tenant, Team and RecipientInterval may be ${ENV} references, kept as written.
type Answers struct {
	Form Form

	Tenant string
	Team   string

	Enabled           bool
	PublicBaseURL     string
	PhoneNumberID     string
	BusinessAccountID string
	APIVersion        string
	APIBaseURL        string

	AccessToken secret.Value
	VerifyToken secret.Value
	AppSecret   secret.Value
	// APIKey protects serve's send API; empty means setup generates one (or keeps the
	// bundle's).
	APIKey secret.Value

	RatePerSecond     float64
	RecipientInterval time.Duration
	RecipientBurst    int
	// MessagingLimit is business-initiated conversations per 24 hours; 0 means no limit.
	MessagingLimit int
	OptOutKeywords []string
	OptInKeywords  []string
	MarkRead       bool

	// ConversationTimeout applies to a waiting ask node that sets no timeout.
	ConversationTimeout time.Duration
	// ReconcileWindow is how long gtc serve waits for the status webhook of a send whose
	// outcome is unclear before sending it again.
	ReconcileWindow time.Duration
	// LLM is the endpoint of ai nodes; nil when answers.json has no llm.
	LLM *LLM
	// OrderAPIURL is the starter "Check Status" flow's order API (settings.order_api_url);
	// empty when not configured.
	OrderAPIURL string
	// HTTPAllow restricts the hosts http nodes may call (AllowHost); empty allows any.
	HTTPAllow []string
	// EventsURL receives gtc's event webhooks, signed with EventsSecret.
	EventsURL    string
	EventsSecret secret.Value
	Retention    Retention
	// MarketingMessages sends marketing templates through Meta's Marketing Messages API.
	MarketingMessages bool
	// Portfolio is the business portfolio whose messaging limit this number shares; nil
	// means the number's own messaging_limit applies to it alone.
	Portfolio *Portfolio
}

// Default returns answers holding every default, for a wizard to start from.
func Default() *Answers {
	return &Answers{
		Form:              FormFlat,
		Tenant:            DefaultTenant,
		Team:              DefaultTeam,
		Enabled:           true,
		APIVersion:        DefaultAPIVersion,
		APIBaseURL:        DefaultAPIBaseURL,
		RatePerSecond:     DefaultRatePerSecond,
		RecipientInterval: DefaultRecipientInterval,
		RecipientBurst:    DefaultRecipientBurst,
		MessagingLimit:    DefaultMessagingLimit,
		OptOutKeywords:    append([]string(nil), DefaultOptOutKeywords...),
		OptInKeywords:     append([]string(nil), DefaultOptInKeywords...),
		MarkRead:          true,

		ConversationTimeout: DefaultConversationTimeout,
		ReconcileWindow:     DefaultReconcileWindow,
		Retention:           DefaultRetention(),
	}
}

// Field names of the provider object.
const (
	FieldEnabled           = "enabled"
	FieldPublicBaseURL     = "public_base_url"
	FieldPhoneNumberID     = "phone_number_id"
	FieldAccessToken       = "access_token"
	FieldVerifyToken       = "verify_token"
	FieldBusinessAccountID = "business_account_id"
	FieldAPIVersion        = "api_version"
	FieldAppSecret         = "app_secret"
	FieldAPIKey            = "api_key"
	FieldTenant            = "tenant"
	FieldTeam              = "team"
	FieldAPIBaseURL        = "api_base_url"
	FieldRatePerSecond     = "rate_per_second"
	FieldRecipientInterval = "recipient_interval"
	FieldRecipientBurst    = "recipient_burst"
	FieldMessagingLimit    = "messaging_limit"
	FieldOptOutKeywords    = "opt_out_keywords"
	FieldOptInKeywords     = "opt_in_keywords"
	FieldMarkRead          = "mark_read"
)

// ProviderFields lists every key the provider object accepts, in the order of the README.
var ProviderFields = []string{
	FieldEnabled, FieldPublicBaseURL, FieldPhoneNumberID, FieldAccessToken, FieldVerifyToken,
	FieldBusinessAccountID, FieldAPIVersion, FieldAppSecret, FieldTenant, FieldTeam,
	FieldAPIBaseURL, FieldAPIKey, FieldRatePerSecond, FieldRecipientInterval,
	FieldRecipientBurst, FieldMessagingLimit, FieldOptOutKeywords, FieldOptInKeywords,
	FieldMarkRead, FieldConversationTimeout, FieldReconcileWindow, FieldLLM, FieldOrderAPIURL, FieldHTTPAllow,
	FieldEventsURL, FieldEventsSecret, FieldRetention, FieldMarketingMessages, FieldPortfolio,
}

var topFields = []string{ProviderID, "tenant", "team", "setup_answers"}

var secretFields = map[string]bool{FieldAccessToken: true, FieldVerifyToken: true, FieldAppSecret: true, FieldAPIKey: true,
	FieldEventsSecret: true, FieldLLMAPIKey: true}

// IsSecret reports whether a provider field holds a secret.
func IsSecret(field string) bool { return secretFields[field] }

// pos is where a value was in the file.
type pos struct{ line, col int }

// decoder turns the node tree into Answers, collecting problems.
type decoder struct {
	file  string
	data  []byte
	probs problem.List
	// where maps a provider field to its JSON path and position, for validation messages.
	where map[string]place
	// base is the JSON path of the provider object, basePos where it starts.
	base    string
	basePos pos
	// bad marks nested fields whose value was refused (already reported).
	bad map[string]bool
	// portfolioLimitDefault: portfolio without messaging_limit takes the number's.
	portfolioLimitDefault bool
}

type place struct {
	path string
	pos  pos
}

func (d *decoder) at(off int) pos {
	l, c := lineCol(d.data, off)
	return pos{l, c}
}

func (d *decoder) errorf(path string, off int, format string, args ...any) {
	p := d.at(off)
	d.probs.Errorf(d.file, path, p.line, p.col, format, args...)
}

// Parse decodes and validates answers.json. filename is used in problems only. It returns
// the answers (nil when the file is not even JSON) and every problem found, errors and
// warnings; problems.Err() is non-nil when the answers must not be used.
func Parse(filename string, data []byte) (*Answers, *problem.List) {
	d := &decoder{file: filename, data: data, where: map[string]place{}, bad: map[string]bool{}}
	root, err := parseJSON(data)
	if err != nil {
		se := err.(*syntaxError)
		d.errorf("", se.off, "invalid JSON: %s", se.msg)
		return nil, &d.probs
	}
	a := Default()
	if root.kind != kindObject {
		d.errorf("", root.off, "answers must be a JSON object like {%q: {...}}, not %s", ProviderID, root.kind)
		return nil, &d.probs
	}
	var provider *node
	var providerPath string
	var topTenant, topTeam *member
	var setup *member
	for i := range root.members {
		m := &root.members[i]
		switch m.key {
		case ProviderID:
			provider, providerPath = m.value, ProviderID
		case "tenant":
			topTenant = m
		case "team":
			topTeam = m
		case "setup_answers":
			setup = m
		default:
			d.errorf(m.key, m.keyOff, "%s", problem.UnknownKey(m.key, topFields))
		}
	}
	if setup != nil {
		a.Form = FormStructured
		if provider != nil {
			d.errorf(ProviderID, root.off, "both %s and setup_answers are given: use the flat form {%q: {...}} or the structured form {\"tenant\", \"team\", \"setup_answers\": {%q: {...}}}, not both", ProviderID, ProviderID, ProviderID)
		}
		provider = nil
		if setup.value.kind != kindObject {
			d.errorf("setup_answers", setup.value.off, "setup_answers must be an object like {%q: {...}}, not %s", ProviderID, setup.value.kind)
		} else {
			for _, m := range setup.value.members {
				if m.key == ProviderID {
					provider, providerPath = m.value, "setup_answers."+ProviderID
					continue
				}
				d.errorf("setup_answers."+m.key, m.keyOff, "%s", problem.UnknownKey(m.key, []string{ProviderID}))
			}
			if provider == nil {
				d.errorf("setup_answers", setup.value.off, "missing %s: add the WhatsApp provider's answers under setup_answers", ProviderID)
			}
		}
	} else if provider == nil {
		d.errorf("", root.off, "missing %s: answers.json must look like {%q: {\"enabled\": true, \"public_base_url\": ..., ...}}", ProviderID, ProviderID)
	}
	if topTenant != nil {
		d.name(a, "tenant", topTenant.value, &a.Tenant)
	}
	if topTeam != nil {
		d.name(a, "team", topTeam.value, &a.Team)
	}
	d.base = ProviderID
	if providerPath != "" {
		d.base = providerPath
	}
	if provider != nil {
		d.provider(a, providerPath, provider, topTenant, topTeam)
	}
	d.validate(a)
	return a, &d.probs
}

// name decodes a tenant or team.
func (d *decoder) name(a *Answers, path string, n *node, dst *string) {
	s, ok := d.str(path, n, false)
	if !ok {
		return
	}
	*dst = s
	d.where[path[strings.LastIndex(path, ".")+1:]] = place{path, d.at(n.off)}
}

func (d *decoder) provider(a *Answers, base string, n *node, topTenant, topTeam *member) {
	if n.kind != kindObject {
		d.errorf(base, n.off, "%s must be an object of settings, not %s", ProviderID, n.kind)
		return
	}
	d.basePos = d.at(n.off)
	seen := map[string]*node{}
	suggested := map[string]bool{} // required keys an unknown key's message already points to
	for _, m := range n.members {
		path := base + "." + m.key
		v := m.value
		known := true
		before := len(d.probs.Errors())
		switch m.key {
		case FieldEnabled:
			d.boolean(path, v, &a.Enabled)
		case FieldMarkRead:
			d.boolean(path, v, &a.MarkRead)
		case FieldPublicBaseURL:
			d.plain(path, v, &a.PublicBaseURL)
		case FieldPhoneNumberID:
			d.plain(path, v, &a.PhoneNumberID)
		case FieldBusinessAccountID:
			d.plain(path, v, &a.BusinessAccountID)
		case FieldAPIVersion:
			d.plain(path, v, &a.APIVersion)
		case FieldAPIBaseURL:
			d.plain(path, v, &a.APIBaseURL)
		case FieldAccessToken:
			d.secret(path, m.key, v, &a.AccessToken)
		case FieldVerifyToken:
			d.secret(path, m.key, v, &a.VerifyToken)
		case FieldAppSecret:
			d.secret(path, m.key, v, &a.AppSecret)
		case FieldAPIKey:
			d.secret(path, m.key, v, &a.APIKey)
		case FieldTenant:
			if topTenant != nil {
				d.errorf(path, m.keyOff, "tenant is given twice, here and at the top level: keep one")
			}
			d.name(a, path, v, &a.Tenant)
		case FieldTeam:
			if topTeam != nil {
				d.errorf(path, m.keyOff, "team is given twice, here and at the top level: keep one")
			}
			d.name(a, path, v, &a.Team)
		case FieldRatePerSecond:
			d.rate(path, v, &a.RatePerSecond)
		case FieldRecipientBurst:
			d.integer(path, v, 1, 1000, &a.RecipientBurst)
		case FieldMessagingLimit:
			d.integer(path, v, 0, math.MaxInt32, &a.MessagingLimit)
		case FieldRecipientInterval:
			d.interval(path, v, &a.RecipientInterval)
		case FieldOptOutKeywords:
			d.keywords(path, v, &a.OptOutKeywords)
		case FieldOptInKeywords:
			d.keywords(path, v, &a.OptInKeywords)
		default:
			if d.setting(a, path, m.key, v) {
				break
			}
			known = false
			d.errorf(path, m.keyOff, "%s", problem.UnknownKey(m.key, ProviderFields))
			if near := problem.Nearest(m.key, ProviderFields); near != "" {
				suggested[near] = true
			}
		}
		if known {
			seen[m.key] = v
			if len(d.probs.Errors()) == before {
				d.where[m.key] = place{path, d.at(v.off)}
			}
		}
	}
	if d.portfolioLimitDefault && a.Portfolio != nil {
		a.Portfolio.MessagingLimit = a.MessagingLimit
	}
	for _, f := range []string{FieldEnabled, FieldPublicBaseURL, FieldPhoneNumberID, FieldAccessToken, FieldVerifyToken} {
		if seen[f] == nil && !suggested[f] {
			d.errorf(base, n.off, "missing required key %s: add %q: %s", f, f, example(f))
		}
	}
}

func example(field string) string {
	switch field {
	case FieldEnabled:
		return "true"
	case FieldPublicBaseURL:
		return `"https://your-domain.example"`
	case FieldPhoneNumberID:
		return `"123456789012345" (WhatsApp → API Setup in Meta's app dashboard)`
	case FieldAccessToken:
		return `"EAA..." or "${WHATSAPP_ACCESS_TOKEN}"`
	case FieldVerifyToken:
		return `"any-string-you-choose" (the same one you type into Meta's webhook settings)`
	}
	return `"..."`
}

func (d *decoder) boolean(path string, n *node, dst *bool) {
	if n.kind != kindBool {
		d.errorf(path, n.off, "must be a boolean (true or false without quotes), not %s", n.kind)
		return
	}
	*dst = n.boolean
}

// str decodes a string value; refOK says whether a ${NAME} reference is allowed.
func (d *decoder) str(path string, n *node, refOK bool) (string, bool) {
	if n.kind != kindString {
		d.errorf(path, n.off, "must be a string in double quotes, not %s", n.kind)
		return "", false
	}
	if _, isRef := secret.IsRef(n.str); isRef {
		if !refOK {
			d.errorf(path, n.off, "cannot be a ${NAME} reference: write the value itself")
			return "", false
		}
		return n.str, true
	}
	if strings.Contains(n.str, "${") {
		d.errorf(path, n.off, "only a whole-value ${NAME} reference is supported (NAME of letters, digits and _): write the value itself or \"${NAME}\" alone")
		return "", false
	}
	return n.str, true
}

func (d *decoder) plain(path string, n *node, dst *string) {
	if s, ok := d.str(path, n, true); ok {
		*dst = s
	}
}

func (d *decoder) secret(path, field string, n *node, dst *secret.Value) {
	if n.kind != kindString {
		d.errorf(path, n.off, "%s must be a string in double quotes, not %s", field, n.kind)
		return
	}
	if _, isRef := secret.IsRef(n.str); !isRef && strings.Contains(n.str, "${") {
		// Never echo the value: it may be half a secret.
		d.errorf(path, n.off, "%s: only a whole-value ${NAME} reference is supported: write the secret itself or \"${NAME}\" alone", field)
		return
	}
	*dst = secret.New(n.str)
}

func (d *decoder) rate(path string, n *node, dst *float64) {
	if n.kind != kindNumber {
		d.errorf(path, n.off, "must be a number of messages per second, like 80, not %s", n.kind)
		return
	}
	f, err := strconv.ParseFloat(n.num, 64)
	if err != nil || f <= 0 || f > MaxRatePerSecond || math.IsNaN(f) {
		d.errorf(path, n.off, "must be more than 0 and at most %g messages per second (the Cloud API's maximum); the default is %g", MaxRatePerSecond, DefaultRatePerSecond)
		return
	}
	*dst = f
}

func (d *decoder) integer(path string, n *node, lo, hi int, dst *int) {
	if n.kind != kindNumber {
		d.errorf(path, n.off, "must be a whole number, not %s", n.kind)
		return
	}
	v, err := strconv.ParseInt(n.num, 10, 64)
	if err != nil {
		d.errorf(path, n.off, "must be a whole number between %d and %d", lo, hi)
		return
	}
	if v < int64(lo) || v > int64(hi) {
		d.errorf(path, n.off, "must be between %d and %d", lo, hi)
		return
	}
	*dst = int(v)
}

func (d *decoder) interval(path string, n *node, dst *time.Duration) {
	s, ok := d.str(path, n, false)
	if !ok {
		return
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 || v > 24*time.Hour {
		d.errorf(path, n.off, "must be a duration between 1ms and 24h like \"6s\" or \"500ms\"")
		return
	}
	*dst = v
}

func (d *decoder) keywords(path string, n *node, dst *[]string) {
	out, ok := d.stringList(path, n, `words like ["STOP", "UNSUBSCRIBE"]`, func(s string) (string, string, error) {
		w := strings.TrimSpace(s)
		if w == "" {
			return "", "", errors.New("must not be empty: remove it")
		}
		return w, strings.ToUpper(w), nil
	})
	if ok {
		*dst = out
	}
}

// stringList decodes an array of strings. item checks one (its error is the message) and
// returns the value to keep and the key that finds duplicates; every bad item is reported,
// and ok is false when there was one.
func (d *decoder) stringList(path string, n *node, like string, item func(s string) (value, key string, err error)) (out []string, ok bool) {
	if n.kind != kindArray {
		d.errorf(path, n.off, "must be an array of %s, not %s", like, n.kind)
		return nil, false
	}
	out, ok = []string{}, true
	seen := map[string]bool{}
	for i, it := range n.items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		if it.kind != kindString {
			d.errorf(ip, it.off, "must be a string, not %s", it.kind)
			ok = false
			continue
		}
		v, key, err := item(it.str)
		if err != nil {
			d.errorf(ip, it.off, "%s", err)
			ok = false
			continue
		}
		if seen[key] {
			d.errorf(ip, it.off, "%q is listed twice: remove one", strings.TrimSpace(it.str))
			ok = false
			continue
		}
		seen[key] = true
		out = append(out, v)
	}
	return out, ok
}

// validate checks the decoded values and adds warnings. Positions come from d.where.
func (d *decoder) validate(a *Answers) {
	for _, p := range Check(a) {
		w, ok := d.where[p.field]
		if !ok && p.field == FieldOptInKeywords {
			w, ok = d.where[FieldOptOutKeywords]
		}
		if !ok && strings.Contains(p.field, ".") && !d.bad[p.field] {
			// A nested key that is missing: point at its object.
			w, ok = d.where[p.field[:strings.Index(p.field, ".")]]
		}
		if !ok {
			// Missing or undecodable: already reported, except the app_secret warning.
			if p.field != FieldAppSecret {
				continue
			}
			w = place{path: d.base + "." + p.field, pos: d.basePos}
		}
		if p.warning {
			d.probs.Warnf(d.file, w.path, w.pos.line, w.pos.col, "%s", p.msg)
		} else {
			d.probs.Errorf(d.file, w.path, w.pos.line, w.pos.col, "%s", p.msg)
		}
	}
}

// FieldProblem is one result of Check: a field and what is wrong with it.
type FieldProblem struct {
	field   string
	msg     string
	warning bool
}

// Field is the provider key the problem is about.
func (p FieldProblem) Field() string { return p.field }

// Message says what is wrong and what to do; it never holds a secret.
func (p FieldProblem) Message() string { return p.msg }

// Warning reports whether the problem only deserves a warning.
func (p FieldProblem) Warning() bool { return p.warning }

// Check validates answers built in code (by a wizard, say) the same way Parse validates a
// file, and returns every problem and warning.
func Check(a *Answers) []FieldProblem {
	var out []FieldProblem
	add := func(field string, warning bool, format string, args ...any) {
		out = append(out, FieldProblem{field, fmt.Sprintf(format, args...), warning})
	}
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
	if err := CheckName(a.Tenant); err != nil {
		add(FieldTenant, false, "tenant %s", err)
	}
	if err := CheckName(a.Team); err != nil {
		add(FieldTeam, false, "team %s", err)
	}
	for _, f := range []struct{ name, v string }{
		{FieldPublicBaseURL, a.PublicBaseURL}, {FieldPhoneNumberID, a.PhoneNumberID},
		{FieldBusinessAccountID, a.BusinessAccountID}, {FieldAPIVersion, a.APIVersion},
		{FieldAPIBaseURL, a.APIBaseURL},
	} {
		check(f.name, f.v)
	}
	for _, f := range []struct {
		name string
		v    secret.Value
	}{{FieldAccessToken, a.AccessToken}, {FieldVerifyToken, a.VerifyToken}, {FieldAppSecret, a.AppSecret}, {FieldAPIKey, a.APIKey}} {
		if f.v.IsZero() {
			continue
		}
		if _, err := CheckField(f.name, f.v.Raw()); err != nil {
			add(f.name, false, "%s", err)
		}
	}
	for _, f := range []string{FieldPublicBaseURL, FieldPhoneNumberID, FieldAPIVersion, FieldAPIBaseURL} {
		if map[string]string{FieldPublicBaseURL: a.PublicBaseURL, FieldPhoneNumberID: a.PhoneNumberID, FieldAPIVersion: a.APIVersion, FieldAPIBaseURL: a.APIBaseURL}[f] == "" {
			add(f, false, "%s must not be empty: %s", f, example(f))
		}
	}
	if a.AccessToken.IsZero() {
		add(FieldAccessToken, false, "access_token must not be empty: paste the permanent access token or write \"${WHATSAPP_ACCESS_TOKEN}\"")
	}
	if a.VerifyToken.IsZero() {
		add(FieldVerifyToken, false, "verify_token must not be empty: choose any string and type the same one into Meta's webhook settings")
	}
	if a.AppSecret.IsZero() {
		add(FieldAppSecret, true, "app_secret is not set: `gtc serve` will reject every webhook POST (it cannot check X-Hub-Signature-256) until you add it (Meta app dashboard → App settings → Basic → App secret)")
	}
	if a.RatePerSecond <= 0 || a.RatePerSecond > MaxRatePerSecond {
		add(FieldRatePerSecond, false, "rate_per_second must be more than 0 and at most %g", MaxRatePerSecond)
	}
	if a.RecipientInterval <= 0 || a.RecipientInterval > 24*time.Hour {
		add(FieldRecipientInterval, false, "recipient_interval must be between 1ms and 24h")
	}
	if a.RecipientBurst < 1 || a.RecipientBurst > 1000 {
		add(FieldRecipientBurst, false, "recipient_burst must be between 1 and 1000")
	}
	if a.MessagingLimit < 0 {
		add(FieldMessagingLimit, false, "messaging_limit must not be negative (0 means no limit)")
	}
	checkSettings(a, add)
	in := map[string]bool{}
	for _, k := range a.OptInKeywords {
		in[strings.ToUpper(strings.TrimSpace(k))] = true
	}
	for _, k := range a.OptOutKeywords {
		if in[strings.ToUpper(strings.TrimSpace(k))] {
			add(FieldOptInKeywords, false, "%q is both an opt-out and an opt-in keyword: remove it from one list", k)
		}
	}
	return out
}

var (
	nameRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	digitsRE     = regexp.MustCompile(`^[0-9]+$`)
	apiVersionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)
)

// CheckName validates a tenant or team name; the error completes "tenant ..." or "team ...".
func CheckName(s string) error {
	if !nameRE.MatchString(s) {
		return fmt.Errorf("must be 1 to 63 lowercase letters, digits, _ or -, starting with a letter or digit (like \"default\" or \"acme-support\")")
	}
	return nil
}

// CheckField validates one string setting as it would appear in answers.json (a ${NAME}
// reference is always accepted). It returns a warning worth showing, or an error saying what
// to do. Errors about secrets never contain the secret.
func CheckField(field, value string) (warning string, err error) {
	if _, ok := secret.IsRef(value); ok {
		return "", nil
	}
	if warning, ok, err := checkSettingField(field, value); ok {
		return warning, err
	}
	switch field {
	case FieldPublicBaseURL:
		return checkURL(field, value, false)
	case FieldAPIBaseURL:
		return checkURL(field, value, true)
	case FieldPhoneNumberID, FieldBusinessAccountID:
		if !digitsRE.MatchString(value) {
			return "", fmt.Errorf("%s must be digits only, like \"123456789012345\" (copy it from WhatsApp → API Setup)", field)
		}
	case FieldAPIVersion:
		if !apiVersionRE.MatchString(value) {
			return "", fmt.Errorf("api_version must look like \"v18.0\" (a v, the major version, a dot, the minor version)")
		}
	case FieldAccessToken, FieldVerifyToken, FieldAppSecret, FieldAPIKey:
		if value == "" {
			return "", fmt.Errorf("%s must not be empty", field)
		}
		if strings.IndexFunc(value, unicode.IsSpace) >= 0 {
			return "", fmt.Errorf("%s contains whitespace: copy the value again without spaces or line breaks", field)
		}
	case FieldTenant, FieldTeam:
		if err := CheckName(value); err != nil {
			return "", fmt.Errorf("%s %w", field, err)
		}
	}
	return "", nil
}

// IsLoopback reports whether host is localhost or a loopback address.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkURL(field, value string, anyHTTP bool) (string, error) {
	u, err := url.Parse(value)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%s must be an absolute URL like \"https://bot.example.com\"", field)
	}
	if u.User != nil {
		return "", fmt.Errorf("%s must not contain a user name or password", field)
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "", fmt.Errorf("%s must not have a query (?...): remove it", field)
	}
	if u.Fragment != "" || strings.Contains(value, "#") {
		return "", fmt.Errorf("%s must not have a fragment (#...): remove it", field)
	}
	switch u.Scheme {
	case "https":
		return "", nil
	case "http":
		if IsLoopback(u.Hostname()) {
			if field == FieldPublicBaseURL {
				return "plain http is for local testing only: Meta calls webhooks on https URLs only", nil
			}
			return "", nil
		}
		if anyHTTP {
			return "plain http sends the access token unencrypted: use https unless this is a local proxy", nil
		}
		return "", fmt.Errorf("%s must use https (Meta only calls https webhooks); plain http is allowed for localhost and 127.0.0.1 only", field)
	default:
		return "", fmt.Errorf("%s must start with https:// (plain http:// only for localhost)", field)
	}
}

// CallbackPath is the webhook path of a tenant and team.
func CallbackPath(tenant, team string) string {
	return "/webhook/whatsapp/" + tenant + "/" + team
}

// CallbackURL is the URL to paste into Meta's webhook settings. When the base URL is a
// ${NAME} reference the result holds the reference.
func CallbackURL(publicBaseURL, tenant, team string) string {
	return strings.TrimRight(publicBaseURL, "/") + CallbackPath(tenant, team)
}
