// Package version implements `gtc version`.
package version

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/build"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
)

// Options are the flags of `gtc version`.
type Options struct {
	IO   *cmdutil.IOStreams
	JSON bool
}

// NewCmdVersion builds `gtc version`. runF replaces the run function in tests.
func NewCmdVersion(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print gtc's version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

func run(opts *Options) error {
	i := build.Get()
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(i)
	}
	_, err := fmt.Fprintf(opts.IO.Out, "gtc %s\ncommit: %s\nbuilt:  %s\ngo:     %s %s\n", i.Version, i.Commit, i.Date, i.GoVersion, i.Platform)
	return err
}
