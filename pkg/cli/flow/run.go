package flow

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/app"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// RunOptions are the inputs of `gtc flow run`.
type RunOptions struct {
	IO        *cmdutil.IOStreams
	LookupEnv func(string) (string, bool)
	Now       func() int64

	Dir    string
	Flow   string
	Node   string
	Tenant string
	Team   string

	Text     string
	Button   string
	List     string
	Payload  string
	Location string
	Media    string
	set      []string // the event flags given

	From            string
	ContactName     string
	Vars            []string
	LastMessageTime int64
	NowUnix         int64
	// ScriptFile runs a multi-turn conversation: one input a line (see runScript).
	ScriptFile string
}

// NewCmdRun builds `gtc flow run`. runF replaces the run function in tests.
func NewCmdRun(f *cmdutil.Factory, runF func(*RunOptions) error) *cobra.Command {
	opts := &RunOptions{IO: f.IO, LookupEnv: f.LookupEnv, Now: func() int64 { return f.Now().Unix() }}
	cmd := &cobra.Command{
		Use:   "run BUNDLE|FLOWS_DIR (--text T | --button ID | --list ID | --payload P | --location LAT,LNG | --media TYPE | --flow NAME)",
		Short: "Run flows offline and print the request bodies the bot would send",
		Long: `Feed one inbound message to a bundle's flows (or to a folder of .ygtc files) and print
each Cloud API request body the bot would send, one JSON object per line, on stdout. Nothing is
sent. With --flow and no message flag, the flow is started on purpose at its first node (or
--node), as gtc send --flow does. When no trigger matches, nothing is printed and stderr says
so (exit 0).

With --script FILE, a whole conversation runs offline, its state kept between the lines: each
line is a customer text, or /button ID, /list ID, /payload P, /location LAT,LNG, /media TYPE,
/flow NAME (start it on purpose), /wait DURATION (move the clock on; a question's timeout that
comes due fires). Lines starting with # are comments. Each input is printed as "> line", then
the request bodies, then "· waiting at FLOW/NODE …" while a question waits. Opt-out keywords
are gtc serve's (they never reach a flow) and are not simulated here.`,
		Example: `  gtc flow run ./my-bundle --text hi
  gtc flow run ./my-bundle --button status --from 4915112345678
  gtc flow run ./my-bundle --flow order_confirmation --var order_id=A-1001 --var customer_name=Ada
  gtc flow run ./my-bundle --flow follow_up --last-message-time 1700000000
  gtc flow run ./my-bundle --script conversation.txt`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.FlagErrorf("expected a bundle folder (usage: %s)", cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			for _, name := range []string{"text", "button", "list", "payload", "location", "media"} {
				if cmd.Flags().Changed(name) {
					opts.set = append(opts.set, name)
				}
			}
			if opts.ScriptFile != "" && (len(opts.set) > 0 || opts.Node != "") {
				return cmdutil.FlagErrorf("--script runs its own inputs: leave out the message flags and --node")
			}
			if len(opts.set) > 1 {
				return cmdutil.FlagErrorf("give one inbound message, not --%s", strings.Join(opts.set, " and --"))
			}
			if len(opts.set) == 0 && opts.Flow == "" && opts.ScriptFile == "" {
				return cmdutil.FlagErrorf("give an inbound message (--text, --button, --list, --payload, --location or --media) or --flow NAME to start a flow")
			}
			if opts.Node != "" && (opts.Flow == "" || len(opts.set) > 0) {
				return cmdutil.FlagErrorf("--node only applies when starting a flow with --flow and no message")
			}
			if !cmd.Flags().Changed("now") {
				opts.NowUnix = opts.Now()
			}
			if !cmd.Flags().Changed("last-message-time") {
				opts.LastMessageTime = opts.NowUnix
			}
			if runF != nil {
				return runF(opts)
			}
			return runRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Flow, "flow", "", "only this flow's triggers; without a message flag, start it")
	fl.StringVar(&opts.Node, "node", "", "with --flow: the node to start at (default: the first)")
	fl.StringVar(&opts.Tenant, "tenant", "", "tenant (default: the bundle's only provider)")
	fl.StringVar(&opts.Team, "team", "", "team (default: the bundle's only provider)")
	fl.StringVar(&opts.Text, "text", "", "an inbound text message")
	fl.StringVar(&opts.Button, "button", "", "an inbound reply-button press with this id")
	fl.StringVar(&opts.List, "list", "", "an inbound list reply with this row id")
	fl.StringVar(&opts.Payload, "payload", "", "an inbound template quick-reply with this payload")
	fl.StringVar(&opts.Location, "location", "", "an inbound location LAT,LNG")
	fl.StringVar(&opts.Media, "media", "", "an inbound media message of this type (image, video, audio, document, sticker)")
	fl.StringVar(&opts.From, "from", "15550001234", "the sender's number (wa_id), the replies' recipient")
	fl.StringVar(&opts.ContactName, "contact-name", "", "the sender's profile name (contact.name)")
	fl.StringArrayVar(&opts.Vars, "var", nil, "a variable k=v for vars and {{k}} (repeatable)")
	fl.Int64Var(&opts.LastMessageTime, "last-message-time", 0, "Unix time of the user's last message (default: now)")
	fl.Int64Var(&opts.NowUnix, "now", 0, "Unix time the run happens at (default: the clock)")
	fl.StringVar(&opts.ScriptFile, "script", "", "run a multi-turn conversation: one input a line (text, /button ID, /wait 30m, …)")
	return cmd
}

func runRun(opts *RunOptions) error {
	if opts.ScriptFile != "" {
		return runScript(opts)
	}
	ev, err := opts.event()
	if err != nil {
		return err
	}
	vars, err := parseVars(opts.Vars)
	if err != nil {
		return err
	}
	flowsDir, tenant, team, err := opts.resolve()
	if err != nil {
		return err
	}
	set, err := flow.LoadDir(flowsDir)
	if err != nil {
		return err
	}
	for _, w := range set.Warnings() {
		fmt.Fprintln(opts.IO.ErrOut, w.String())
	}
	if len(set.Flows) == 0 {
		return cmdutil.FlagErrorf("%s has no %s files", flowsDir, flow.Ext)
	}
	if opts.Flow != "" {
		if _, ok := set.Flow(opts.Flow); !ok {
			return cmdutil.FlagErrorf("--flow %s: no such flow in %s", opts.Flow, flowsDir)
		}
	}
	rc := delivery.RunContext{Tenant: tenant, Team: team, To: opts.From, Now: opts.NowUnix, LastMessageTime: opts.LastMessageTime, Vars: vars}
	var replies []delivery.Reply
	if ev == nil {
		replies, err = delivery.StartReplies(set, opts.Flow, opts.Node, rc)
		var none *delivery.NoRepliesError
		if errors.As(err, &none) {
			err = nil
		}
	} else {
		if opts.Flow != "" {
			set = set.Only(opts.Flow)
		}
		t := set.Match(*ev)
		if t == nil {
			fmt.Fprintf(opts.IO.ErrOut, "no trigger matches this %s message: nothing would be sent\n", ev.Type)
			return nil
		}
		fmt.Fprintf(opts.IO.ErrOut, "flow %s, trigger %s\n", t.FlowName(), t.Describe())
		replies, err = delivery.HandleInbound(set, *ev, rc)
	}
	if err != nil {
		if errors.Is(err, flow.ErrMissingVar) {
			return cmdutil.FlagErrorf("%v", err)
		}
		return err
	}
	enc := json.NewEncoder(opts.IO.Out)
	enc.SetEscapeHTML(false)
	for _, r := range replies {
		if err := enc.Encode(r.Message); err != nil {
			return err
		}
	}
	if len(replies) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "the flow ended without a reply: nothing would be sent")
	}
	return nil
}

