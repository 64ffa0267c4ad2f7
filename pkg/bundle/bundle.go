// Package bundle is a gtc bundle on disk: the manifest (bundle.yaml), one settings file per
// tenant and team under providers/messaging-whatsapp/, secrets.env, flows/ and state/. Write
// creates or updates a bundle from answers (gtc setup); Load reads one for every other
// command, strictly, with file:line:col for every problem.
package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/secret"
)

// File and directory names inside a bundle.
const (
	ManifestFile = "bundle.yaml"
	SecretsFile  = "secrets.env"
	ReadmeFile   = "README.md"
	FlowsDirName = "flows"
	StateDirName = "state"
	ProvidersDir = "providers"
	// ProviderKind is the only provider gtc knows.
	ProviderKind = answers.ProviderID
	// DefaultAddr is where gtc serve listens unless bundle.yaml or --addr says otherwise.
	DefaultAddr = "127.0.0.1:8080"
	// DefaultDatabase is the SQLite file, relative to the bundle.
	DefaultDatabase = "state/gtc.db"
	// APIKeyName is the secrets.env key of the bundle's send-API key.
	APIKeyName = "GTC_API_KEY"
)

// Manifest is bundle.yaml.
type Manifest struct {
	Name       string            `yaml:"name"`
	GTCVersion string            `yaml:"gtc_version"`
	Serve      ServeConfig       `yaml:"serve"`
	Tenants    map[string]Tenant `yaml:"tenants"`
}

// ServeConfig is bundle.yaml's serve section, as written.
type ServeConfig struct {
	// Addr is host:port; empty means DefaultAddr.
	Addr string `yaml:"addr"`
	// Database is a SQLite path relative to the bundle, or a postgres:// URL (may be a
	// ${NAME} reference); empty means state/gtc.db.
	Database string `yaml:"database"`
}

// Tenant lists a tenant's teams.
type Tenant struct {
	Teams map[string]Team `yaml:"teams"`
}

// Team lists the providers of a team; today only messaging-whatsapp.
type Team struct {
	Providers []string `yaml:"providers"`
}

// Serve is the resolved serve configuration.
type Serve struct {
	Addr string
	// Database is an absolute SQLite file path or a postgres:// URL.
	Database string
}

// Bundle is a loaded bundle.
type Bundle struct {
	Dir       string
	Manifest  Manifest
	Providers []*Provider
	Serve     Serve
	// Warnings are problems worth showing that do not stop the bundle from loading.
	Warnings []problem.Problem

	flowFiles []string
}

// Provider is one WhatsApp provider: the settings of a tenant and team. Non-secret values
// are resolved; secrets stay secret.Values, resolved at use.
type Provider struct {
	Tenant, Team string
	// File is the provider's settings file, relative to the bundle.
	File string

	Enabled           bool
	PublicBaseURL     string
	PhoneNumberID     string
	BusinessAccountID string
	APIVersion        string
	APIBaseURL        string

	AccessToken, VerifyToken, AppSecret, APIKey secret.Value

	RatePerSecond     float64
	RecipientInterval time.Duration
	RecipientBurst    int
	// MessagingLimit is business-initiated conversations per 24 hours; 0 means no limit.
	MessagingLimit int
	OptOutKeywords []string
	OptInKeywords  []string
	MarkRead       bool

	// ConversationTimeout applies to an ask node that sets no timeout (default 1h).
	ConversationTimeout time.Duration
	// ReconcileWindow is how long a send whose outcome is unclear waits for its status
	// webhook before it is sent again (default 3m).
	ReconcileWindow time.Duration
	// LLM is the OpenAI-compatible endpoint of ai nodes; nil when not configured.
	LLM *answers.LLM
	// OrderAPIURL is the order API of the starter "Check Status" flow, read by flows as
	// settings.order_api_url (FlowSettings); empty when not configured.
	OrderAPIURL string
	// HTTPAllow are the host patterns http nodes may call; empty allows any host.
	HTTPAllow []string
	// EventsURL receives event webhooks signed with EventsSecret; empty sends none.
	EventsURL    string
	EventsSecret secret.Value
	// Retention says how long the state database keeps message content and idempotency
	// keys (defaults 90d and 24h).
	Retention answers.Retention
	// MarketingMessages sends marketing templates through /{phone_number_id}/marketing_messages.
	MarketingMessages bool
	// Portfolio is the business portfolio this number shares its messaging limit with; ID
	// is empty when none is configured (see MessagingLimitScope).
	Portfolio answers.Portfolio
}

