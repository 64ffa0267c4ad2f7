// Package cli builds gtc's root command and Factory, runs it, and turns its error into an
// exit code and a message in exactly one place (Main). Each command lives in a package of
// its own and imports no other command. See docs/design.md.
package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/build"
	"github.com/greentic/gtc/pkg/cli/chat"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/cli/doctor"
	flowcmd "github.com/greentic/gtc/pkg/cli/flow"
	"github.com/greentic/gtc/pkg/cli/man"
	"github.com/greentic/gtc/pkg/cli/messages"
	"github.com/greentic/gtc/pkg/cli/migrate"
	"github.com/greentic/gtc/pkg/cli/send"
	"github.com/greentic/gtc/pkg/cli/serve"
	"github.com/greentic/gtc/pkg/cli/setup"
	"github.com/greentic/gtc/pkg/cli/templates"
	"github.com/greentic/gtc/pkg/cli/validate"
	"github.com/greentic/gtc/pkg/cli/version"
	"github.com/greentic/gtc/pkg/problem"
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
	return handleError(io, err)
}

// newFactory is the Factory every command gets: cmdutil's, with the TUI composer.
func newFactory(io *cmdutil.IOStreams) *cmdutil.Factory {
	f := cmdutil.NewFactory(io)
	f.Composer = Compose
	return f
}

// handleError prints err once and picks the exit code.
func handleError(io *cmdutil.IOStreams, err error) int {
	if err == nil {
		return cmdutil.ExitOK
	}
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
		fmt.Fprintln(io.ErrOut, "gtc:", err)
		fmt.Fprintln(io.ErrOut, "Run 'gtc --help' for usage.")
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
	return root
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
	func(f *cmdutil.Factory) *cobra.Command { return doctor.NewCmdDoctor(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return migrate.NewCmdMigrate(f, nil) },
	func(f *cmdutil.Factory) *cobra.Command { return man.NewCmdMan(f, nil) },
}
