package bundle

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/secret"
)

var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// FlowExt is the extension of flow files.
const FlowExt = ".ygtc"

// WriteOptions tune Write.
type WriteOptions struct {
	// StarterFlows holds *.ygtc files at its root, copied into flows/ when the bundle is
	// created (never on a re-run, so a flow the user deleted stays deleted).
	StarterFlows fs.FS
	// Flows are the user's own flows by file name (already validated). A flow whose name is
	// taken by a different file in flows/ is refused; an identical one is left alone.
	Flows map[string][]byte
	// GTCVersion is written into bundle.yaml.
	GTCVersion string
	// Rand generates the send-API key (crypto/rand when nil).
	Rand io.Reader
	// LookupEnv tells whether a ${NAME} reference in a secret is set (os.LookupEnv when
	// nil): a reference to an unset variable never replaces a working secret.
	LookupEnv func(string) (string, bool)
}

// WriteResult says what Write did.
type WriteResult struct {
	Dir string
	// Created is true when the bundle did not exist before.
	Created bool
	// AddedProvider is true when the tenant/team was new to the bundle.
	AddedProvider bool
	// Provider holds the written settings (references unresolved).
	Provider *Provider
	// FlowsWritten are the flow files written, FlowsKept those already there.
	FlowsWritten []string
	FlowsKept    []string
	// APIKeyGenerated is true when a new random GTC_API_KEY was created.
	APIKeyGenerated bool
	// Warnings are worth printing: a secret kept because its new ${NAME} reference is
	// unset, say. They never hold a secret.
	Warnings []problem.Problem
}

// dirState is what a target folder holds.
type dirState int

const (
	stateMissing dirState = iota
	stateEmpty
	stateBundle
	stateForeign
)

func inspect(dir string) (dirState, error) {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return stateMissing, nil
	}
	if err != nil {
		return 0, err
	}
	if !st.IsDir() {
		return stateForeign, nil
	}
	if IsBundle(dir) {
		return stateBundle, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	if len(entries) == 0 {
		return stateEmpty, nil
	}
	return stateForeign, nil
}

// SecretKey is the secrets.env key of a provider's secret field, like
// WHATSAPP_DEFAULT_DEFAULT_ACCESS_TOKEN.
func SecretKey(tenant, team, field string) string {
	up := func(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }
	return "WHATSAPP_" + up(tenant) + "_" + up(team) + "_" + up(field)
}