// FlowSettings are the bundle settings flows read as settings.NAME: today order_api_url
// (an empty string when not configured).
func (p *Provider) FlowSettings() map[string]string {
	return map[string]string{"order_api_url": p.OrderAPIURL}
}

// MessagingLimitScope says which counter of business-initiated conversations a send from
// this number draws on, and its limit per 24 hours (0: no limit): "portfolio:<id>", shared
// by every number of the bundle in that portfolio, or "phone:<phone_number_id>" when the
// number has no portfolio setting.
func (p *Provider) MessagingLimitScope() (key string, limit int) {
	if p.Portfolio.ID != "" {
		return "portfolio:" + p.Portfolio.ID, p.Portfolio.MessagingLimit
	}
	return "phone:" + p.PhoneNumberID, p.MessagingLimit
}

// AllowHost reports whether an http node may call host (a URL's Host) under http_allow.
func (p *Provider) AllowHost(host string) bool { return answers.AllowHost(p.HTTPAllow, host) }

// Retention is the shortest retention of the bundle's providers: one state database holds
// them all, and the privacy setting that asks for less wins.
func (b *Bundle) Retention() answers.Retention {
	r := answers.DefaultRetention()
	for i, p := range b.Providers {
		if i == 0 || p.Retention.Messages < r.Messages {
			r.Messages = p.Retention.Messages
		}
		if i == 0 || p.Retention.IdempotencyKeys < r.IdempotencyKeys {
			r.IdempotencyKeys = p.Retention.IdempotencyKeys
		}
	}
	return r
}

// FlowFiles are the bundle's flows/*.ygtc files (absolute or relative to the working
// directory, like Dir), sorted, each checked by Load to be a regular file inside the
// bundle. Read flows from this list rather than listing flows/ again.
func (b *Bundle) FlowFiles() []string { return append([]string(nil), b.flowFiles...) }

// CallbackPath is the webhook path Meta calls: /webhook/whatsapp/{tenant}/{team}.
func (p *Provider) CallbackPath() string { return answers.CallbackPath(p.Tenant, p.Team) }

// CallbackURL is the URL to paste into Meta's webhook settings.
func (p *Provider) CallbackURL() string {
	return answers.CallbackURL(p.PublicBaseURL, p.Tenant, p.Team)
}

// Provider returns the provider of a tenant and team.
func (b *Bundle) Provider(tenant, team string) (*Provider, bool) {
	for _, p := range b.Providers {
		if p.Tenant == tenant && p.Team == team {
			return p, true
		}
	}
	return nil, false
}

// Only returns the single enabled provider, or an error asking for --tenant and --team.
func (b *Bundle) Only() (*Provider, error) {
	var enabled []*Provider
	for _, p := range b.Providers {
		if p.Enabled {
			enabled = append(enabled, p)
		}
	}
	switch len(enabled) {
	case 1:
		return enabled[0], nil
	case 0:
		return nil, fmt.Errorf("bundle %s has no enabled provider: set enabled to true in answers.json and re-run gtc setup", b.Dir)
	}
	var names []string
	for _, p := range enabled {
		names = append(names, p.Tenant+"/"+p.Team)
	}
	return nil, fmt.Errorf("bundle %s has %d enabled providers (%s): choose one with --tenant and --team", b.Dir, len(enabled), strings.Join(names, ", "))
}

// FlowsDir is the bundle's flows/ directory.
func (b *Bundle) FlowsDir() string { return filepath.Join(b.Dir, FlowsDirName) }

