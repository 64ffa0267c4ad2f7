// Package send is `gtc send`: one message of any kind (or a flow's replies) to one recipient
// through the Cloud API, with the bundle's provider, pacing, retries and the opt-out and
// 24-hour-window rules the server recorded.
package send

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// SendOptions are gtc send's inputs.
type SendOptions struct {
	IO        *cmdutil.IOStreams
	Logger    *slog.Logger
	Now       func() time.Time
	LookupEnv func(string) (string, bool)
	Context   context.Context

	BundleDir    string
	Tenant, Team string
	To           string
	ReplyTo      string
	DryRun       bool
	JSON         bool

	Text       string
	PreviewURL bool

	Template      string
	Lang          string
	Params        []string // k=v, named body parameters
	BodyParams    []string // positional body parameters
	HeaderImage   string
	ButtonPayload []string // i=v

	Media    map[string]string // kind (image, document, audio, video, sticker) → URL or media id
	Caption  string
	Filename string
	File     string

	Location      string
	Name, Address string

	Buttons string
	Body    string

	Flow string
	Node string
	Vars []string

	// Composer, when set, composes and sends interactively; gtc send calls it on a terminal
	// when no message flag is given (the TUI composer plugs in here).
	Composer func(ctx context.Context, opts *SendOptions, client *whatsapp.Client) error
	// HTTPClient and Clock replace the network and time in tests.
	HTTPClient *http.Client
	Clock      whatsapp.Clock
	// Retry is the retry policy of each send (default: rate limits retried, 5 attempts, 2 min).
	Retry whatsapp.RetryPolicy

	changed func(string) bool
	// bundle and provider are set before the Composer runs, for Guard.
	bundle   *bundle.Bundle
	provider *bundle.Provider
}

