// Package cli builds gtc's root command and Factory, runs it, and turns its error into an
// exit code and a message in exactly one place (Main). Each command lives in a package of
// its own and imports no other command. See docs/design.md.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/app"
	"github.com/greentic/gtc/pkg/build"
	"github.com/greentic/gtc/pkg/cli/chat"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/cli/doctor"
	flowcmd "github.com/greentic/gtc/pkg/cli/flow"
	"github.com/greentic/gtc/pkg/cli/inbox"
	"github.com/greentic/gtc/pkg/cli/man"
	"github.com/greentic/gtc/pkg/cli/messages"
	"github.com/greentic/gtc/pkg/cli/migrate"
	"github.com/greentic/gtc/pkg/cli/report"
	"github.com/greentic/gtc/pkg/cli/send"
	"github.com/greentic/gtc/pkg/cli/serve"
	"github.com/greentic/gtc/pkg/cli/setup"
	"github.com/greentic/gtc/pkg/cli/templates"
	"github.com/greentic/gtc/pkg/cli/validate"
	"github.com/greentic/gtc/pkg/cli/version"
	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/tui"
)

// Main runs gtc with os.Args and returns the exit code.
func Main() int {
	return Run(os.Args[1:], cmdutil.System())
}

// Run runs gtc with args on io and returns the exit code. Tests call it directly.
func Run(args []string, io *cmdutil.IOStreams) int {
	f := newFactory(io)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRootCmd(f)
	root.SetArgs(args)
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	err := root.ExecuteContext(ctx)
	code := handleError(f.IO, err, f.LogFormat == "json")
	if j, ok := f.IO.ErrOut.(*cmdutil.JSONLineWriter); ok {
		_ = j.Flush()
	}
	return code
}

// newFactory is the Factory every command gets: cmdutil's, with the TUI composer.
func newFactory(io *cmdutil.IOStreams) *cmdutil.Factory {
	f := cmdutil.NewFactory(io)
	f.Composer = Compose
	f.Inbox = openInbox(f)
	return f
}

// openInbox opens gtc inbox's backend through pkg/app, the same service gtc serve runs.
func openInbox(f *cmdutil.Factory) func(context.Context, cmdutil.InboxRequest) (tui.InboxBackend, io.Closer, error) {
	return func(ctx context.Context, req cmdutil.InboxRequest) (tui.InboxBackend, io.Closer, error) {
		return app.OpenInbox(ctx, app.InboxRequest{Dir: req.Dir, Database: req.Database, Tenant: req.Tenant,
			Team: req.Team, Agent: req.Agent, LookupEnv: f.LookupEnv})
	}
}

// handleError prints err once and picks the exit code. With jsonLogs (--log-format json)
// the message is one JSON log record, so every line on stderr is JSON.
func handleError(io *cmdutil.IOStreams, err error, jsonLogs bool) int {
	if err == nil {
		return cmdutil.ExitOK
	}
	code := errorCode(err)
	if code == cmdutil.ExitOK {
		return code
	}
	if jsonLogs {
		var msg string
		switch {
		case errors.Is(err, cmdutil.ErrSilent):
			return code
		case errors.Is(err, cmdutil.ErrCancelled), errors.Is(err, context.Canceled):
			msg = "cancelled"
		default:
			var exitErr *cmdutil.ExitError
			if errors.As(err, &exitErr) && (exitErr.Err == nil || errors.Is(exitErr.Err, cmdutil.ErrSilent)) {
				return code
			}
			msg = err.Error()
		}
		cmdutil.NewLogger(io.ErrOut, "json", slog.LevelError).Error(strings.TrimSpace(msg), "exit_code", code)
		return code
	}
	return printError(io, err)
}

// errorCode is the exit code of err.
func errorCode(err error) int {
	var (
		flagErr *cmdutil.FlagError
		exitErr *cmdutil.ExitError
		coder   cmdutil.ExitCoder
	)
	switch {
	case errors.Is(err, cmdutil.ErrSilent):
		return cmdutil.ExitFailure
	case errors.Is(err, cmdutil.ErrCancelled), errors.Is(err, context.Canceled):
		return cmdutil.ExitCancelled
	case errors.As(err, &exitErr):
		return exitErr.Code
	}
	if _, ok := problem.As(err); ok {
		return cmdutil.ExitInvalid
	}
	if errors.As(err, &flagErr) || isCobraUsageError(err) {
		return cmdutil.ExitInvalid
	}
	if errors.As(err, &coder) {
		return coder.ExitCode()
	}
	return cmdutil.ExitFailure
}

// printError prints err for people and returns its exit code.
func printError(io *cmdutil.IOStreams, err error) int {
	var (
		flagErr *cmdutil.FlagError
		exitErr *cmdutil.ExitError
		coder   cmdutil.ExitCoder
	)
	switch {
	case errors.Is(err, cmdutil.ErrSilent):
		return cmdutil.ExitFailure
	case errors.Is(err, cmdutil.ErrCancelled), errors.Is(err, context.Canceled):
		fmt.Fprintln(io.ErrOut, "cancelled")
		return cmdutil.ExitCancelled
	case errors.As(err, &exitErr):
		if exitErr.Err != nil && !errors.Is(exitErr.Err, cmdutil.ErrSilent) {
			fmt.Fprintln(io.ErrOut, "gtc:", exitErr.Err)
		}
		return exitErr.Code
	}
	if _, ok := problem.As(err); ok {
		// The error's text holds the command's context and then every problem, one a line.
		fmt.Fprintln(io.ErrOut, "gtc:", err)
		return cmdutil.ExitInvalid
	}
	if errors.As(err, &flagErr) || isCobraUsageError(err) {
		msg := strings.TrimRight(err.Error(), "\n")
		fmt.Fprintln(io.ErrOut, "gtc:", msg)
		if !strings.Contains(msg, "--help'") { // unless the message names the help to read
			fmt.Fprintln(io.ErrOut, "Run 'gtc --help' for usage.")
		}
		return cmdutil.ExitInvalid
	}
	fmt.Fprintln(io.ErrOut, "gtc:", err)
	if errors.As(err, &coder) {
		return coder.ExitCode()
	}
	return cmdutil.ExitFailure
}

