package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/secret"
)

// newSettingFields are the conversation, call, event, retention and portfolio settings,
// checked by the rules of answers.json when a provider file is loaded.
var newSettingFields = map[string]bool{
	answers.FieldConversationTimeout: true, answers.FieldReconcileWindow: true, answers.FieldLLMBaseURL: true, answers.FieldLLMModel: true,
	answers.FieldLLMAPIKey: true, answers.FieldOrderAPIURL: true, answers.FieldHTTPAllow: true,
	answers.FieldEventsURL: true, answers.FieldEventsSecret: true, answers.FieldRetentionMessages: true,
	answers.FieldRetentionIdemKeys: true, answers.FieldPortfolioID: true, answers.FieldPortfolioLimit: true,
}

// problemAt reports a problem about a (possibly dotted) settings field at its YAML node, or
// at its parent's when the key itself is missing.
func (l *loader) problemAt(file string, data []byte, field string, warning bool, msg string) {
	path := strings.Split(field, ".")
	n := findNode(data, path...)
	for n == nil && len(path) > 1 {
		path = path[:len(path)-1]
		n = findNode(data, path...)
	}
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	if warning {
		l.probs.Warnf(file, field, line, col, "%s", msg)
	} else {
		l.probs.Errorf(file, field, line, col, "%s", msg)
	}
}

// settings reads the newer settings of a provider file into p.
func (l *loader) settings(file string, data []byte, pf *providerFile, p *Provider, llmKey secret.Value) {
	dur := func(field, s string, def time.Duration) time.Duration {
		if s == "" {
			return def
		}
		d, err := answers.ParseDuration(s)
		if err != nil {
			l.problemAt(file, data, field, false, "must be a duration like \""+answers.FormatDuration(def)+"\" (units: s, m, h, d)")
			return def
		}
		return d
	}
	p.ConversationTimeout = dur(answers.FieldConversationTimeout, pf.ConversationTimeout, answers.DefaultConversationTimeout)
	p.ReconcileWindow = dur(answers.FieldReconcileWindow, pf.ReconcileWindow, answers.DefaultReconcileWindow)
	p.Retention = answers.DefaultRetention()
	if r := pf.Retention; r != nil {
		p.Retention.Messages = dur(answers.FieldRetentionMessages, r.Messages, answers.DefaultRetentionMessages)
		p.Retention.IdempotencyKeys = dur(answers.FieldRetentionIdemKeys, r.IdempotencyKeys, answers.DefaultRetentionIdempotency)
	}
	p.MarketingMessages = pf.MarketingMessages
	p.HTTPAllow = pf.HTTPAllow
	resolve := func(field, v string) string {
		out, _ := l.resolve(file, data, v, strings.Split(field, ".")...)
		return out
	}
	p.OrderAPIURL = resolve(answers.FieldOrderAPIURL, pf.OrderAPIURL)
	p.EventsURL = resolve(answers.FieldEventsURL, pf.EventsURL)
	if pf.LLM != nil {
		p.LLM = &answers.LLM{BaseURL: resolve(answers.FieldLLMBaseURL, pf.LLM.BaseURL),
			Model: resolve(answers.FieldLLMModel, pf.LLM.Model), APIKey: llmKey}
	}
	if pf.Portfolio != nil {
		p.Portfolio = answers.Portfolio{ID: resolve(answers.FieldPortfolioID, pf.Portfolio.ID), MessagingLimit: pf.Portfolio.MessagingLimit}
	}

	// The same rules as answers.json, on the resolved values.
	a := answers.Default()
	a.ConversationTimeout, a.Retention, a.HTTPAllow = p.ConversationTimeout, p.Retention, p.HTTPAllow
	a.ReconcileWindow = p.ReconcileWindow
	a.OrderAPIURL, a.EventsURL, a.EventsSecret, a.LLM = p.OrderAPIURL, p.EventsURL, p.EventsSecret, p.LLM
	if pf.Portfolio != nil {
		pp := p.Portfolio
		a.Portfolio = &pp
	}
	for _, fp := range answers.Check(a) {
		if newSettingFields[fp.Field()] {
			l.problemAt(file, data, fp.Field(), fp.Warning(), fp.Message())
		}
	}
}