// Guard applies gtc send's rules to messages composed interactively: it refuses a contact
// who opted out, and free-form messages outside the 24-hour window, when the bundle has
// state. The Composer calls it before sending.
func (o *SendOptions) Guard(ctx context.Context, msgs ...*whatsapp.Message) error {
	if o.bundle == nil || o.provider == nil || len(msgs) == 0 {
		return nil
	}
	to, err := whatsapp.NormalizeE164(msgs[0].To)
	if err != nil {
		return err
	}
	contact, err := readContact(ctx, o.bundle, o.provider, to)
	if err != nil {
		return err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	return refuse(contact, now(), msgs...)
}

// refuse is the opt-out and 24-hour-window rule; contact nil means no state (send).
func refuse(contact *store.Contact, now time.Time, msgs ...*whatsapp.Message) error {
	if contact == nil {
		return nil
	}
	to := "+" + contact.Key
	if contact.OptedOut {
		return &Refusal{Msg: fmt.Sprintf("%s opted out on %s: gtc does not send to opted-out contacts (they must write START to opt in again)",
			to, contact.OptedOutAt.UTC().Format(time.RFC3339))}
	}
	if contact.WindowOpen(now) {
		return nil
	}
	for _, m := range msgs {
		if !m.IsTemplate() {
			last := "has never written"
			if !contact.LastInboundAt.IsZero() {
				last = "last wrote " + contact.LastInboundAt.UTC().Format(time.RFC3339)
			}
			return &Refusal{Msg: fmt.Sprintf("the 24-hour window with %s is closed (%s): only templates may be sent; use --template NAME (see gtc templates list)", to, last)}
		}
	}
	return nil
}

// DefaultComposer is the terminal composer gtc send runs when no message flag is given on a
// terminal (set by pkg/cli/chat.InstallHooks; nil means none, and a missing message flag is
// a usage error).
var DefaultComposer func(ctx context.Context, opts *SendOptions, client *whatsapp.Client) error

// messageFlags are the flags that each choose a kind of message.
var messageFlags = []string{"text", "template", "image", "document", "audio", "video", "sticker", "file", "location", "buttons", "flow", "node"}

// NewCmdSend builds `gtc send`.
func NewCmdSend(f *cmdutil.Factory, runF func(*SendOptions) error) *cobra.Command {
	opts := &SendOptions{IO: f.IO, Now: f.Now, LookupEnv: f.LookupEnv, Media: map[string]string{}, Composer: DefaultComposer}
	media := map[string]*string{}
	cmd := &cobra.Command{
		Use:   "send BUNDLE --to NUMBER (--text T | --template NAME | --image URL|ID | ... | --flow NAME)",
		Short: "Send a message of any kind, or a flow's replies, to one WhatsApp user",
		Long: `Send one message through the Cloud API with the bundle's provider.

The recipient is an international number (+4915123456789 or 004915123456789); gtc sends it
in E.164 form with the "+". A number without country code is refused, never guessed.

When the bundle has state (written by gtc serve), opted-out contacts are refused and free-form
messages outside the 24-hour window are refused (send a template instead).`,
		Example: `  gtc send ./my-bundle --to +4915123456789 --text "Hello"
  gtc send ./my-bundle --to +4915123456789 --template hello_world --lang en_US
  gtc send ./my-bundle --to +4915123456789 --template order --param name=Ada --button-payload 0=track
  gtc send ./my-bundle --to +4915123456789 --image https://example.com/a.png --caption Hi
  gtc send ./my-bundle --to +4915123456789 --file ./invoice.pdf
  gtc send ./my-bundle --to +4915123456789 --location 52.52,13.405 --name Berlin
  gtc send ./my-bundle --to +4915123456789 --buttons 'yes:Yes,no:No' --body "Coming?"
  gtc send ./my-bundle --to +4915123456789 --flow follow_up --var name=Ada --dry-run`,
		Args: func(cmd *cobra.Command, args []string) error {
			return cmdutil.ExactArgs(1, "a bundle directory")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.BundleDir = args[0]
			opts.Logger = f.Logger
			opts.Context = cmd.Context()
			for k, v := range media {
				if cmd.Flags().Changed(k) {
					opts.Media[k] = *v
				}
			}
			opts.changed = cmd.Flags().Changed
			if err := opts.check(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return sendRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.To, "to", "", "recipient number in international form, e.g. +4915123456789")
	fl.StringVar(&opts.Tenant, "tenant", "", "tenant, when the bundle has several providers")
	fl.StringVar(&opts.Team, "team", "", "team, when the bundle has several providers")
	fl.StringVar(&opts.ReplyTo, "reply-to", "", "message id (wamid) to quote")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print the request body and send nothing")
	fl.BoolVar(&opts.JSON, "json", false, "print {message_id, to, status} as JSON")
	fl.StringVar(&opts.Text, "text", "", "send a text message")
	fl.BoolVar(&opts.PreviewURL, "preview-url", false, "show a preview of the first URL in --text")
	fl.StringVar(&opts.Template, "template", "", "send an approved template by name")
	fl.StringVar(&opts.Lang, "lang", "en", "template language code")
	fl.StringArrayVar(&opts.Params, "param", nil, "named template body parameter `name=value` (repeatable)")
	fl.StringArrayVar(&opts.BodyParams, "body-param", nil, "positional template body parameter (repeatable, in order)")
	fl.StringVar(&opts.HeaderImage, "header-image", "", "template header image `URL-or-media-id`")
	fl.StringArrayVar(&opts.ButtonPayload, "button-payload", nil, "template quick-reply payload `index=payload` (repeatable)")
	for _, k := range whatsapp.MediaTypes {
		media[k] = fl.String(k, "", "send "+article(k)+" "+k+" by `URL-or-media-id`")
	}
	fl.StringVar(&opts.Caption, "caption", "", "caption of an image, video or document")
	fl.StringVar(&opts.Filename, "filename", "", "file name shown for a document")
	fl.StringVar(&opts.File, "file", "", "upload a local file, then send it by id (kind from its type)")
	fl.StringVar(&opts.Location, "location", "", "send a location `LAT,LNG`")
	fl.StringVar(&opts.Name, "name", "", "name of the --location")
	fl.StringVar(&opts.Address, "address", "", "address of the --location")
	fl.StringVar(&opts.Buttons, "buttons", "", "send reply buttons `'id:Title,...'` (with --body)")
	fl.StringVar(&opts.Body, "body", "", "body text of --buttons")
	fl.StringVar(&opts.Flow, "flow", "", "send the replies of a flow's explicit start (its first node)")
	fl.StringVar(&opts.Node, "node", "", "send the replies of a flow from a node: `FLOW/NODE`")
	fl.StringArrayVar(&opts.Vars, "var", nil, "flow variable `name=value` (repeatable)")
	return cmd
}

func article(k string) string {
	if k == "image" || k == "audio" {
		return "an"
	}
	return "a"
}

// kind is the message flag given; "" when none.
func (o *SendOptions) kind() (string, error) {
	var given []string
	for _, f := range messageFlags {
		if o.changed(f) {
			given = append(given, "--"+f)
		}
	}
	switch len(given) {
	case 0:
		return "", nil
	case 1:
		return strings.TrimPrefix(given[0], "--"), nil
	}
	return "", cmdutil.FlagErrorf("%s cannot be combined: give exactly one message flag", strings.Join(given, " and "))
}

// check validates the flags and their combinations (exit 2 naming the flag).
func (o *SendOptions) check() error {
	if o.changed == nil {
		o.changed = func(string) bool { return false }
	}
	kind, err := o.kind()
	if err != nil {
		return err
	}
	only := func(allowed []string, flags ...string) error {
		for _, f := range flags {
			if !o.changed(f) {
				continue
			}
			ok := false
			for _, a := range allowed {
				if a == kind {
					ok = true
				}
			}
			if !ok {
				return cmdutil.FlagErrorf("--%s only goes with --%s", f, strings.Join(allowed, " or --"))
			}
		}
		return nil
	}
	checks := []error{
		only([]string{"text"}, "preview-url"),
		only([]string{"template"}, "lang", "param", "body-param", "header-image", "button-payload"),
		only([]string{"image", "video", "document", "file"}, "caption"),
		only([]string{"document", "file"}, "filename"),
		only([]string{"location"}, "name", "address"),
		only([]string{"buttons"}, "body"),
		only([]string{"flow", "node"}, "var"),
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	if o.changed("param") && o.changed("body-param") {
		return cmdutil.FlagErrorf("--param and --body-param cannot be combined: a template uses named or positional parameters")
	}
	if kind == "" {
		if o.IO.CanPrompt() && o.Composer != nil {
			if o.DryRun || o.JSON {
				return cmdutil.FlagErrorf("--dry-run and --json need a message flag: give one of --%s", strings.Join(messageFlags, ", --"))
			}
			if o.To != "" {
				to, err := whatsapp.NormalizeE164(o.To)
				if err != nil {
					return cmdutil.FlagErrorf("--to: %v", err)
				}
				o.To = to
			}
			return nil
		}
		return cmdutil.FlagErrorf("a message is required when not running interactively: give one of --%s", strings.Join(messageFlags, ", --"))
	}
	if o.To == "" {
		return cmdutil.FlagErrorf("--to is required: the recipient's number, e.g. --to +4915123456789")
	}
	to, err := whatsapp.NormalizeE164(o.To)
	if err != nil {
		return cmdutil.FlagErrorf("--to: %v", err)
	}
	o.To = to
	if kind == "buttons" && strings.TrimSpace(o.Body) == "" {
		return cmdutil.FlagErrorf("--buttons needs --body: the text above the buttons")
	}
	if kind == "node" {
		if f, n, ok := strings.Cut(o.Node, "/"); !ok || f == "" || n == "" {
			return cmdutil.FlagErrorf("--node %q: use FLOW/NODE, e.g. --node follow_up/window_open", o.Node)
		}
	}
	if kind == "text" && o.Text == "" {
		return cmdutil.FlagErrorf("--text is empty: give the message text")
	}
	return nil
}

// Refusal is a send gtc refused because of what the server recorded (opt-out, closed
// window). Exit code 1.
type Refusal struct{ Msg string }

func (r *Refusal) Error() string { return r.Msg }

// SendError is a failed send with what to do about it. Exit code 1.
type SendError struct {
	Err error
}

func (e *SendError) Error() string {
	msg := e.Err.Error()
	class := whatsapp.ClassOf(e.Err)
	if advice := whatsapp.AdviceOf(e.Err); advice != "" {
		msg += "\n  " + advice
	}
	if code := whatsapp.CodeOf(e.Err); code != 0 {
		msg += fmt.Sprintf(" (class %s, code %d)", class, code)
	} else if class != whatsapp.ClassUnknown {
		msg += fmt.Sprintf(" (class %s)", class)
	}
	return msg
}

func (e *SendError) Unwrap() error { return e.Err }

// ClientFor builds the Cloud API client of a provider, resolving its token.
func ClientFor(p *bundle.Provider, lookupEnv func(string) (string, bool), hc *http.Client, clock whatsapp.Clock) (*whatsapp.Client, error) {
	token, err := p.AccessToken.Resolve(lookupEnv)
	if err != nil {
		return nil, fmt.Errorf("%s/%s access_token: %w", p.Tenant, p.Team, err)
	}
	if token == "" {
		return nil, fmt.Errorf("%s/%s has no access_token: add it to the answers and re-run gtc setup", p.Tenant, p.Team)
	}
	if clock == nil {
		clock = whatsapp.SystemClock{}
	}
	return whatsapp.NewClient(whatsapp.ClientConfig{
		BaseURL: p.APIBaseURL, APIVersion: p.APIVersion, PhoneNumberID: p.PhoneNumberID,
		BusinessAccountID: p.BusinessAccountID, Token: token, HTTPClient: hc, Clock: clock,
		Pacer: whatsapp.NewPacer(whatsapp.PacerConfig{RatePerSecond: p.RatePerSecond,
			RecipientInterval: p.RecipientInterval, RecipientBurst: p.RecipientBurst, Clock: clock}),
	}), nil
}

// Provider loads the bundle and picks the provider of --tenant/--team (or the only one).
func Provider(dir, tenant, team string, lookupEnv func(string) (string, bool)) (*bundle.Bundle, *bundle.Provider, error) {
	b, err := bundle.Load(dir, bundle.LoadOptions{LookupEnv: lookupEnv})
	if err != nil {
		return nil, nil, err
	}
	if tenant == "" && team == "" {
		p, err := b.Only()
		if err != nil {
			return nil, nil, cmdutil.FlagErrorf("%v", err)
		}
		return b, p, nil
	}
	if tenant == "" || team == "" {
		return nil, nil, cmdutil.FlagErrorf("--tenant and --team go together: give both")
	}
	p, ok := b.Provider(tenant, team)
	if !ok {
		var names []string
		for _, q := range b.Providers {
			names = append(names, q.Tenant+"/"+q.Team)
		}
		return nil, nil, cmdutil.FlagErrorf("--tenant %s --team %s: no such provider in %s (it has %s)", tenant, team, dir, strings.Join(names, ", "))
	}
	if !p.Enabled {
		return nil, nil, cmdutil.FlagErrorf("--tenant %s --team %s: the provider is disabled: set enabled to true and re-run gtc setup", tenant, team)
	}
	return b, p, nil
}

type result struct {
	MessageID string `json:"message_id"`
	To        string `json:"to"`
	Status    string `json:"status"`
}

func sendRun(o *SendOptions) error {
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.changed == nil {
		o.changed = func(string) bool { return false }
	}
	b, p, err := Provider(o.BundleDir, o.Tenant, o.Team, o.LookupEnv)
	if err != nil {
		return err
	}
	var client *whatsapp.Client
	if !o.DryRun {
		if client, err = ClientFor(p, o.LookupEnv, o.HTTPClient, o.Clock); err != nil {
			return err
		}
	}
	kind, err := o.kind()
	if err != nil {
		return err
	}
	if kind == "" {
		if o.Composer == nil || !o.IO.CanPrompt() {
			return cmdutil.FlagErrorf("a message is required when not running interactively: give one of --%s", strings.Join(messageFlags, ", --"))
		}
		o.bundle, o.provider = b, p
		return o.Composer(ctx, o, client)
	}

	contact, err := readContact(ctx, b, p, o.To)
	if err != nil {
		return err
	}
	msgs, err := o.messages(ctx, b, p, contact, client)
	if err != nil {
		return err
	}
	if err := refuse(contact, o.Now(), msgs...); err != nil {
		return err
	}
	for _, m := range msgs {
		if err := whatsapp.Prepare(m); err != nil {
			return cmdutil.FlagErrorf("%v", err)
		}
	}
	if o.DryRun {
		for _, m := range msgs {
			data, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				return fmt.Errorf("encode message: %w", err)
			}
			fmt.Fprintln(o.IO.Out, string(data))
		}
		if kind == "file" {
			fmt.Fprintf(o.IO.ErrOut, "dry run: %s would be uploaded first; its media id replaces %q\n", o.File, dryRunMediaID)
		}
		fmt.Fprintf(o.IO.ErrOut, "dry run: nothing sent (%d message(s) to %s via %s/%s)\n", len(msgs), o.To, p.Tenant, p.Team)
		return nil
	}
	pol := o.Retry
	if pol.MaxAttempts == 0 {
		pol.RetryOnRateLimit, pol.MaxAttempts = true, 5
	}
	userRetry := pol.OnRetry
	pol.OnRetry = func(attempt int, err error, wait time.Duration) {
		fmt.Fprintf(o.IO.ErrOut, "attempt %d failed (%s, code %d): retrying in %s\n", attempt, whatsapp.ClassOf(err), whatsapp.CodeOf(err), wait.Round(time.Millisecond))
		if userRetry != nil {
			userRetry(attempt, err, wait)
		}
	}
	enc := json.NewEncoder(o.IO.Out)
	for _, m := range msgs {
		res, err := client.SendWithRetry(ctx, m, pol)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return cmdutil.ErrCancelled
			}
			return &SendError{Err: err}
		}
		if o.JSON {
			if err := enc.Encode(result{MessageID: res.MessageID, To: m.To, Status: "accepted"}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(o.IO.ErrOut, "✓ sent %s to %s (accepted by the Cloud API; delivery comes as a status webhook)\n", describe(m), m.To)
		fmt.Fprintln(o.IO.Out, res.MessageID)
	}
	return nil
}

func describe(m *whatsapp.Message) string {
	switch {
	case m.Type == whatsapp.TypeTemplate:
		return "template " + m.Template.Name
	case m.Type == whatsapp.TypeInteractive && m.Interactive != nil:
		return m.Interactive.Type + " message"
	}
	return m.Type + " message"
}

// readContact returns what the server recorded about the recipient, or nil when the bundle
// has no state yet. It never creates the database.
func readContact(ctx context.Context, b *bundle.Bundle, p *bundle.Provider, to string) (*store.Contact, error) {
	dsn := b.Database(nil)
	path, ok := store.SQLitePath(dsn)
	switch {
	case store.IsPostgres(dsn):
		path = store.Redact(dsn)
	case !ok:
		return nil, nil
	default:
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	defer st.Close()
	c, err := st.Contact(ctx, p.Tenant, p.Team, strings.TrimPrefix(to, "+"))
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	return c, nil
}

const dryRunMediaID = "<media id of --file>"

// messages builds the message(s) the flags ask for.
func (o *SendOptions) messages(ctx context.Context, b *bundle.Bundle, p *bundle.Provider, contact *store.Contact, client *whatsapp.Client) ([]*whatsapp.Message, error) {
	kind, _ := o.kind()
	m := &whatsapp.Message{To: o.To}
	switch kind {
	case "text":
		m.Type, m.Text = whatsapp.TypeText, &whatsapp.Text{Body: o.Text, PreviewURL: o.PreviewURL}
	case "template":
		t, err := o.template()
		if err != nil {
			return nil, err
		}
		m.Type, m.Template = whatsapp.TypeTemplate, t
	case "image", "document", "audio", "video", "sticker":
		md := mediaRef(o.Media[kind])
		md.Caption, md.Filename = o.Caption, o.Filename
		m.SetMedia(kind, md)
	case "file":
		md, k, err := o.upload(ctx, client)
		if err != nil {
			return nil, err
		}
		m.SetMedia(k, md)
	case "location":
		lat, lng, err := parseLatLng(o.Location)
		if err != nil {
			return nil, err
		}
		m.Type, m.Location = whatsapp.TypeLocation, &whatsapp.Location{Latitude: lat, Longitude: lng, Name: o.Name, Address: o.Address}
	case "buttons":
		bs, err := parseButtons(o.Buttons)
		if err != nil {
			return nil, err
		}
		m.Type = whatsapp.TypeInteractive
		m.Interactive = &whatsapp.Interactive{Type: "button", Body: &whatsapp.InteractiveText{Text: o.Body}, Action: whatsapp.Action{Buttons: bs}}
	case "flow", "node":
		return o.flowMessages(b, p, contact)
	}
	if o.ReplyTo != "" {
		m.Context = &whatsapp.Context{MessageID: o.ReplyTo}
	}
	if err := m.Validate(); err != nil {
		return nil, cmdutil.FlagErrorf("--%s: %v", kind, err)
	}
	return []*whatsapp.Message{m}, nil
}

func (o *SendOptions) flowMessages(b *bundle.Bundle, p *bundle.Provider, contact *store.Contact) ([]*whatsapp.Message, error) {
	name, node := o.Flow, ""
	flag := "--flow"
	if o.Node != "" {
		name, node, _ = strings.Cut(o.Node, "/")
		flag = "--node"
	}
	vars := map[string]any{}
	for _, kv := range o.Vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, cmdutil.FlagErrorf("--var %q: use name=value", kv)
		}
		vars[k] = v
	}
	set, err := flow.LoadDir(b.FlowsDir())
	if err != nil {
		return nil, err
	}
	c := flow.Context{Tenant: p.Tenant, Team: p.Team, To: o.To, ReplyTo: o.ReplyTo, Now: o.Now().Unix(), Vars: vars}
	if contact != nil && !contact.LastInboundAt.IsZero() {
		c.LastMessageTime = contact.LastInboundAt.Unix()
	}
	replies, err := set.Start(name, node, c)
	if err != nil {
		return nil, cmdutil.FlagErrorf("%s: %v", flag, err)
	}
	if len(replies) == 0 {
		return nil, cmdutil.FlagErrorf("%s: the flow produced no message to send", flag)
	}
	msgs := make([]*whatsapp.Message, len(replies))
	for i := range replies {
		m := replies[i].Message
		m.To = o.To
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("flow %s node %s: %w", replies[i].Flow, replies[i].Node, err)
		}
		msgs[i] = &m
	}
	return msgs, nil
}

// mediaRef reads a --image etc. value: a URL is a link, anything else a media id.
func mediaRef(v string) *whatsapp.Media {
	if strings.Contains(v, "://") {
		return &whatsapp.Media{Link: v}
	}
	return &whatsapp.Media{ID: v}
}

func (o *SendOptions) template() (*whatsapp.Template, error) {
	t := &whatsapp.Template{Name: o.Template, Language: whatsapp.Language{Code: o.Lang}}
	if o.Lang == "" {
		return nil, cmdutil.FlagErrorf("--lang is empty: give the template's language code, e.g. --lang en_US")
	}
	if o.HeaderImage != "" {
		t.Components = append(t.Components, whatsapp.Component{Type: "header",
			Parameters: []whatsapp.Parameter{{Type: "image", Image: mediaRef(o.HeaderImage)}}})
	}
	var body []whatsapp.Parameter
	for _, kv := range o.Params {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, cmdutil.FlagErrorf("--param %q: use name=value, e.g. --param first_name=Ada", kv)
		}
		body = append(body, whatsapp.Parameter{Type: "text", ParameterName: k, Text: v})
	}
	for i, v := range o.BodyParams {
		if v == "" {
			return nil, cmdutil.FlagErrorf("--body-param number %d is empty: the Cloud API rejects empty parameters", i+1)
		}
		body = append(body, whatsapp.Parameter{Type: "text", Text: v})
	}
	if len(body) > 0 {
		t.Components = append(t.Components, whatsapp.Component{Type: "body", Parameters: body})
	}
	seen := map[int]bool{}
	for _, kv := range o.ButtonPayload {
		k, v, ok := strings.Cut(kv, "=")
		i, err := strconv.Atoi(k)
		if !ok || err != nil || i < 0 || i > 9 || v == "" {
			return nil, cmdutil.FlagErrorf("--button-payload %q: use index=payload with an index 0 to 9, e.g. --button-payload 0=track", kv)
		}
		if seen[i] {
			return nil, cmdutil.FlagErrorf("--button-payload: index %d given twice", i)
		}
		seen[i] = true
		idx := strconv.Itoa(i)
		t.Components = append(t.Components, whatsapp.Component{Type: "button", SubType: "quick_reply", Index: &idx,
			Parameters: []whatsapp.Parameter{{Type: "payload", Payload: v}}})
	}
	return t, nil
}