// StateDir is the bundle's state/ directory (created by gtc serve, never by setup).
func (b *Bundle) StateDir() string { return filepath.Join(b.Dir, StateDirName) }

// EnvDatabaseURL names the state database every command uses instead of the bundle's
// serve.database when it is set (gtc serve's --database wins over both): one bundle can run
// on SQLite on a laptop and on a shared PostgreSQL in production.
const EnvDatabaseURL = "GTC_DATABASE_URL"

// Database is the state database the commands use: $GTC_DATABASE_URL when set (looked up
// with lookup, os.LookupEnv when nil), else serve.database (state/gtc.db by default).
func (b *Bundle) Database(lookup func(string) (string, bool)) string {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if v, ok := lookup(EnvDatabaseURL); ok && v != "" {
		return v
	}
	return b.Serve.Database
}

// ProviderFile is the settings file of a tenant and team, relative to the bundle.
func ProviderFile(tenant, team string) string {
	return filepath.ToSlash(filepath.Join(ProvidersDir, ProviderKind, tenant, team+".yaml"))
}

// IsBundle reports whether dir holds a bundle.yaml.
func IsBundle(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, ManifestFile))
	return err == nil && st.Mode().IsRegular()
}

// LoadOptions tune Load.
type LoadOptions struct {
	// LookupEnv resolves ${NAME} references in non-secret settings (os.LookupEnv when nil).
	LookupEnv func(string) (string, bool)
	// AllowMissingEnv turns an unset variable into a warning and keeps the reference
	// (gtc validate); otherwise it is an error.
	AllowMissingEnv bool
}

// providerFile is the YAML of providers/messaging-whatsapp/<tenant>/<team>.yaml.
type providerFile struct {
	Enabled           bool     `yaml:"enabled"`
	PublicBaseURL     string   `yaml:"public_base_url"`
	PhoneNumberID     string   `yaml:"phone_number_id"`
	BusinessAccountID string   `yaml:"business_account_id,omitempty"`
	APIVersion        string   `yaml:"api_version"`
	APIBaseURL        string   `yaml:"api_base_url"`
	RatePerSecond     float64  `yaml:"rate_per_second"`
	RecipientInterval string   `yaml:"recipient_interval"`
	RecipientBurst    int      `yaml:"recipient_burst"`
	MessagingLimit    int      `yaml:"messaging_limit"`
	OptOutKeywords    []string `yaml:"opt_out_keywords,flow"`
	OptInKeywords     []string `yaml:"opt_in_keywords,flow"`
	MarkRead          bool     `yaml:"mark_read"`

	// Written by gtc setup since the conversation settings; absent in older files, which
	// then load with the defaults.
	ConversationTimeout string         `yaml:"conversation_timeout,omitempty"`
	ReconcileWindow     string         `yaml:"reconcile_window,omitempty"`
	Retention           *retentionFile `yaml:"retention,omitempty"`
	MarketingMessages   bool           `yaml:"marketing_messages"`
	OrderAPIURL         string         `yaml:"order_api_url,omitempty"`
	HTTPAllow           []string       `yaml:"http_allow,omitempty,flow"`
	EventsURL           string         `yaml:"events_url,omitempty"`
	LLM                 *llmFile       `yaml:"llm,omitempty"`
	Portfolio           *portfolioFile `yaml:"portfolio,omitempty"`

	Secrets providerSecrets `yaml:"secrets"`
}

type retentionFile struct {
	Messages        string `yaml:"messages,omitempty"`
	IdempotencyKeys string `yaml:"idempotency_keys,omitempty"`
}

type llmFile struct {
	BaseURL string `yaml:"base_url"`
	Model   string `yaml:"model"`
}

type portfolioFile struct {
	ID             string `yaml:"id"`
	MessagingLimit int    `yaml:"messaging_limit"`
}

