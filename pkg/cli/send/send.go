// Package send is `gtc send`: one message of any kind (or a flow's replies) to one recipient
// through the Cloud API, with the bundle's provider, pacing, retries and the opt-out and
// 24-hour-window rules the server recorded.
package send

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
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
	// when no message flag is given (the Factory's TUI composer).
	Composer cmdutil.Composer
	// HTTPClient and Clock replace the network and time in tests.
	HTTPClient *http.Client
	Clock      whatsapp.Clock
	// Retry is the retry policy of each send (default: rate limits retried, 5 attempts, 2 min).
	Retry whatsapp.RetryPolicy

	changed func(string) bool
}

// messageFlags are the flags that each choose a kind of message.
var messageFlags = []string{"text", "template", "image", "document", "audio", "video", "sticker", "file", "location", "buttons", "flow", "node"}

// NewCmdSend builds `gtc send`.
func NewCmdSend(f *cmdutil.Factory, runF func(*SendOptions) error) *cobra.Command {
	opts := &SendOptions{IO: f.IO, Now: f.Now, LookupEnv: f.LookupEnv, Media: map[string]string{}, Composer: f.Composer}
	media := map[string]*string{}
	cmd := &cobra.Command{
		Use:   "send BUNDLE --to NUMBER (--text T | --template NAME | --image URL|ID | ... | --flow NAME)",
		Short: "Send a message of any kind, or a flow's replies, to one WhatsApp user",
		Long: `Send one message through the Cloud API with the bundle's provider.

The recipient is an international number (+4915123456789 or 004915123456789); gtc sends it
in E.164 form with the "+". A number without country code is refused, never guessed.

When the bundle has state (written by gtc serve, or $GTC_DATABASE_URL), opted-out contacts are
refused, free-form messages outside the 24-hour window are refused (send a template
instead), and every message sent is recorded there (origin send, with its wamid), so gtc
messages and gtc doctor show it and its status webhooks land on it. Without state nothing
is recorded and no database is created.

A template the business account lists as PAUSED, DISABLED, REJECTED or PENDING is refused
before sending, with Meta's reason. With marketing_messages: true in the answers, a
MARKETING template goes through Meta's Marketing Messages API.`,
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
	fl.StringVar(&opts.To, "to", "", "recipient number in international form, e.g. +4915123456789, or business-scoped user id (US.1349…)")
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
			if !slices.Contains(allowed, kind) {
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
				to, err := whatsapp.NormalizeRecipient(o.To)
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
		return cmdutil.FlagErrorf("--to is required: the recipient's number, e.g. --to +4915123456789, or business-scoped user id")
	}
	to, err := whatsapp.NormalizeRecipient(o.To)
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