func parseLatLng(s string) (float64, float64, error) {
	a, b, ok := strings.Cut(s, ",")
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lng, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, cmdutil.FlagErrorf("--location %q: use LAT,LNG in decimal degrees, e.g. --location 52.52,13.405", s)
	}
	if !(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180) { // also refuses NaN
		return 0, 0, cmdutil.FlagErrorf("--location %q: latitude must be -90..90 and longitude -180..180", s)
	}
	return lat, lng, nil
}

func parseButtons(s string) ([]whatsapp.ReplyButton, error) {
	var out []whatsapp.ReplyButton
	for i, part := range strings.Split(s, ",") {
		id, title, ok := strings.Cut(part, ":")
		id, title = strings.TrimSpace(id), strings.TrimSpace(title)
		if !ok || id == "" || title == "" {
			return nil, cmdutil.FlagErrorf("--buttons: button %d %q: use id:Title, e.g. --buttons 'yes:Yes,no:No'", i+1, part)
		}
		out = append(out, whatsapp.ReplyButton{Type: "reply", Reply: whatsapp.Reply{ID: id, Title: title}})
	}
	if len(out) > whatsapp.MaxButtons {
		return nil, cmdutil.FlagErrorf("--buttons: %d buttons, the Cloud API allows at most %d", len(out), whatsapp.MaxButtons)
	}
	return out, nil
}