// providerSecrets names the secrets.env keys that hold the provider's secrets.
type providerSecrets struct {
	AccessToken  string `yaml:"access_token"`
	VerifyToken  string `yaml:"verify_token"`
	AppSecret    string `yaml:"app_secret,omitempty"`
	APIKey       string `yaml:"api_key"`
	LLMAPIKey    string `yaml:"llm_api_key,omitempty"`
	EventsSecret string `yaml:"events_secret,omitempty"`
}

// Load reads the bundle in dir. Every problem of every file comes back at once as a
// *problem.Error; warnings are in Bundle.Warnings.
func Load(dir string, opts LoadOptions) (*Bundle, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	var probs problem.List
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			probs.Errorf(dir, "", 0, 0, "not a gtc bundle (no %s): create one with gtc setup --answers answers.json %s", ManifestFile, dir)
			return nil, probs.Err()
		}
		return nil, fmt.Errorf("load bundle: %w", err)
	}
	b := &Bundle{Dir: dir}
	mf := filepath.Join(dir, ManifestFile)
	if !decodeStrict(mf, data, &b.Manifest, &probs) {
		return nil, probs.Err()
	}
	l := &loader{b: b, opts: opts, probs: &probs}
	l.serve(mf, data)

	secrets, err := readSecrets(filepath.Join(dir, SecretsFile), &probs)
	if err != nil {
		return nil, fmt.Errorf("load bundle: %w", err)
	}
	tenants := make([]string, 0, len(b.Manifest.Tenants))
	for t := range b.Manifest.Tenants {
		tenants = append(tenants, t)
	}
	sort.Strings(tenants)
	for _, tenant := range tenants {
		if err := answers.CheckName(tenant); err != nil {
			l.errAt(mf, data, "tenant "+err.Error(), "tenants", tenant)
			continue
		}
		teams := make([]string, 0, len(b.Manifest.Tenants[tenant].Teams))
		for t := range b.Manifest.Tenants[tenant].Teams {
			teams = append(teams, t)
		}
		sort.Strings(teams)
		for _, team := range teams {
			if err := answers.CheckName(team); err != nil {
				l.errAt(mf, data, "team "+err.Error(), "tenants", tenant, "teams", team)
				continue
			}
			for _, kind := range b.Manifest.Tenants[tenant].Teams[team].Providers {
				if kind != ProviderKind {
					l.errAt(mf, data, fmt.Sprintf("unknown provider %q: gtc knows only %s", kind, ProviderKind), "tenants", tenant, "teams", team, "providers")
					continue
				}
				l.provider(tenant, team, secrets)
			}
		}
	}
	l.portfolios()
	b.flowFiles = listFlows(dir, &probs)
	if len(b.Providers) == 0 && !probs.HasErrors() {
		probs.Errorf(mf, "tenants", 0, 0, "the bundle has no provider: re-run gtc setup --answers answers.json %s", dir)
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	b.Warnings = probs.Warnings()
	return b, nil
}

type loader struct {
	b     *Bundle
	opts  LoadOptions
	probs *problem.List
	// files holds each loaded provider's file and YAML, for checks across providers.
	files []providerSource
}

type providerSource struct {
	p    *Provider
	file string
	data []byte
}

func (l *loader) errAt(file string, data []byte, msg string, path ...string) {
	line, col := 0, 0
	if n := findNode(data, path...); n != nil {
		line, col = n.Line, n.Column
	}
	l.probs.Errorf(file, strings.Join(path, "."), line, col, "%s", msg)
}

// resolve replaces a ${NAME} reference by the variable's value.
func (l *loader) resolve(file string, data []byte, v string, path ...string) (string, bool) {
	name, ok := secret.IsRef(v)
	if !ok {
		return v, true
	}
	if val, ok := l.opts.LookupEnv(name); ok && val != "" {
		return val, true
	}
	line, col := 0, 0
	if n := findNode(data, path...); n != nil {
		line, col = n.Line, n.Column
	}
	msg := fmt.Sprintf("environment variable %s is not set: export it before running gtc, or write the value into %s", name, filepath.Base(file))
	if l.opts.AllowMissingEnv {
		l.probs.Warnf(file, strings.Join(path, "."), line, col, "%s", msg)
	} else {
		l.probs.Errorf(file, strings.Join(path, "."), line, col, "%s", msg)
	}
	return v, false
}