// Write creates the bundle in dir from a, or updates it when dir already holds a bundle:
// settings are rewritten, flows/ and state/ are kept, another tenant/team is added next to
// the existing ones. A non-empty folder that is not a bundle is refused. Everything is
// checked before the first write; a new bundle appears in one rename, an existing one is
// updated file by file, each replaced atomically, bundle.yaml last.
func Write(dir string, a *answers.Answers, opts WriteOptions) (*WriteResult, error) {
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	state, err := inspect(dir)
	if err != nil {
		return nil, fmt.Errorf("write bundle: %w", err)
	}
	if state == stateForeign {
		var l problem.List
		l.Errorf(dir, "", 0, 0, "the folder is not empty and is not a gtc bundle (no %s): choose a new or empty folder, gtc setup never writes into other files", ManifestFile)
		return nil, l.Err()
	}
	res := &WriteResult{Dir: dir, Created: state != stateBundle}

	// Read what exists.
	man := Manifest{Name: filepath.Base(filepath.Clean(absOr(dir))), Serve: ServeConfig{Addr: DefaultAddr}, Tenants: map[string]Tenant{}}
	secrets := map[string]string{}
	if state == stateBundle {
		var l problem.List
		data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
		if err != nil {
			return nil, fmt.Errorf("write bundle: %w", err)
		}
		if !decodeStrict(filepath.Join(dir, ManifestFile), data, &man, &l) {
			return nil, l.Err()
		}
		if man.Tenants == nil {
			man.Tenants = map[string]Tenant{}
		}
		s, err := readSecrets(filepath.Join(dir, SecretsFile), &l)
		if err != nil {
			return nil, fmt.Errorf("write bundle: %w", err)
		}
		if err := l.Err(); err != nil {
			return nil, err
		}
		secrets = s
	}
	man.GTCVersion = opts.GTCVersion

	// Key collisions between tenant/team names that differ only in - and _.
	prefix := SecretKey(a.Tenant, a.Team, "")
	for tn, t := range man.Tenants {
		for tm := range t.Teams {
			if (tn != a.Tenant || tm != a.Team) && SecretKey(tn, tm, "") == prefix {
				var l problem.List
				l.Errorf(filepath.Join(dir, ManifestFile), "tenants."+tn+".teams."+tm, 0, 0, "tenant %q team %q would share secrets.env keys with %s/%s: choose names that differ in more than - and _", a.Tenant, a.Team, tn, tm)
				return nil, l.Err()
			}
		}
	}

	// The manifest entry.
	t := man.Tenants[a.Tenant]
	if t.Teams == nil {
		t.Teams = map[string]Team{}
	}
	team, had := t.Teams[a.Team]
	if !had || !contains(team.Providers, ProviderKind) {
		res.AddedProvider = true
		team.Providers = append(team.Providers, ProviderKind)
	}
	t.Teams[a.Team] = team
	man.Tenants[a.Tenant] = t

	// Secrets.
	pf, p := providerFromAnswers(a)
	secretsPath := filepath.Join(dir, SecretsFile)
	put := func(key, field string, v secret.Value) {
		putSecret(secrets, key, field, v, opts.LookupEnv, secretsPath, res)
	}
	put(pf.Secrets.AccessToken, answers.FieldAccessToken, a.AccessToken)
	put(pf.Secrets.VerifyToken, answers.FieldVerifyToken, a.VerifyToken)
	put(SecretKey(a.Tenant, a.Team, answers.FieldAppSecret), answers.FieldAppSecret, a.AppSecret)
	var llmKey secret.Value
	if a.LLM != nil {
		llmKey = a.LLM.APIKey
	}
	put(SecretKey(a.Tenant, a.Team, "llm_api_key"), answers.FieldLLMAPIKey, llmKey)
	put(SecretKey(a.Tenant, a.Team, "events_secret"), answers.FieldEventsSecret, a.EventsSecret)
	switch {
	case !a.APIKey.IsZero():
		put(APIKeyName, answers.FieldAPIKey, a.APIKey)
	case secrets[APIKeyName] != "":
	default:
		b := make([]byte, 24)
		if _, err := io.ReadFull(opts.Rand, b); err != nil {
			return nil, fmt.Errorf("write bundle: generate API key: %w", err)
		}
		secrets[APIKeyName] = "gtc_" + hex.EncodeToString(b)
		res.APIKeyGenerated = true
	}
	stored := func(key string) secret.Value { return secret.New(secrets[key]) }
	p.AccessToken, p.VerifyToken = stored(pf.Secrets.AccessToken), stored(pf.Secrets.VerifyToken)
	p.AppSecret = stored(SecretKey(a.Tenant, a.Team, answers.FieldAppSecret))
	p.EventsSecret = stored(SecretKey(a.Tenant, a.Team, "events_secret"))
	if p.LLM != nil {
		p.LLM.APIKey = stored(SecretKey(a.Tenant, a.Team, "llm_api_key"))
	}
	p.APIKey = stored(APIKeyName)
	res.Provider = p

	// Flows: decide everything before writing.
	files := map[string][]byte{} // relative path → content
	if res.Created && opts.StarterFlows != nil {
		entries, err := fs.ReadDir(opts.StarterFlows, ".")
		if err != nil {
			return nil, fmt.Errorf("write bundle: starter flows: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), FlowExt) {
				continue
			}
			b, err := fs.ReadFile(opts.StarterFlows, e.Name())
			if err != nil {
				return nil, fmt.Errorf("write bundle: starter flow %s: %w", e.Name(), err)
			}
			files[path.Join(FlowsDirName, e.Name())] = b
		}
	}
	var conflicts problem.List
	for _, name := range sortedKeys(opts.Flows) {
		rel := path.Join(FlowsDirName, name)
		existing, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		switch {
		case err == nil && bytes.Equal(existing, opts.Flows[name]):
			res.FlowsKept = append(res.FlowsKept, rel)
			continue
		case err == nil:
			conflicts.Errorf(filepath.Join(dir, filepath.FromSlash(rel)), "", 0, 0, "a different flow with this name is already in the bundle: rename your file or delete the bundle's copy (gtc setup never overwrites a flow)")
			continue
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("write bundle: %w", err)
		}
		files[rel] = opts.Flows[name]
	}
	if err := conflicts.Err(); err != nil {
		return nil, err
	}
	for _, rel := range sortedKeys(files) {
		res.FlowsWritten = append(res.FlowsWritten, rel)
	}

	// Settings files.
	provYAML, err := marshalProvider(a.Tenant, a.Team, pf)
	if err != nil {
		return nil, fmt.Errorf("write bundle: %w", err)
	}
	manYAML, err := marshalManifest(&man)
	if err != nil {
		return nil, fmt.Errorf("write bundle: %w", err)
	}
	readme := renderReadme(dir, &man, a, p)
	files[ProviderFile(a.Tenant, a.Team)] = provYAML
	files[ReadmeFile] = readme

	if res.Created {
		if err := createBundle(dir, state, files, marshalSecrets(secrets), manYAML); err != nil {
			return nil, err
		}
		return res, nil
	}
	// Update in place: flows and provider settings first, then secrets, README, and the
	// manifest last, so an interruption leaves the bundle consistent.
	order := sortedKeys(files)
	for _, rel := range order {
		if rel == ReadmeFile {
			continue
		}
		if err := writeAtomic(filepath.Join(dir, filepath.FromSlash(rel)), files[rel], 0o644); err != nil {
			return nil, err
		}
	}
	// A secrets.env that links elsewhere (a vault mount, a shared file) is updated there and
	// stays a link.
	secretsTarget, err := linkTarget(secretsPath)
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(secretsTarget, marshalSecrets(secrets), 0o600); err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(dir, ReadmeFile), files[ReadmeFile], 0o644); err != nil {
		return nil, err
	}
	if err := writeAtomic(filepath.Join(dir, ManifestFile), manYAML, 0o644); err != nil {
		return nil, err
	}
	return res, nil
}

