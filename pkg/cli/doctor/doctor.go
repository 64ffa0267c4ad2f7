// Package doctor is `gtc doctor`: the troubleshooting checks of a bundle (settings, secrets,
// flows, the public webhook URL, the token and phone number, the templates the flows use,
// the API version and what the state database says about recent traffic), each reported as
// ok, warning or problem with the fix.
package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/tui"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// NewestAPIVersion is the newest Graph API version gtc knows and is tested against
// (answers.DefaultAPIVersion). Doctor warns about an api_version that is retired, retires
// within RetireWarning, or that gtc does not know.
const NewestAPIVersion = answers.DefaultAPIVersion

// RetireWarning is how long before a pinned api_version's expiry doctor starts warning.
const RetireWarning = 90 * 24 * time.Hour

// Check results.
const (
	OK      = "ok"
	Warning = "warning"
	Problem = "problem"
)

// Check is one finding.
type Check struct {
	Name     string `json:"check"`
	Provider string `json:"provider,omitempty"` // tenant/team, for provider checks
	Status   string `json:"status"`             // ok, warning, problem
	Message  string `json:"message"`
	Fix      string `json:"fix,omitempty"`
}

// Report is everything gtc doctor found (its --json output).
type Report struct {
	Bundle   string  `json:"bundle"`
	Offline  bool    `json:"offline"`
	Checks   []Check `json:"checks"`
	Problems int     `json:"problems"`
	Warnings int     `json:"warnings"`
}

func (r *Report) add(c Check) {
	switch c.Status {
	case Problem:
		r.Problems++
	case Warning:
		r.Warnings++
	}
	r.Checks = append(r.Checks, c)
}

// DoctorOptions are gtc doctor's inputs.
type DoctorOptions struct {
	IO        *cmdutil.IOStreams
	LookupEnv func(string) (string, bool)
	Now       func() time.Time
	Context   context.Context

	BundleDir    string
	Tenant, Team string
	Offline      bool
	JSON         bool
	Timeout      time.Duration
	// Fix sets each phone number's override callback URL to its per-tenant URL through
	// the Graph API when it is unset or points elsewhere.
	Fix bool

	// HTTPClient carries the Graph calls and the webhook handshake (tests give one that
	// trusts their TLS server).
	HTTPClient *http.Client
}