// portfolios checks that the numbers of one portfolio agree on its messaging limit.
func (l *loader) portfolios() {
	first := map[string]providerSource{}
	for _, s := range l.files {
		id := s.p.Portfolio.ID
		if id == "" {
			continue
		}
		f, ok := first[id]
		if !ok {
			first[id] = s
			continue
		}
		if f.p.Portfolio.MessagingLimit != s.p.Portfolio.MessagingLimit {
			l.problemAt(s.file, s.data, answers.FieldPortfolioLimit, false, fmt.Sprintf(
				"portfolio %s has messaging_limit %d here and %d in %s: the numbers of one portfolio share one limit, so give every one the same value (re-run gtc setup with it)",
				id, s.p.Portfolio.MessagingLimit, f.p.Portfolio.MessagingLimit, f.p.File))
		}
	}
}

// ListFlows lists the flows/*.ygtc files of the bundle in dir like Load does, for a command
// that reads flows without loading the bundle: the files that may be read, sorted, and a
// *problem.Error naming every refused one (nil when none is).
func ListFlows(dir string) ([]string, error) {
	var probs problem.List
	files := listFlows(dir, &probs)
	return files, probs.Err()
}

// listFlows lists flows/*.ygtc, refusing any entry that is not a regular file or that
// resolves outside the bundle (a symbolic link to /etc/shadow, say). Problems name the file,
// never its content.
func listFlows(dir string, probs *problem.List) []string {
	flowsDir := filepath.Join(dir, FlowsDirName)
	entries, err := os.ReadDir(flowsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		probs.Errorf(flowsDir, "", 0, 0, "cannot list the flows: make the folder readable")
		return nil
	}
	root, err := filepath.EvalSymlinks(dir)
	if err == nil {
		root, err = filepath.Abs(root)
	}
	if err != nil {
		probs.Errorf(dir, "", 0, 0, "cannot resolve the bundle folder: %v", err)
		return nil
	}
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), FlowExt) {
			continue
		}
		name := filepath.Join(flowsDir, e.Name())
		st, err := os.Lstat(name)
		if err != nil {
			probs.Errorf(name, "", 0, 0, "cannot read the flow: make it readable or remove it")
			continue
		}
		link := st.Mode()&fs.ModeSymlink != 0
		real, err := filepath.EvalSymlinks(name)
		if err == nil {
			real, err = filepath.Abs(real)
		}
		if err != nil {
			probs.Errorf(name, "", 0, 0, "symbolic link to a file that does not exist: replace it with the flow file itself or remove it")
			continue
		}
		if !within(root, real) {
			what := "symbolic link to a file outside the bundle"
			if !link {
				what = "resolves to a file outside the bundle (is flows/ a symbolic link?)"
			}
			probs.Errorf(name, "", 0, 0, "%s: gtc reads flows only from inside the bundle; copy the flow into %s/ instead of linking it", what, FlowsDirName)
			continue
		}
		if st, err = os.Stat(real); err != nil || !st.Mode().IsRegular() {
			probs.Errorf(name, "", 0, 0, "not a regular file: %s/ holds %s files only; remove it or rename it without the %s extension", FlowsDirName, FlowExt, FlowExt)
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// within reports whether path is root or below it (both absolute and clean).
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// settingsFile puts the newer settings of a into the provider file.
func settingsFile(a *answers.Answers, pf *providerFile) {
	pf.ConversationTimeout = answers.FormatDuration(a.ConversationTimeout)
	if a.ReconcileWindow != answers.DefaultReconcileWindow && a.ReconcileWindow != 0 {
		pf.ReconcileWindow = answers.FormatDuration(a.ReconcileWindow) // the default is not written
	}
	pf.Retention = &retentionFile{Messages: answers.FormatDuration(a.Retention.Messages),
		IdempotencyKeys: answers.FormatDuration(a.Retention.IdempotencyKeys)}
	pf.MarketingMessages = a.MarketingMessages
	pf.OrderAPIURL = a.OrderAPIURL
	if len(a.HTTPAllow) > 0 {
		pf.HTTPAllow = a.HTTPAllow
	}
	pf.EventsURL = a.EventsURL
	if a.LLM != nil {
		pf.LLM = &llmFile{BaseURL: a.LLM.BaseURL, Model: a.LLM.Model}
		if !a.LLM.APIKey.IsZero() {
			pf.Secrets.LLMAPIKey = SecretKey(a.Tenant, a.Team, "llm_api_key")
		}
	}
	if !a.EventsSecret.IsZero() {
		pf.Secrets.EventsSecret = SecretKey(a.Tenant, a.Team, "events_secret")
	}
	if a.Portfolio != nil {
		pf.Portfolio = &portfolioFile{ID: a.Portfolio.ID, MessagingLimit: a.Portfolio.MessagingLimit}
	}
}

// settingsProvider copies the newer settings of a into p (references unresolved).
func settingsProvider(a *answers.Answers, p *Provider) {
	p.ConversationTimeout, p.Retention, p.MarketingMessages = a.ConversationTimeout, a.Retention, a.MarketingMessages
	p.ReconcileWindow = a.ReconcileWindow
	p.OrderAPIURL, p.HTTPAllow, p.EventsURL, p.EventsSecret = a.OrderAPIURL, a.HTTPAllow, a.EventsURL, a.EventsSecret
	if a.LLM != nil {
		llm := *a.LLM
		p.LLM = &llm
	}
	if a.Portfolio != nil {
		p.Portfolio = *a.Portfolio
	}
}

// putSecret stores one secret of the answers under key, or removes the key when the answers
// have none. A ${NAME} reference to an unset variable does not replace a value that works
// today (a secret, or a reference to a set variable): the value is kept and a warning says
// what to export. Writing the reference would break gtc serve on the next start.
func putSecret(secrets map[string]string, key, field string, v secret.Value, lookup func(string) (string, bool), file string, res *WriteResult) {
	if v.IsZero() {
		delete(secrets, key)
		return
	}
	name, isRef := v.Ref()
	old, had := secrets[key]
	if isRef && had && old != "" && old != v.Raw() {
		if val, ok := lookup(name); !ok || val == "" {
			working := true
			if oldName, oldRef := secret.IsRef(old); oldRef {
				val, ok := lookup(oldName)
				working = ok && val != ""
			}
			if working {
				res.Warnings = append(res.Warnings, problem.Problem{File: file, Path: answers.ProviderID + "." + field, Severity: problem.SeverityWarning,
					Msg: fmt.Sprintf("%s is ${%s}, but %s is not set: kept the %s already in %s (writing the reference would break gtc serve); export %s and re-run gtc setup to store the reference instead",
						field, name, name, field, SecretsFile, name)})
				return
			}
		}
	}
	secrets[key] = v.Raw()
}

// linkTarget follows name while it is a symbolic link and returns the file to write, so
// that a secrets.env linked into a vault is updated there and stays a link.
func linkTarget(name string) (string, error) {
	for i := 0; i < 40; i++ {
		st, err := os.Lstat(name)
		if err != nil || st.Mode()&fs.ModeSymlink == 0 {
			return name, nil
		}
		t, err := os.Readlink(name)
		if err != nil {
			return "", fmt.Errorf("write %s: %w", name, err)
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(name), t)
		}
		name = t
	}
	return "", fmt.Errorf("write %s: too many symbolic links", name)
}