func absOr(dir string) string {
	if a, err := filepath.Abs(dir); err == nil {
		return a
	}
	return dir
}

// createBundle writes everything into a temporary folder beside dir and renames it into
// place, so dir either does not exist or is a whole bundle.
func createBundle(dir string, state dirState, files map[string][]byte, secrets, manifest []byte) error {
	clean, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	parent := filepath.Dir(clean)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(clean)+".gtc-setup-")
	if err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, FlowsDirName), 0o755); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	for _, rel := range sortedKeys(files) {
		if err := writeFile(filepath.Join(tmp, filepath.FromSlash(rel)), files[rel], 0o644); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(tmp, SecretsFile), secrets, 0o600); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(tmp, ManifestFile), manifest, 0o644); err != nil {
		return err
	}
	if state == stateEmpty {
		// Keep the folder itself (it may be the shell's working directory): move the
		// entries in, bundle.yaml last, and take them out again on a failure.
		if err := moveInto(tmp, clean); err != nil {
			return err
		}
		ok = true
		return os.RemoveAll(tmp)
	}
	if err := os.Rename(tmp, clean); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	ok = true
	return nil
}

// moveInto renames every entry of src into the empty folder dst, the manifest last, so dst
// becomes a bundle only once everything is in place.
func moveInto(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != ManifestFile {
			names = append(names, e.Name())
		}
	}
	names = append(names, ManifestFile)
	var moved []string
	for _, n := range names {
		if err := os.Rename(filepath.Join(src, n), filepath.Join(dst, n)); err != nil {
			for _, m := range moved {
				_ = os.RemoveAll(filepath.Join(dst, m))
			}
			return fmt.Errorf("write bundle: %w", err)
		}
		moved = append(moved, n)
	}
	return nil
}