// NewCmdDoctor builds `gtc doctor`.
func NewCmdDoctor(f *cmdutil.Factory, runF func(*DoctorOptions) error) *cobra.Command {
	opts := &DoctorOptions{IO: f.IO, LookupEnv: f.LookupEnv, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "doctor BUNDLE",
		Short: "Check a bundle end to end and say how to fix what is wrong",
		Long: `Run the troubleshooting checks and print each as ok, warning or problem with the fix:

  - the bundle and its flows are valid; secrets and ${ENV} references resolve;
    app_secret and the verify token are set;
  - public_base_url is https and reaches this bundle's webhook route (a handshake with a
    random challenge through the public URL: proves the tunnel or proxy points at a
    running gtc serve of this bundle);
  - the access token is valid and the phone number readable (display number, verified
    name, quality rating, throughput);
  - each phone number's webhook override callback URL, as Graph reports it, is the
    bundle's per-tenant URL ({public_base_url}/webhook/whatsapp/{tenant}/{team}), so
    several numbers of one Meta app each reach their own route; --fix sets it (Meta
    verifies the URL at once with a handshake: gtc serve must be running behind it);
  - every template the flows use exists in that language and is APPROVED;
  - api_version is known to gtc and not retired or retiring within 90 days (Meta serves a
    call to a retired version as the oldest version still available);
  - from the state database: webhook errors, failed sends by class, contacts near or past
    the 24-hour window, opt-outs, business-initiated conversations of the last 24 hours
    against the messaging limit (per business portfolio when the numbers share one),
    billable messages of the last 30 days by category (gtc report shows them by day), and
    how many rows retention keeps and since when.

--offline skips every network check. --fix sets the override callback URL of every
number whose override is unset or points elsewhere (the only change doctor makes).
Exit code 0 when nothing is a problem, 1 otherwise.`,
		Example: `  gtc doctor ./my-bundle
  gtc doctor ./my-bundle --offline
  gtc doctor ./my-bundle --json
  gtc doctor ./my-bundle --fix`,
		Args: func(cmd *cobra.Command, args []string) error {
			return cmdutil.ExactArgs(1, "a bundle directory")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.BundleDir = args[0]
			opts.Context = cmd.Context()
			if (opts.Tenant == "") != (opts.Team == "") {
				return cmdutil.FlagErrorf("--tenant and --team go together: give both")
			}
			if opts.Fix && opts.Offline {
				return cmdutil.FlagErrorf("--fix sets callback URLs through the Graph API: it cannot be combined with --offline")
			}
			if opts.Timeout <= 0 {
				return cmdutil.FlagErrorf("invalid --timeout %s: give a positive duration like 10s", opts.Timeout)
			}
			if runF != nil {
				return runF(opts)
			}
			return doctorRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Tenant, "tenant", "", "check only this tenant (with --team)")
	cmd.Flags().StringVar(&opts.Team, "team", "", "check only this team (with --tenant)")
	cmd.Flags().BoolVar(&opts.Offline, "offline", false, "skip the checks that need the network (webhook handshake, token, templates)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&opts.Fix, "fix", false, "set each phone number's webhook override callback URL to its per-tenant URL through the Graph API")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 10*time.Second, "time limit of each network check")
	return cmd
}

func doctorRun(o *DoctorOptions) error {
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if !bundle.IsBundle(o.BundleDir) {
		return cmdutil.FlagErrorf("%s is not a gtc bundle (no %s): give the folder gtc setup wrote", o.BundleDir, bundle.ManifestFile)
	}
	r := &Report{Bundle: o.BundleDir, Offline: o.Offline, Checks: []Check{}}
	d := &doctor{o: o, r: r}
	d.run(ctx)
	if errors.Is(ctx.Err(), context.Canceled) {
		return cmdutil.ErrCancelled
	}
	if err := d.print(); err != nil {
		return err
	}
	if r.Problems > 0 {
		return &cmdutil.ExitError{Code: cmdutil.ExitFailure, Err: cmdutil.ErrSilent}
	}
	return nil
}

type doctor struct {
	o *DoctorOptions
	r *Report
}

func (d *doctor) run(ctx context.Context) {
	b, err := bundle.Load(d.o.BundleDir, bundle.LoadOptions{LookupEnv: d.o.LookupEnv, AllowMissingEnv: true})
	if err != nil {
		c := Check{Name: "bundle", Status: Problem, Message: err.Error(), Fix: "fix the files named above, or re-run gtc setup"}
		if pe, ok := problem.As(err); ok {
			c.Message = problemText(pe.Problems)
		}
		d.r.add(c)
		return
	}
	// The public_url check explains a plain-http public_base_url in full: say it once.
	ws := slices.DeleteFunc(slices.Clone(b.Warnings), func(p problem.Problem) bool {
		return p.Path == "public_base_url" || strings.HasSuffix(p.Path, ".public_base_url")
	})
	if len(ws) > 0 {
		d.r.add(Check{Name: "bundle", Status: Warning, Message: warningText(ws)})
	} else {
		d.r.add(Check{Name: "bundle", Status: OK, Message: fmt.Sprintf("%d provider(s) configured", len(b.Providers))})
	}
	used := d.flows(b)

	var ps []*bundle.Provider
	if d.o.Tenant != "" {
		p, ok := b.Provider(d.o.Tenant, d.o.Team)
		if !ok {
			d.r.add(Check{Name: "provider", Provider: d.o.Tenant + "/" + d.o.Team, Status: Problem,
				Message: "no such tenant/team in the bundle", Fix: "check --tenant and --team against bundle.yaml"})
			return
		}
		ps = append(ps, p)
	} else {
		for _, p := range b.Providers {
			if p.Enabled {
				ps = append(ps, p)
			}
		}
		if len(ps) == 0 {
			d.r.add(Check{Name: "provider", Status: Problem, Message: "no provider is enabled",
				Fix: "set enabled: true in the answers and re-run gtc setup"})
		}
	}
	for _, p := range ps {
		d.provider(ctx, b, p, used)
	}
	d.retention(ctx, b)
}

// warningText is problemText for a warning check: the status column says "warning"
// already, so each line drops its own "warning: ".
func warningText(ps []problem.Problem) string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		p.Severity = problem.SeverityError
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func problemText(ps []problem.Problem) string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// usedTemplate is a template a flow's reply node sends.
type usedTemplate struct {
	Name, Language string
	Where          string // flow/node
}

// flows checks the flow files and returns the templates they use.
func (d *doctor) flows(b *bundle.Bundle) []usedTemplate {
	files, err := cmdutil.FlowFiles(b.FlowsDir())
	if err != nil {
		d.r.add(Check{Name: "flows", Status: Problem, Message: err.Error(), Fix: "make " + b.FlowsDir() + " readable"})
		return nil
	}
	set, probs, err := flow.CheckFiles(files)
	if err != nil {
		d.r.add(Check{Name: "flows", Status: Problem, Message: err.Error(), Fix: "make the flow files readable"})
		return nil
	}
	switch {
	case probs.HasErrors():
		d.r.add(Check{Name: "flows", Status: Problem, Message: problemText(probs.All()),
			Fix: "fix the flows at the positions named (gtc flow validate shows the same)"})
	case len(probs.Warnings()) > 0:
		d.r.add(Check{Name: "flows", Status: Warning, Message: warningText(probs.Warnings())})
	case len(files) == 0:
		d.r.add(Check{Name: "flows", Status: Warning, Message: "no flows: gtc serve records messages but answers none",
			Fix: "add .ygtc files to " + b.FlowsDir() + " (gtc setup writes starter flows into a new bundle)"})
	default:
		d.r.add(Check{Name: "flows", Status: OK, Message: fmt.Sprintf("%d flow(s) valid", len(files))})
	}
	if set == nil {
		return nil
	}
	var used []usedTemplate
	seen := map[string]bool{}
	for _, f := range set.Flows {
		for _, n := range f.Nodes {
			m := n.Message()
			if m == nil || !m.IsTemplate() || m.Template == nil {
				continue
			}
			t := usedTemplate{Name: m.Template.Name, Language: m.Template.Language.Code, Where: f.Name + "/" + n.ID}
			if strings.Contains(t.Name, "{{") || strings.Contains(t.Language, "{{") {
				continue // chosen at run time: cannot be checked here
			}
			if k := t.Name + "\x00" + t.Language; !seen[k] {
				seen[k] = true
				used = append(used, t)
			}
		}
	}
	return used
}

func (d *doctor) provider(ctx context.Context, b *bundle.Bundle, p *bundle.Provider, used []usedTemplate) {
	who := p.Tenant + "/" + p.Team
	add := func(c Check) { c.Provider = who; d.r.add(c) }
	file := filepath.Join(b.Dir, filepath.FromSlash(p.File))
	secretsFile := filepath.Join(b.Dir, bundle.SecretsFile)

	// Secrets.
	resolved := map[string]string{}
	var missing []string
	for _, s := range []struct {
		field string
		v     secret.Value
	}{{"access_token", p.AccessToken}, {"verify_token", p.VerifyToken}, {"app_secret", p.AppSecret}, {"api_key", p.APIKey}} {
		if s.v.IsZero() {
			continue
		}
		v, err := s.v.Resolve(d.o.LookupEnv)
		if err != nil {
			name, _ := s.v.Ref()
			missing = append(missing, fmt.Sprintf("%s comes from the environment variable %s, which is not set", s.field, name))
			continue
		}
		resolved[s.field] = v
	}
	if len(missing) > 0 {
		add(Check{Name: "secrets", Status: Problem, Message: strings.Join(missing, "; "),
			Fix: "export the variables before gtc serve, or write the values into " + secretsFile})
	} else {
		add(Check{Name: "secrets", Status: OK, Message: "every secret resolves"})
	}
	switch {
	case p.AppSecret.IsZero():
		add(Check{Name: "app_secret", Status: Problem, Message: "no app secret: gtc serve rejects every webhook POST",
			Fix: "add app_secret (Meta app → App settings → Basic → App secret) to the answers and re-run gtc setup"})
	case resolved["app_secret"] != "":
		add(Check{Name: "app_secret", Status: OK, Message: "set: webhook signatures are checked"})
	}
	verify := resolved["verify_token"]
	switch {
	case p.VerifyToken.IsZero() || verify == "" && !slices.ContainsFunc(missing, func(m string) bool { return strings.HasPrefix(m, "verify_token ") }):
		add(Check{Name: "verify_token", Status: Problem, Message: "no verify token: Meta's webhook verification cannot succeed",
			Fix: "set verify_token in the answers (any random string, the same in Meta's webhook settings) and re-run gtc setup"})
	case verify != "":
		add(Check{Name: "verify_token", Status: OK, Message: "set"})
	}

	// Public URL and the handshake through it.
	d.publicURL(ctx, p, verify, add)

	// API version and where the Graph calls go.
	add(apiVersionCheck(p.APIVersion, d.o.Now(), file))
	if local := localGraph(p.APIBaseURL); local {
		add(Check{Name: "api_base_url", Status: OK, Message: fmt.Sprintf("%s is a local Graph API double (gtc serve --fake-graph), not Meta: the token, phone number and template checks run against it; to reach WhatsApp set api_base_url to %s", p.APIBaseURL, answers.DefaultAPIBaseURL)})
	}

	// Token, phone number, templates (what Meta's template webhooks recorded joins
	// Graph's list; offline, it is all there is).
	recorded, rerr := cmdutil.RecordedTemplates(ctx, b, p)
	if rerr != nil {
		recorded = nil // the state check below says what is wrong with the state
	}
	if d.o.Offline {
		add(Check{Name: "token", Status: OK, Message: "not checked (--offline)"})
		d.recordedTemplates(used, recorded, add)
	} else if token := resolved["access_token"]; token != "" {
		d.graph(ctx, p, used, recorded, verify, add)
	} else {
		add(Check{Name: "token", Status: Problem, Message: "no access token to check",
			Fix: "set access_token (a System User token with whatsapp_business_messaging) and re-run gtc setup"})
	}

	// State.
	d.state(ctx, b, p, add)
}

// apiVersionCheck judges a pinned api_version by Meta's published expiry dates
// (answers.GraphVersions).
func apiVersionCheck(v string, now time.Time, file string) Check {
	fix := fmt.Sprintf("set api_version: %s in %s (or in the answers, then re-run gtc setup) after reading Meta's changelog", NewestAPIVersion, file)
	g, known := answers.LookupGraphVersion(v)
	switch {
	case !known && older(NewestAPIVersion, v):
		return Check{Name: "api_version", Status: Warning, Fix: fix,
			Message: fmt.Sprintf("%s is newer than %s, the newest version gtc is tested against", v, NewestAPIVersion)}
	case !known:
		return Check{Name: "api_version", Status: Warning, Fix: fix,
			Message: fmt.Sprintf("%s is not a Graph API version gtc knows (it knows %s to %s); Meta serves a call to a retired version as the oldest version still available", v, answers.GraphVersions[len(answers.GraphVersions)-1].Version, NewestAPIVersion)}
	case !g.Expires.IsZero() && !now.Before(g.Expires):
		return Check{Name: "api_version", Status: Warning, Fix: fix,
			Message: fmt.Sprintf("%s retired on %s: Meta now serves calls to it as the oldest version still available, so requests may behave differently than %s did; gtc is tested against %s", v, g.Expires.Format(time.DateOnly), v, NewestAPIVersion)}
	case !g.Expires.IsZero() && g.Expires.Sub(now) < RetireWarning:
		return Check{Name: "api_version", Status: Warning, Fix: fix,
			Message: fmt.Sprintf("%s retires on %s; after that Meta serves calls to it as the oldest version still available; gtc is tested against %s", v, g.Expires.Format(time.DateOnly), NewestAPIVersion)}
	case v != NewestAPIVersion && !g.Expires.IsZero():
		return Check{Name: "api_version", Status: OK, Message: fmt.Sprintf("%s, available until %s (the newest is %s)", v, g.Expires.Format(time.DateOnly), NewestAPIVersion)}
	}
	return Check{Name: "api_version", Status: OK, Message: v}
}

// localGraph reports whether the API base URL is on this machine (the Graph API double).
func localGraph(base string) bool {
	u, err := url.Parse(base)
	return err == nil && answers.IsLoopback(u.Hostname())
}

// older reports whether Graph version a ("v18.0") is older than b.
func older(a, b string) bool {
	pa, oka := parseVersion(a)
	pb, okb := parseVersion(b)
	if !oka || !okb {
		return false
	}
	return pa[0] < pb[0] || pa[0] == pb[0] && pa[1] < pb[1]
}

func parseVersion(v string) ([2]int, bool) {
	major, minor, ok := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	if !ok {
		return [2]int{}, false
	}
	x, err1 := strconv.Atoi(major)
	y, err2 := strconv.Atoi(minor)
	return [2]int{x, y}, err1 == nil && err2 == nil
}

func (d *doctor) publicURL(ctx context.Context, p *bundle.Provider, verify string, add func(Check)) {
	u, err := url.Parse(p.PublicBaseURL)
	if err != nil || u.Host == "" {
		add(Check{Name: "public_url", Status: Problem, Message: fmt.Sprintf("public_base_url %q is not a URL", p.PublicBaseURL),
			Fix: "set public_base_url to the https address Meta reaches gtc serve at, and re-run gtc setup"})
		return
	}
	if u.Scheme == "http" && answers.IsLoopback(u.Hostname()) {
		add(Check{Name: "public_url", Status: Warning, Message: fmt.Sprintf("public_base_url %s is this machine: fine for trying gtc locally (gtc chat, webhooks you post yourself), but Meta cannot deliver webhooks to it, as it calls only public https URLs", p.PublicBaseURL),
			Fix: "to receive messages from WhatsApp, put gtc serve behind a tunnel (cloudflared, ngrok) or a TLS reverse proxy, set public_base_url to its https address and re-run gtc setup"})
	} else if u.Scheme != "https" {
		add(Check{Name: "public_url", Status: Problem, Message: fmt.Sprintf("public_base_url %s is not https: Meta only calls https webhooks", p.PublicBaseURL),
			Fix: "put gtc serve behind a TLS reverse proxy or a tunnel (cloudflared, ngrok) and set public_base_url to its https address"})
	} else {
		add(Check{Name: "public_url", Status: OK, Message: "https"})
	}
	if d.o.Offline {
		add(Check{Name: "webhook", Status: OK, Message: "handshake not tried (--offline)"})
		return
	}
	if verify == "" {
		add(Check{Name: "webhook", Status: Warning, Message: "handshake not tried: no verify token", Fix: "set the verify token first"})
		return
	}
	callback := p.CallbackURL()
	fix := fmt.Sprintf("start gtc serve %s and make sure %s forwards to it (the tunnel or proxy target is serve.addr)", d.o.BundleDir, p.PublicBaseURL)
	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		add(Check{Name: "webhook", Status: Problem, Message: "no randomness for the challenge: " + err.Error()})
		return
	}
	challenge := hex.EncodeToString(buf[:])
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {verify}, "hub.challenge": {challenge}}
	cctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, callback+"?"+q.Encode(), nil)
	if err != nil {
		// err would quote the URL with its query, which holds the verify token.
		add(Check{Name: "webhook", Status: Problem, Message: fmt.Sprintf("callback URL %s is not a valid URL", callback),
			Fix: "set public_base_url to an https URL like https://bot.example.com and re-run gtc setup"})
		return
	}
	resp, err := d.o.HTTPClient.Do(req)
	if err != nil {
		msg := err.Error()
		var ue *url.Error
		if errors.As(err, &ue) {
			msg = ue.Err.Error() // without the query, which holds the verify token
		}
		add(Check{Name: "webhook", Status: Problem, Message: fmt.Sprintf("%s cannot be reached: %s", callback, msg), Fix: fix})
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusOK && string(body) == challenge:
		add(Check{Name: "webhook", Status: OK, Message: fmt.Sprintf("%s answered the handshake: a gtc serve of this bundle is behind it", callback)})
	case resp.StatusCode == http.StatusForbidden:
		add(Check{Name: "webhook", Status: Problem, Message: fmt.Sprintf("%s refused the verify token (403): the server behind it is not running this bundle, or it was started before the verify token changed", callback),
			Fix: "restart gtc serve with this bundle, and point the tunnel at it"})
	case resp.StatusCode == http.StatusOK:
		add(Check{Name: "webhook", Status: Problem, Message: fmt.Sprintf("%s answered 200 without the challenge: something other than gtc serve answers there", callback), Fix: fix})
	default:
		add(Check{Name: "webhook", Status: Problem, Message: fmt.Sprintf("%s answered HTTP %d, not the handshake", callback, resp.StatusCode), Fix: fix})
	}
}