// resolve finds the flows folder and the tenant/team of the run.
func (opts *RunOptions) resolve() (dir, tenant, team string, err error) {
	st, err := os.Stat(opts.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", "", cmdutil.FlagErrorf("%s: no such folder: give a bundle made by gtc setup", opts.Dir)
	}
	if err != nil {
		return "", "", "", fmt.Errorf("flow run: %w", err)
	}
	if !st.IsDir() {
		return "", "", "", cmdutil.FlagErrorf("%s is a file: give a bundle folder (use gtc flow validate for single files)", opts.Dir)
	}
	if !bundle.IsBundle(opts.Dir) {
		// A plain folder of flows: no provider, so no tenant or team unless given.
		return opts.Dir, opts.Tenant, opts.Team, nil
	}
	b, err := bundle.Load(opts.Dir, bundle.LoadOptions{LookupEnv: opts.LookupEnv, AllowMissingEnv: true})
	if err != nil {
		return "", "", "", err
	}
	p, err := app.SelectProvider(b, opts.Tenant, opts.Team)
	if err != nil {
		return "", "", "", &cmdutil.FlagError{Err: err}
	}
	return b.FlowsDir(), p.Tenant, p.Team, nil
}

// event builds the inbound message of the flags, or nil for an explicit start.
func (opts *RunOptions) event() (*flow.Event, error) {
	if len(opts.set) == 0 {
		return nil, nil
	}
	ev := &flow.Event{MessageID: "wamid.gtc-flow-run", From: opts.From, Timestamp: opts.NowUnix, ContactName: opts.ContactName}
	switch opts.set[0] {
	case "text":
		ev.Type, ev.Text = whatsapp.TypeText, opts.Text
	case "button":
		ev.Type = whatsapp.TypeInteractive
		ev.Button = &whatsapp.ButtonReply{Kind: "button_reply", ID: opts.Button, Title: opts.Button}
	case "list":
		ev.Type = whatsapp.TypeInteractive
		ev.List = &whatsapp.ListReply{ID: opts.List, Title: opts.List}
	case "payload":
		ev.Type = "button"
		ev.Button = &whatsapp.ButtonReply{Kind: "quick_reply", ID: opts.Payload, Title: opts.Payload}
	case "location":
		lat, lng, ok := strings.Cut(opts.Location, ",")
		la, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
		lo, err2 := strconv.ParseFloat(strings.TrimSpace(lng), 64)
		if !ok || err1 != nil || err2 != nil || la < -90 || la > 90 || lo < -180 || lo > 180 {
			return nil, cmdutil.FlagErrorf("--location %q: give LAT,LNG like 52.52,13.405", opts.Location)
		}
		ev.Type = whatsapp.TypeLocation
		ev.Location = &whatsapp.InboundLocation{Latitude: la, Longitude: lo}
	case "media":
		found := false
		for _, t := range whatsapp.MediaTypes {
			found = found || t == opts.Media
		}
		if !found {
			return nil, cmdutil.FlagErrorf("--media %q: use one of %s", opts.Media, strings.Join(whatsapp.MediaTypes, ", "))
		}
		ev.Type, ev.MediaType = opts.Media, opts.Media
	}
	return ev, nil
}

// parseVars turns k=v flags into vars; integers, decimals and true/false that print back
// the same become numbers and booleans, everything else stays text.
func parseVars(kvs []string) (map[string]any, error) {
	vars := map[string]any{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, cmdutil.FlagErrorf("--var %q: write name=value", kv)
		}
		vars[k] = typed(v)
	}
	return vars, nil
}

func typed(v string) any {
	if i, err := strconv.ParseInt(v, 10, 64); err == nil && strconv.FormatInt(i, 10) == v {
		return i
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && strconv.FormatFloat(f, 'f', -1, 64) == v {
		return f
	}
	if v == "true" || v == "false" {
		return v == "true"
	}
	return v
}