func (l *loader) serve(file string, data []byte) {
	s := l.b.Manifest.Serve
	addr, ok := l.resolve(file, data, s.Addr, "serve", "addr")
	if addr == "" {
		addr = DefaultAddr
	}
	if ok {
		if _, port, found := strings.Cut(addr, ":"); !found || port == "" {
			l.errAt(file, data, fmt.Sprintf("addr must be host:port like %q", DefaultAddr), "serve", "addr")
		}
	}
	db, ok := l.resolve(file, data, s.Database, "serve", "database")
	switch {
	case !ok:
	case db == "":
		db = filepath.Join(l.b.Dir, filepath.FromSlash(DefaultDatabase))
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
	case !filepath.IsAbs(db):
		db = filepath.Join(l.b.Dir, db)
	}
	l.b.Serve = Serve{Addr: addr, Database: db}
}

func (l *loader) provider(tenant, team string, secrets map[string]string) {
	rel := ProviderFile(tenant, team)
	file := filepath.Join(l.b.Dir, filepath.FromSlash(rel))
	data, err := os.ReadFile(file)
	if err != nil {
		l.probs.Errorf(file, "", 0, 0, "cannot read the settings of %s/%s: re-run gtc setup with tenant %q and team %q", tenant, team, tenant, team)
		return
	}
	var pf providerFile
	if !decodeStrict(file, data, &pf, l.probs) {
		return
	}
	p := &Provider{Tenant: tenant, Team: team, File: rel, Enabled: pf.Enabled,
		RatePerSecond: pf.RatePerSecond, RecipientBurst: pf.RecipientBurst,
		MessagingLimit: pf.MessagingLimit, OptOutKeywords: pf.OptOutKeywords,
		OptInKeywords: pf.OptInKeywords, MarkRead: pf.MarkRead}
	strs := []struct {
		field string
		src   string
		dst   *string
	}{
		{answers.FieldPublicBaseURL, pf.PublicBaseURL, &p.PublicBaseURL},
		{answers.FieldPhoneNumberID, pf.PhoneNumberID, &p.PhoneNumberID},
		{answers.FieldBusinessAccountID, pf.BusinessAccountID, &p.BusinessAccountID},
		{answers.FieldAPIVersion, pf.APIVersion, &p.APIVersion},
		{answers.FieldAPIBaseURL, pf.APIBaseURL, &p.APIBaseURL},
	}
	for _, s := range strs {
		v, ok := l.resolve(file, data, s.src, s.field)
		*s.dst = v
		if !ok {
			continue
		}
		if v == "" && s.field != answers.FieldBusinessAccountID {
			l.errAt(file, data, s.field+" is missing: re-run gtc setup", s.field)
			continue
		}
		if v == "" {
			continue
		}
		warn, err := answers.CheckField(s.field, v)
		if err != nil {
			l.errAt(file, data, err.Error(), s.field)
		} else if warn != "" {
			n := findNode(data, s.field)
			if n != nil {
				l.probs.Warnf(file, s.field, n.Line, n.Column, "%s", warn)
			}
		}
	}
	if d, err := time.ParseDuration(pf.RecipientInterval); err != nil {
		l.errAt(file, data, `recipient_interval must be a duration like "6s"`, "recipient_interval")
	} else {
		p.RecipientInterval = d
	}
	// The pacing and keyword settings follow the rules of answers.json.
	a := answers.Default()
	a.RatePerSecond, a.RecipientBurst, a.MessagingLimit = p.RatePerSecond, p.RecipientBurst, p.MessagingLimit
	a.OptOutKeywords, a.OptInKeywords = p.OptOutKeywords, p.OptInKeywords
	if p.RecipientInterval > 0 {
		a.RecipientInterval = p.RecipientInterval
	}
	for _, fp := range answers.Check(a) {
		if !fp.Warning() && settingFields[fp.Field()] {
			l.errAt(file, data, fp.Message(), fp.Field())
		}
	}
	sec := func(field, key string, required bool) secret.Value {
		if key == "" {
			if required {
				l.errAt(file, data, fmt.Sprintf("secrets.%s is missing: name the %s key that holds it, or re-run gtc setup", field, SecretsFile), "secrets")
			}
			return secret.Value{}
		}
		if !secretKeyRE.MatchString(key) {
			// Never echo it: this is most likely the secret itself.
			l.errAt(file, data, fmt.Sprintf("secrets.%s must name a %s key (like %s), not hold the secret: put the value into %s", field, SecretsFile, SecretKey(tenant, team, field), SecretsFile), "secrets", field)
			return secret.Value{}
		}
		if v, ok := secrets[key]; ok {
			return secret.New(v)
		}
		// A key absent from secrets.env is read from the environment at use.
		return secret.New("${" + key + "}")
	}
	p.AccessToken = sec(answers.FieldAccessToken, pf.Secrets.AccessToken, true)
	p.VerifyToken = sec(answers.FieldVerifyToken, pf.Secrets.VerifyToken, true)
	p.AppSecret = sec(answers.FieldAppSecret, pf.Secrets.AppSecret, false)
	p.APIKey = sec(answers.FieldAPIKey, pf.Secrets.APIKey, false)
	p.EventsSecret = sec("events_secret", pf.Secrets.EventsSecret, false)
	var llmKey secret.Value
	if pf.LLM != nil {
		llmKey = sec("llm_api_key", pf.Secrets.LLMAPIKey, false)
	}
	l.settings(file, data, &pf, p, llmKey)
	if p.Enabled && p.AppSecret.IsZero() {
		n := findNode(data, "secrets")
		line, col := 0, 0
		if n != nil {
			line, col = n.Line, n.Column
		}
		l.probs.Warnf(file, "secrets.app_secret", line, col, "no app secret: gtc serve rejects every webhook POST until app_secret is set (re-run gtc setup with it)")
	}
	l.b.Providers = append(l.b.Providers, p)
	l.files = append(l.files, providerSource{p, file, data})
}