func (d *doctor) graph(ctx context.Context, p *bundle.Provider, used []usedTemplate, recorded []*store.TemplateState, verify string, add func(Check)) {
	client, err := cmdutil.ClientFor(p, d.o.LookupEnv, d.o.HTTPClient, nil)
	if err != nil {
		add(Check{Name: "token", Status: Problem, Message: err.Error(), Fix: "set access_token and re-run gtc setup"})
		return
	}
	cctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	info, err := client.PhoneNumberInfo(cctx)
	if err != nil {
		c := graphProblem("token", "read phone number "+p.PhoneNumberID, err)
		if localGraph(p.APIBaseURL) && whatsapp.ClassOf(err) != whatsapp.ClassAuth {
			c.Fix = fmt.Sprintf("api_base_url %s is the local Graph API double: start gtc serve --fake-graph %s (in another terminal) and run gtc doctor again", p.APIBaseURL, d.o.BundleDir)
		}
		add(c)
		return
	}
	add(Check{Name: "token", Status: OK, Message: "valid for phone number " + p.PhoneNumberID})
	pc := Check{Name: "phone_number", Status: OK, Message: fmt.Sprintf("%s %q, quality %s, throughput %s",
		orUnknown(info.DisplayPhoneNumber), info.VerifiedName, orUnknown(info.QualityRating), orUnknown(info.Throughput.Level))}
	switch strings.ToUpper(info.QualityRating) {
	case "RED", "YELLOW":
		pc.Status = Warning
		pc.Fix = "quality is dropping because customers block or report the messages: send fewer marketing messages, honour opt-outs, check the templates (WhatsApp Manager → Insights)"
	}
	add(pc)
	if info.MessagingLimit != "" {
		add(messagingTier(info.MessagingLimit, p))
	}
	d.override(ctx, client, p, verify, add)
	d.templates(ctx, client, p, used, recorded, add)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func graphProblem(name, what string, err error) Check {
	c := Check{Name: name, Status: Problem, Message: fmt.Sprintf("%s: %v", what, err)}
	var ge *whatsapp.GraphError
	if errors.As(err, &ge) {
		c.Fix = ge.Advice()
		if ge.Class == whatsapp.ClassAuth {
			c.Message = fmt.Sprintf("%s: the access token is invalid or expired (%v)", what, err)
		}
	}
	if c.Fix == "" {
		c.Fix = "check the network and api_base_url, then run gtc doctor again"
	}
	return c
}

// recordedTemplates checks the templates the flows use against what Meta's template
// webhooks recorded (gtc doctor --offline): one a flow would have refused is a problem.
func (d *doctor) recordedTemplates(used []usedTemplate, recorded []*store.TemplateState, add func(Check)) {
	if len(used) == 0 || len(recorded) == 0 {
		return
	}
	bad := false
	for _, u := range used {
		if tr := delivery.TemplateRefusal(findRecorded(recorded, u.Name, u.Language)); tr != nil {
			bad = true
			add(Check{Name: "templates", Status: Problem, Message: fmt.Sprintf("template %s (%s), used by %s: %s (as Meta's webhook said): flows' sends of it are refused",
				u.Name, u.Language, u.Where, statusWords(tr)), Fix: templateFix(tr.Status)})
		}
	}
	if !bad {
		add(Check{Name: "templates", Status: OK, Message: fmt.Sprintf("the %d template use(s) of the flows are sendable as Meta's webhooks last said (Graph not asked: --offline)", len(used))})
	}
}

func findRecorded(recorded []*store.TemplateState, name, lang string) *store.TemplateState {
	for _, r := range recorded {
		if r.Name == name && r.Language == lang {
			return r
		}
	}
	return nil
}

// statusWords says a refused template's status, since when and why.
func statusWords(tr *delivery.TemplateRefusedError) string {
	w := "status " + tr.Status
	if !tr.Since.IsZero() && tr.Source != store.TemplateSourceGraph {
		w += " since " + tr.Since.UTC().Format(time.RFC3339)
	}
	if tr.Reason != "" {
		w += " (reason: " + tr.Reason + ")"
	}
	return w
}

func (d *doctor) templates(ctx context.Context, client *whatsapp.Client, p *bundle.Provider, used []usedTemplate, recorded []*store.TemplateState, add func(Check)) {
	if len(used) == 0 {
		add(Check{Name: "templates", Status: OK, Message: "the flows send no template"})
		return
	}
	if p.BusinessAccountID == "" {
		add(Check{Name: "templates", Status: Warning, Message: fmt.Sprintf("the flows use %d template(s) but they cannot be checked without business_account_id", len(used)),
			Fix: "add business_account_id (WhatsApp Manager → Account tools) to the answers and re-run gtc setup"})
		return
	}
	cctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	ts, err := client.ListTemplates(cctx)
	if err != nil {
		add(graphProblem("templates", "list templates of account "+p.BusinessAccountID, err))
		return
	}
	langs := map[string][]whatsapp.TemplateInfo{}
	for _, t := range ts {
		langs[t.Name] = append(langs[t.Name], t)
	}
	for _, u := range used {
		name := fmt.Sprintf("template %s (%s), used by %s", u.Name, u.Language, u.Where)
		have := langs[u.Name]
		var match *whatsapp.TemplateInfo
		var others []string
		for i := range have {
			if have[i].Language == u.Language {
				match = &have[i]
			} else {
				others = append(others, have[i].Language)
			}
		}
		sort.Strings(others)
		rec := findRecorded(recorded, u.Name, u.Language)
		var tr *delivery.TemplateRefusedError
		quality := ""
		if match != nil {
			tr = delivery.TemplateRefusal(delivery.TemplateSeen(rec, match, d.o.Now()))
			quality = seenQuality(rec, match)
		}
		switch {
		case len(have) == 0:
			add(Check{Name: "templates", Status: Problem, Message: name + ": does not exist in business account " + p.BusinessAccountID,
				Fix: "create it in WhatsApp Manager → Message templates and wait for approval, or fix the name in the flow"})
		case match == nil:
			add(Check{Name: "templates", Status: Problem, Message: fmt.Sprintf("%s: exists only in %s", name, strings.Join(others, ", ")),
				Fix: fmt.Sprintf("add the %s translation in WhatsApp Manager, or set the flow's language to one of %s", u.Language, strings.Join(others, ", "))})
		case tr != nil:
			add(Check{Name: "templates", Status: Problem, Message: fmt.Sprintf("%s: %s, Meta refuses to send it until it is APPROVED", name, statusWords(tr)),
				Fix: templateFix(match.Status)})
		case match.Status != "APPROVED" && !strings.EqualFold(match.Status, "FLAGGED"):
			add(Check{Name: "templates", Status: Warning, Message: fmt.Sprintf("%s: status %s", name, match.Status),
				Fix: templateFix(match.Status)})
		case quality == "RED" || quality == "YELLOW":
			add(Check{Name: "templates", Status: Warning, Message: fmt.Sprintf("%s: APPROVED, quality %s: Meta pauses a template whose quality stays low", name, quality),
				Fix: "customers block or report it: make it more relevant, send it less often or to fewer people (WhatsApp Manager → Message templates → Insights)"})
		default:
			add(Check{Name: "templates", Status: OK, Message: name + ": APPROVED"})
		}
	}
}

// seenQuality is the template's quality: Graph's, else the last quality webhook's.
func seenQuality(rec *store.TemplateState, t *whatsapp.TemplateInfo) string {
	if q := t.Quality(); q != "" || rec == nil {
		return q
	}
	return rec.Quality
}

func templateFix(status string) string {
	switch status {
	case "PENDING", "IN_APPEAL":
		return "wait for Meta's review (usually minutes to a day); WhatsApp Manager → Message templates shows its state"
	case "REJECTED":
		return "read the rejection reason in WhatsApp Manager, edit the template and submit it again"
	case "PAUSED", "DISABLED":
		return "customers reported it: WhatsApp Manager shows why; improve the template or use another"
	}
	return "check the template in WhatsApp Manager → Message templates"
}

// state reports what the state database says about the last 24 hours.
func (d *doctor) state(ctx context.Context, b *bundle.Bundle, p *bundle.Provider, add func(Check)) {
	st, err := cmdutil.OpenState(ctx, b)
	if errors.Is(err, cmdutil.ErrNoState) {
		add(Check{Name: "state", Status: OK, Message: "no state database yet: gtc serve has not run"})
		return
	}
	if err != nil {
		add(Check{Name: "state", Status: Warning, Message: err.Error(), Fix: "check serve.database in bundle.yaml"})
		return
	}
	defer st.Close()
	now := d.o.Now()
	h, err := st.Health(ctx, p.Tenant, p.Team, now)
	if err != nil {
		add(Check{Name: "state", Status: Warning, Message: err.Error()})
		return
	}
	if h.WebhookErrors > 0 {
		add(Check{Name: "webhook_errors", Status: Warning,
			Message: fmt.Sprintf("%d error webhook(s) from Meta in the last 24 hours; the newest: %s", h.WebhookErrors, webhookErrorText(h.LastWebhookError)),
			Fix:     "read them with gtc messages " + d.o.BundleDir + " (kind error); they name app or account problems Meta sees"})
	} else {
		add(Check{Name: "webhook_errors", Status: OK, Message: "none in the last 24 hours"})
	}
	if len(h.FailedByClass) > 0 {
		classes := make([]string, 0, len(h.FailedByClass))
		worst := Warning
		for c, n := range h.FailedByClass {
			classes = append(classes, fmt.Sprintf("%s %d", c, n))
			if c == string(whatsapp.ClassAuth) {
				worst = Problem
			}
		}
		sort.Strings(classes)
		add(Check{Name: "failed_sends", Status: worst, Message: "failed or refused in the last 24 hours: " + strings.Join(classes, ", "),
			Fix: "gtc messages " + d.o.BundleDir + " --status failed (and --status refused) lists them with their error"})
	} else {
		add(Check{Name: "failed_sends", Status: OK, Message: "none in the last 24 hours"})
	}
	wc := Check{Name: "windows", Status: OK, Message: fmt.Sprintf("%d contact(s); %d window(s) close within %s; %d closed",
		h.Contacts, h.WindowClosing, store.WindowWarning, h.WindowClosed)}
	if h.WindowClosing > 0 || h.WindowClosed > 0 {
		wc.Fix = "outside the 24-hour window only approved templates can be sent"
	}
	add(wc)
	add(Check{Name: "opt_outs", Status: OK, Message: fmt.Sprintf("%d contact(s) opted out", h.OptedOut)})
	add(d.messagingLimit(ctx, st, b, p, now))
	add(d.billing(ctx, st, p, now))
	d.events(ctx, st, p, add)
}

// BillingPeriod is the period of doctor's billing summary.
const BillingPeriod = 30 * 24 * time.Hour

// messagingLimit reports the headroom of the number's messaging limit: business-initiated
// conversations opened in the last 24 hours by every number of its scope (its portfolio,
// or the number alone), against the limit gtc enforces before sending.
func (d *doctor) messagingLimit(ctx context.Context, st *store.Store, b *bundle.Bundle, p *bundle.Provider, now time.Time) Check {
	scope, limit := p.MessagingLimitScope()
	used, err := st.LimitUse(ctx, scope, now)
	if err != nil {
		return Check{Name: "messaging_limit", Status: Warning, Message: err.Error()}
	}
	who := "this number"
	setting := "messaging_limit"
	if p.Portfolio.ID != "" {
		setting = "portfolio.messaging_limit"
		var shared []string
		for _, q := range b.Providers {
			if q.Enabled && q.Portfolio.ID == p.Portfolio.ID {
				shared = append(shared, q.Tenant+"/"+q.Team)
			}
		}
		who = fmt.Sprintf("portfolio %s (%s)", p.Portfolio.ID, strings.Join(shared, ", "))
	}
	c := Check{Name: "messaging_limit", Status: OK}
	if limit == 0 {
		c.Message = fmt.Sprintf("%s: %d business-initiated conversation(s) in the last 24 hours; no limit set (%s: 0), gtc refuses none", who, used, setting)
		return c
	}
	c.Message = fmt.Sprintf("%s: %d of %d business-initiated conversation(s) in the last 24 hours, %d left", who, used, limit, max(limit-used, 0))
	fix := fmt.Sprintf("raise the portfolio's limit with Meta (verify the business, keep quality high), then set %s to it and re-run gtc setup", setting)
	switch {
	case used >= limit:
		c.Status = Problem
		c.Message += ": the limit is reached, gtc refuses templates that would open a new conversation (class messaging_limit)"
		c.Fix = "wait for the 24 hours to roll, or " + fix
	case used*5 >= limit*4:
		c.Status = Warning
		c.Message += ": near the limit"
		c.Fix = "slow business-initiated sends, or " + fix
	}
	return c
}

// messagingTier compares the portfolio's messaging limit Graph reports with the one gtc
// enforces (the setting): a setting above Meta's lets gtc start conversations Meta refuses.
func messagingTier(tier string, p *bundle.Provider) Check {
	_, limit := p.MessagingLimitScope()
	setting := "messaging_limit"
	if p.Portfolio.ID != "" {
		setting = "portfolio.messaging_limit"
	}
	meta, ok := whatsapp.MessagingLimitUsers(tier)
	c := Check{Name: "messaging_tier", Status: OK}
	metaText, gtcText := strconv.Itoa(meta), strconv.Itoa(limit)
	if meta == 0 {
		metaText = "unlimited"
	}
	if limit == 0 {
		gtcText = "no limit"
	}
	switch {
	case !ok:
		c.Message = fmt.Sprintf("Graph reports the messaging limit %s, which gtc does not know; gtc enforces %s (%s)", tier, gtcText, setting)
	case meta != 0 && (limit == 0 || limit > meta):
		c.Status = Warning
		c.Message = fmt.Sprintf("Meta's messaging limit is %s (%s) but gtc enforces %s (%s): Meta refuses the conversations beyond %s", metaText, tier, gtcText, setting, metaText)
		c.Fix = fmt.Sprintf("set %s to %d and re-run gtc setup", setting, meta)
	case meta != limit:
		c.Message = fmt.Sprintf("Meta's messaging limit is %s (%s); gtc enforces %s (%s): set it to %s to use all of it", metaText, tier, gtcText, setting, metaText)
	default:
		c.Message = fmt.Sprintf("%s (%s), as gtc enforces (%s)", metaText, tier, setting)
	}
	return c
}

// billing summarises the pricing of the last BillingPeriod (gtc report shows it by day).
func (d *doctor) billing(ctx context.Context, st *store.Store, p *bundle.Provider, now time.Time) Check {
	rows, err := st.PricingSummary(ctx, store.PricingFilter{Tenant: p.Tenant, Team: p.Team, Since: now.Add(-BillingPeriod), Until: now})
	if err != nil {
		return Check{Name: "billing", Status: Warning, Message: err.Error()}
	}
	billable, free := 0, 0
	byCat := map[string]int{}
	for _, r := range rows {
		if r.Billable {
			billable += r.Messages
			byCat[r.Category] += r.Messages
		} else {
			free += r.Messages
		}
	}
	cats := make([]string, 0, len(byCat))
	for c, n := range byCat {
		cats = append(cats, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(cats)
	msg := fmt.Sprintf("%d billable message(s) in the last 30 days", billable)
	if len(cats) > 0 {
		msg += " (" + strings.Join(cats, ", ") + ")"
	}
	msg += fmt.Sprintf(", %d free; by day: gtc report %s", free, d.o.BundleDir)
	return Check{Name: "billing", Status: OK, Message: msg}
}

// retention reports how much the state database holds and since when, against the
// bundle's retention settings (gtc serve applies them every hour).
func (d *doctor) retention(ctx context.Context, b *bundle.Bundle) {
	st, err := cmdutil.OpenState(ctx, b)
	if err != nil {
		return // the state check of each provider said why
	}
	defer st.Close()
	rs, err := st.RetentionStateOf(ctx)
	if err != nil {
		d.r.add(Check{Name: "retention", Status: Warning, Message: err.Error()})
		return
	}
	r := b.Retention()
	now := d.o.Now()
	part := func(what string, t store.TableAge) string {
		if t.Rows == 0 {
			return "0 " + what
		}
		return fmt.Sprintf("%d %s (oldest %s)", t.Rows, what, t.Oldest.Format(time.DateOnly))
	}
	c := Check{Name: "retention", Status: OK, Message: fmt.Sprintf("keeps message content %s and idempotency keys %s: %s, %s, %s",
		durationText(r.Messages), durationText(r.IdempotencyKeys), part("inbound event(s) with content", rs.InboundEvents),
		part("outbound message(s)", rs.Outbound), part("idempotency key(s)", rs.IdempotencyKeys))}
	// gtc serve prunes every hour; a day late means it has not run (open work is kept
	// whatever its age, so a row may rightly be older now and then).
	late := func(t store.TableAge, keep time.Duration) bool {
		return t.Rows > 0 && now.Sub(t.Oldest) > keep+24*time.Hour
	}
	if late(rs.InboundEvents, r.Messages) || late(rs.Outbound, r.Messages) || late(rs.IdempotencyKeys, r.IdempotencyKeys) {
		c.Status = Warning
		c.Message += ": some rows are older than retention allows"
		c.Fix = "gtc serve deletes them every hour: start it (or check its log for \"retention\" errors); open work (pending messages, unsent replies) is kept whatever its age"
	}
	d.r.add(c)
}

func durationText(d time.Duration) string {
	if d%(24*time.Hour) == 0 && d >= 48*time.Hour {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// events reports the event webhooks waiting in the outbox: how many, how many failing and
// for how long, the last error, and those given up in the last day.
func (d *doctor) events(ctx context.Context, st *store.Store, p *bundle.Provider, add func(Check)) {
	eb, err := st.EventBacklogOf(ctx, p.Tenant, p.Team)
	if err != nil {
		add(Check{Name: "events", Status: Warning, Message: err.Error()})
		return
	}
	if p.EventsURL == "" && eb.Pending == 0 && eb.GaveUpDay == 0 {
		return // no event webhooks
	}
	c := Check{Name: "events", Status: OK, Message: fmt.Sprintf("%d event(s) waiting", eb.Pending)}
	if eb.Pending > 0 {
		c.Message += fmt.Sprintf(", the oldest for %s", d.o.Now().Sub(eb.OldestAt).Round(time.Second))
	}
	if eb.Failing > 0 {
		c.Status = Warning
		c.Message += fmt.Sprintf("; %d failing; last error: %s", eb.Failing, eb.LastError)
		c.Fix = "check that events_url answers 2xx and that events_secret is the same on both sides; waiting events go out once it does"
	}
	if eb.GaveUpDay > 0 {
		c.Status = Warning
		c.Message += fmt.Sprintf("; %d given up in the last 24 hours", eb.GaveUpDay)
		if c.Fix == "" {
			c.Fix = "events are given up after a day of failed attempts: fix the receiver sooner"
		}
	}
	if p.EventsURL == "" && eb.Pending > 0 {
		c.Status = Warning
		c.Fix = "events_url was removed: gtc serve gives these up"
	}
	add(c)
}

// webhookErrorText summarises a recorded value.errors event.
func webhookErrorText(raw []byte) string {
	var ev whatsapp.Event
	if json.Unmarshal(raw, &ev) == nil && ev.Error != nil {
		b, _ := json.Marshal(ev.Error)
		return string(b)
	}
	if len(raw) > 300 {
		return string(raw[:300]) + "…"
	}
	return string(raw)
}

func (d *doctor) print() error {
	if d.o.JSON {
		enc := json.NewEncoder(d.o.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(d.r)
	}
	w := d.o.IO.Out
	st := tui.NewStyles(w, d.o.IO.NoColor || !d.o.IO.OutTTY)
	for _, c := range d.r.Checks {
		name := c.Name
		if c.Provider != "" {
			name = c.Provider + " " + c.Name
		}
		lines := strings.Split(c.Message, "\n")
		fmt.Fprintf(w, "%s %s: %s\n", st.Status(c.Status, fmt.Sprintf("%-8s", c.Status)), name, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "%-8s   %s\n", "", l)
		}
		if c.Fix != "" && c.Status != OK {
			fmt.Fprintf(w, "%-8s   fix: %s\n", "", c.Fix)
		}
	}
	verdict := st.OK.Render("no problems")
	if d.r.Problems > 0 {
		verdict = st.Error.Render(fmt.Sprintf("%d problem(s)", d.r.Problems))
	}
	warnings := fmt.Sprintf("%d warning(s)", d.r.Warnings)
	if d.r.Warnings > 0 {
		warnings = st.Warn.Render(warnings)
	}
	fmt.Fprintf(w, "\n%s, %s\n", verdict, warnings)
	return nil
}
