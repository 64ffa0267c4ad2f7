// Package flow implements `gtc flow`: validate .ygtc files and run a bundle's flows offline,
// printing the request bodies the bot would send.
package flow

import (
	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
)

// NewCmdFlow builds `gtc flow` and its subcommands.
func NewCmdFlow(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flow <command>",
		Short: "Validate and try out .ygtc flows",
	}
	cmd.AddCommand(NewCmdValidate(f, nil), NewCmdRun(f, nil))
	return cmd
}