// secretKeyRE is what a secrets.env key name in a provider file looks like; anything else
// (lowercase letters, a long token) is treated as a misplaced secret.
var secretKeyRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)

var settingFields = map[string]bool{answers.FieldRatePerSecond: true, answers.FieldRecipientInterval: true,
	answers.FieldRecipientBurst: true, answers.FieldMessagingLimit: true,
	answers.FieldOptOutKeywords: true, answers.FieldOptInKeywords: true}

// readSecrets parses secrets.env: KEY=value lines, blank lines and # comments. A missing
// file is an empty map (every secret then comes from the environment).
func readSecrets(file string, probs *problem.List) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" {
		if st, err := os.Stat(file); err == nil && st.Mode().Perm()&0o077 != 0 {
			probs.Warnf(file, "", 0, 0, "%s is readable by other users (mode %04o): run chmod 600 %s", SecretsFile, st.Mode().Perm(), file)
		}
	}
	out, lineProbs := parseSecrets(data)
	for _, lp := range lineProbs {
		probs.Errorf(file, "", lp.line, 1, "%s", lp.msg)
	}
	return out, nil
}

type lineProblem struct {
	line int
	msg  string
}

// parseSecrets never puts a value into a problem.
func parseSecrets(data []byte) (map[string]string, []lineProblem) {
	out := map[string]string{}
	var probs []lineProblem
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(key), "export "))
		if !ok || !envKeyRE.MatchString(key) {
			probs = append(probs, lineProblem{i + 1, "expected KEY=value (KEY of letters, digits and _): fix or remove the line"})
			continue
		}
		if _, dup := out[key]; dup {
			probs = append(probs, lineProblem{i + 1, fmt.Sprintf("%s is set twice: keep one line", key)})
			continue
		}
		out[key] = val
	}
	return out, probs
}