func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command ", "unknown flag: ", "unknown shorthand flag: ", "flag needs an argument: ", "invalid argument ", "required flag(s) ", "accepts ", "requires at least ", "if any flags in the group "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// NewRootCmd builds gtc's command tree.
func NewRootCmd(f *cmdutil.Factory) *cobra.Command {
	var logFormat, logLevel string
	root := &cobra.Command{
		Use:   "gtc",
		Short: "Set up, run and operate WhatsApp bots on Meta's WhatsApp Business Cloud API",
		Long: `gtc sets a WhatsApp bot up in one command, runs it safely and never loses a message.

  gtc setup --answers answers.json ./my-bundle   write a runnable bundle
  gtc serve ./my-bundle                          run the webhook server and flows
  gtc send  ./my-bundle --to +4915... --text hi  send any message kind
  gtc validate ./my-bundle                       check a bundle or answers.json`,
		Version:       build.Get().Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return cmdutil.FlagErrorf("invalid --log-level %q: use debug, info, warn or error", logLevel)
			}
			switch logFormat {
			case "text", "json":
			default:
				return cmdutil.FlagErrorf("invalid --log-format %q: use text or json", logFormat)
			}
			if logFormat == "json" && !f.IO.ErrTTY {
				// Every line on stderr is JSON: the commands' lines for people become records
				// too. (On a terminal the screens of the wizard, composer and chat draw there.)
				f.IO.ErrOut = cmdutil.JSONLines(f.IO.ErrOut, f.Now)
			}
			f.Logger = cmdutil.NewLogger(f.IO.ErrOut, logFormat, level)
			f.LogFormat = logFormat
			return nil
		},
	}
	root.SetVersionTemplate("gtc {{.Version}}\n")
	root.PersistentFlags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &cmdutil.FlagError{Err: fmt.Errorf("%w (see 'gtc %s --help')", err, cmd.Name())}
	})
	root.CompletionOptions.HiddenDefaultCmd = false

	for _, add := range commands {
		root.AddCommand(add(f))
	}
	root.InitDefaultCompletionCmd()
	unknownSubcommands(root)
	registerCompletions(root)
	return root
}

// registerCompletions adds shell completion of bundle folders, tenants, teams, flow and
// node names (read from the bundle being typed) and of enum flag values.
func registerCompletions(root *cobra.Command) {
	_ = root.RegisterFlagCompletionFunc("log-format", cmdutil.CompleteValues("text", "json"))
	_ = root.RegisterFlagCompletionFunc("log-level", cmdutil.CompleteValues("debug", "info", "warn", "error"))
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.HasSubCommands() {
			return
		}
		// Commands whose first argument is a bundle folder: send, doctor, serve, templates
		// list, messages, contacts, chat, migrate, setup, flow run, man.
		use := strings.Fields(c.Use)
		for _, a := range use[1:] {
			if strings.HasPrefix(a, "[") || strings.HasPrefix(a, "--") {
				continue
			}
			if strings.HasPrefix(a, "BUNDLE") || a == "DIR" {
				cmdutil.RegisterBundleCompletions(c)
			}
			break
		}
	}
	walk(root)
	if c, _, err := root.Find([]string{"messages"}); err == nil && c.Name() == "messages" {
		_ = c.RegisterFlagCompletionFunc("status", cmdutil.CompleteValues(messages.States...))
	}
}

// unknownSubcommands makes every command that only groups subcommands (gtc templates, gtc
// flow, gtc completion) refuse an unknown one as the root does: exit 2 with "unknown
// command … Did you mean this? …". Without arguments it prints its help.
func unknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		unknownSubcommands(sub)
	}
	if !c.HasParent() || !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
		}
		msg += fmt.Sprintf("\nRun '%s --help' for usage.", cmd.CommandPath())
		return &cmdutil.FlagError{Err: errors.New(msg)}
	}
}

// commands lists every subcommand constructor. Each command package adds itself here.
var commands = []func(*cmdutil.Factory) *cobra.Command{
	func(f *cmdutil.Factory) *cobra.Command { return version.NewCmdVersion(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return chat.NewCmdChat(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return setup.NewCmdSetup(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return validate.NewCmdValidate(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return flowcmd.NewCmdFlow(f) },
	func(f *cmdutil.Factory) *cobra.Command { return serve.NewCmdServe(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return send.NewCmdSend(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return templates.NewCmdTemplates(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return messages.NewCmdMessages(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return messages.NewCmdContacts(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return inbox.NewCmdInbox(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return doctor.NewCmdDoctor(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return report.NewCmdReport(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return migrate.NewCmdMigrate(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return man.NewCmdMan(f, nil) },
}
