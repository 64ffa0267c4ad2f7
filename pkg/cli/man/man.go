// Package man is the hidden `gtc man DIR`: it writes a man page per command, generated from
// the command tree itself, for the release archives.
package man

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/greentic/gtc/pkg/build"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
)

// ManOptions are gtc man's inputs.
type ManOptions struct {
	IO        *cmdutil.IOStreams
	Now       func() time.Time
	LookupEnv func(string) (string, bool)

	Dir  string
	Root *cobra.Command
}

// NewCmdMan builds the hidden `gtc man DIR`.
func NewCmdMan(f *cmdutil.Factory, runF func(*ManOptions) error) *cobra.Command {
	opts := &ManOptions{IO: f.IO, Now: f.Now, LookupEnv: f.LookupEnv}
	cmd := &cobra.Command{
		Use:    "man DIR",
		Short:  "Write gtc's man pages (section 1) into DIR",
		Hidden: true,
		Long: `Write one man page per command (gtc.1, gtc-serve.1, ...) into DIR, creating it.
The date in the pages is $SOURCE_DATE_EPOCH when set, so release builds are reproducible.`,
		Args: func(cmd *cobra.Command, args []string) error {
			return cmdutil.ExactArgs(1, "the folder to write the man pages into")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			opts.Root = cmd.Root()
			if runF != nil {
				return runF(opts)
			}
			return manRun(opts)
		},
	}
	return cmd
}

func manRun(o *ManOptions) error {
	date := time.Now()
	if o.Now != nil {
		date = o.Now()
	}
	if o.LookupEnv != nil {
		if v, ok := o.LookupEnv("SOURCE_DATE_EPOCH"); ok && v != "" {
			sec, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return cmdutil.FlagErrorf("invalid SOURCE_DATE_EPOCH %q: give seconds since 1970", v)
			}
			date = time.Unix(sec, 0)
		}
	}
	date = date.UTC()
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("write man pages: %w", err)
	}
	disableAutoGenTag(o.Root)
	header := &doc.GenManHeader{Title: "GTC", Section: "1", Date: &date,
		Source: "gtc " + build.Get().Version, Manual: "gtc manual"}
	if err := doc.GenManTree(o.Root, header, o.Dir); err != nil {
		return fmt.Errorf("write man pages: %w", err)
	}
	return nil
}

// disableAutoGenTag drops cobra's "Auto generated ... on DATE" footer from every page.
func disableAutoGenTag(c *cobra.Command) {
	c.DisableAutoGenTag = true
	for _, sub := range c.Commands() {
		disableAutoGenTag(sub)
	}
}