// upload sends --file to the media endpoint (not in a dry run) and returns the media to send.
func (o *SendOptions) upload(ctx context.Context, client *whatsapp.Client) (*whatsapp.Media, string, error) {
	f, err := os.Open(o.File)
	if err != nil {
		return nil, "", cmdutil.FlagErrorf("--file: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, "", cmdutil.FlagErrorf("--file %s: not a regular file", o.File)
	}
	mt := mime.TypeByExtension(strings.ToLower(filepath.Ext(o.File)))
	if mt == "" {
		head := make([]byte, 512)
		n, _ := io.ReadFull(f, head)
		mt = http.DetectContentType(head[:n])
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, "", fmt.Errorf("read %s: %w", o.File, err)
		}
	}
	mt, _, _ = strings.Cut(mt, ";")
	kind := kindOf(mt)
	if max := whatsapp.MaxMediaSize[kind]; st.Size() > max {
		return nil, "", cmdutil.FlagErrorf("--file %s: %d bytes, the Cloud API allows %d for %s", o.File, st.Size(), max, kind)
	}
	if o.Caption != "" && kind != whatsapp.TypeImage && kind != whatsapp.TypeVideo && kind != whatsapp.TypeDocument {
		return nil, "", cmdutil.FlagErrorf("--caption: %s is sent as %s, which has no caption", o.File, kind)
	}
	md := &whatsapp.Media{Caption: o.Caption}
	if kind == whatsapp.TypeDocument {
		md.Filename = o.Filename
		if md.Filename == "" {
			md.Filename = filepath.Base(o.File)
		}
	} else if o.Filename != "" {
		return nil, "", cmdutil.FlagErrorf("--filename: %s is sent as %s, only documents have a file name", o.File, kind)
	}
	if client == nil { // dry run
		md.ID = dryRunMediaID
		return md, kind, nil
	}
	id, err := client.UploadMedia(ctx, o.File, mt, f)
	if err != nil {
		return nil, "", &SendError{Err: err}
	}
	md.ID = id
	return md, kind, nil
}

// kindOf picks the message kind for a MIME type.
func kindOf(mt string) string {
	switch {
	case mt == "image/webp":
		return whatsapp.TypeSticker
	case strings.HasPrefix(mt, "image/"):
		return whatsapp.TypeImage
	case strings.HasPrefix(mt, "video/"):
		return whatsapp.TypeVideo
	case strings.HasPrefix(mt, "audio/"):
		return whatsapp.TypeAudio
	}
	return whatsapp.TypeDocument
}
