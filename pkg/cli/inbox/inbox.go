// Package inbox implements `gtc inbox`: the agents' terminal inbox over a bundle's state
// (the conversations handed off to a person), or their list as JSON without a terminal.
// The backend comes from the Factory (pkg/app); the screen is pkg/tui's. See docs/design.md.
package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/tui"
)

// DefaultAgent is the agent's name when neither --agent nor $USER gives one.
const DefaultAgent = "agent"

// maxAgent caps --agent: the name is recorded on every reply, note and release.
const maxAgent = 64

// InboxOptions are the inputs of `gtc inbox`.
type InboxOptions struct {
	IO       *cmdutil.IOStreams
	Factory  *cmdutil.Factory
	Ctx      context.Context
	Dir      string
	Database string
	Tenant   string
	Team     string
	Queue    string
	Agent    string
	JSON     bool
}

// NewCmdInbox builds `gtc inbox`. runF replaces the run function in tests.
func NewCmdInbox(f *cmdutil.Factory, runF func(*InboxOptions) error) *cobra.Command {
	opts := &InboxOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "inbox DIR",
		Short: "Answer the conversations the bot handed to a person (terminal inbox)",
		Long: `Open the agents' inbox over the bundle's state: the conversations a handoff node (or the
API) handed to a person, longest waiting first, with their queue, note, unread messages and
the time left in the 24-hour window, refreshed live.

Open one to read its history in both directions, reply (free-form text inside the window,
an approved template outside it; opt-outs are enforced and the reply goes through delivery
like any other), add an internal note, or release the contact back to the bot at a node of
your choice. The keys are shown on the help line.

gtc inbox reads and writes the same state as gtc serve: the bundle's SQLite file while
serve runs, or the PostgreSQL database given with --database or $GTC_DATABASE_URL.

Without a terminal, --json prints the open conversations and exits.`,
		Example: `  gtc inbox ./my-bundle
  gtc inbox ./my-bundle --queue support --agent dora
  gtc inbox ./my-bundle --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.FlagErrorf("expected the bundle folder (usage: %s)", cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			opts.Ctx = cmd.Context()
			if !opts.JSON && !opts.IO.CanPrompt() {
				return cmdutil.FlagErrorf("--json is required when not running interactively: gtc inbox %s --json lists the open conversations", opts.Dir)
			}
			if opts.Agent == "" {
				opts.Agent = defaultAgent(f.LookupEnv)
			}
			if err := checkAgent(opts.Agent); err != nil {
				return cmdutil.FlagErrorf("--agent %q: %v", opts.Agent, err)
			}
			if runF != nil {
				return runF(opts)
			}
			return inboxRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Database, "database", "", "SQLite file or postgres:// URL of gtc serve's state (default: $GTC_DATABASE_URL, else the bundle's)")
	fl.StringVar(&opts.Tenant, "tenant", "", "tenant of the provider (when the bundle has several)")
	fl.StringVar(&opts.Team, "team", "", "team of the provider (when the bundle has several)")
	fl.StringVar(&opts.Queue, "queue", "", "show only this queue's conversations")
	fl.StringVar(&opts.Agent, "agent", "", "your name, recorded on replies, notes and releases (default: $USER)")
	fl.BoolVar(&opts.JSON, "json", false, "print the open conversations as JSON and exit")
	cmdutil.RegisterBundleCompletions(cmd)
	_ = cmd.RegisterFlagCompletionFunc("database", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("queue", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("agent", cobra.NoFileCompletions)
	return cmd
}

// defaultAgent is $USER (or $LOGNAME), else DefaultAgent.
func defaultAgent(lookupEnv func(string) (string, bool)) string {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	for _, k := range []string{"USER", "LOGNAME"} {
		if v, ok := lookupEnv(k); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return DefaultAgent
}

// checkAgent refuses a name that would not read well where it is recorded.
func checkAgent(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("give your name, e.g. --agent dora")
	case len([]rune(name)) > maxAgent:
		return fmt.Errorf("longer than %d characters: give a short name", maxAgent)
	case strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }):
		return errors.New("contains control characters: give a plain name")
	}
	return nil
}

func inboxRun(opts *InboxOptions) error {
	ctx := opts.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	f := opts.Factory
	if f.Inbox == nil {
		return errors.New("gtc inbox is not available in this build")
	}
	if st, err := os.Stat(opts.Dir); err != nil || !st.IsDir() {
		return cmdutil.FlagErrorf("%s: no such bundle folder (create one with gtc setup)", opts.Dir)
	}
	db := opts.Database
	if db == "" && f.LookupEnv != nil {
		db, _ = f.LookupEnv(bundle.EnvDatabaseURL)
	}
	backend, closer, err := f.Inbox(ctx, cmdutil.InboxRequest{Dir: opts.Dir, Database: db, Tenant: opts.Tenant, Team: opts.Team, Agent: opts.Agent})
	if err != nil {
		return fmt.Errorf("open the inbox: %w", err)
	}
	if closer != nil {
		defer closer.Close()
	}
	now := f.Now
	if now == nil {
		now = time.Now
	}
	if opts.JSON {
		convs, err := backend.List(ctx, tui.InboxFilter{Queue: opts.Queue})
		if err != nil {
			return fmt.Errorf("list conversations: %w", err)
		}
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(tui.InboxJSON(convs, now()))
	}
	err = tui.RunInbox(ctx, tui.Terminal{In: opts.IO.In, ErrOut: opts.IO.ErrOut, NoColor: opts.IO.NoColor}, backend,
		tui.InboxOptions{Queue: opts.Queue, Now: now, Explain: tui.ExplainSendError})
	if errors.Is(err, tui.ErrCancelled) {
		return cmdutil.ErrCancelled
	}
	return err
}