// beforeWrite, when set by a test, runs before every file is written and can fail it, to
// simulate an interruption.
var beforeWrite func(name string) error

func writeFile(name string, data []byte, mode os.FileMode) error {
	if beforeWrite != nil {
		if err := beforeWrite(name); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return os.Chmod(name, mode)
}

// writeAtomic replaces name with data through a temporary file in the same folder.
func writeAtomic(name string, data []byte, mode os.FileMode) error {
	if beforeWrite != nil {
		if err := beforeWrite(name); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func providerFromAnswers(a *answers.Answers) (*providerFile, *Provider) {
	pf := &providerFile{
		Enabled: a.Enabled, PublicBaseURL: a.PublicBaseURL, PhoneNumberID: a.PhoneNumberID,
		BusinessAccountID: a.BusinessAccountID, APIVersion: a.APIVersion, APIBaseURL: a.APIBaseURL,
		RatePerSecond: a.RatePerSecond, RecipientInterval: a.RecipientInterval.String(),
		RecipientBurst: a.RecipientBurst, MessagingLimit: a.MessagingLimit,
		OptOutKeywords: a.OptOutKeywords, OptInKeywords: a.OptInKeywords, MarkRead: a.MarkRead,
		Secrets: providerSecrets{
			AccessToken: SecretKey(a.Tenant, a.Team, answers.FieldAccessToken),
			VerifyToken: SecretKey(a.Tenant, a.Team, answers.FieldVerifyToken),
			APIKey:      APIKeyName,
		},
	}
	if !a.AppSecret.IsZero() {
		pf.Secrets.AppSecret = SecretKey(a.Tenant, a.Team, answers.FieldAppSecret)
	}
	p := &Provider{Tenant: a.Tenant, Team: a.Team, File: ProviderFile(a.Tenant, a.Team),
		Enabled: a.Enabled, PublicBaseURL: a.PublicBaseURL, PhoneNumberID: a.PhoneNumberID,
		BusinessAccountID: a.BusinessAccountID, APIVersion: a.APIVersion, APIBaseURL: a.APIBaseURL,
		RatePerSecond: a.RatePerSecond, RecipientInterval: a.RecipientInterval,
		RecipientBurst: a.RecipientBurst, MessagingLimit: a.MessagingLimit,
		OptOutKeywords: a.OptOutKeywords, OptInKeywords: a.OptInKeywords, MarkRead: a.MarkRead}
	settingsFile(a, pf)
	settingsProvider(a, p)
	return pf, p
}

func marshalYAML(header string, v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func marshalProvider(tenant, team string, pf *providerFile) ([]byte, error) {
	header := fmt.Sprintf("# WhatsApp settings of tenant %s, team %s. Written by gtc setup; re-running it rewrites\n"+
		"# this file. No secrets here: secrets names the %s keys that hold them (a key missing\n"+
		"# from %s is read from the environment variable of the same name).\n", tenant, team, SecretsFile, SecretsFile)
	return marshalYAML(header, pf)
}

func marshalManifest(m *Manifest) ([]byte, error) {
	header := "# A gtc bundle. Run it with: gtc serve <this folder>. Written by gtc setup.\n"
	return marshalYAML(header, m)
}

func marshalSecrets(s map[string]string) []byte {
	var b strings.Builder
	b.WriteString("# Secrets of this gtc bundle: the only file that holds them. Keep it mode 0600 and out of\n")
	b.WriteString("# version control. A value may be a ${NAME} reference, read from the environment at use.\n")
	for _, k := range sortedKeys(s) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(s[k])
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
