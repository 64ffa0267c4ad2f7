package flow

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/problem"
)

// ValidateOptions are the inputs of `gtc flow validate`.
type ValidateOptions struct {
	IO    *cmdutil.IOStreams
	Paths []string
	JSON  bool
}

// NewCmdValidate builds `gtc flow validate`. runF replaces the run function in tests.
func NewCmdValidate(f *cmdutil.Factory, runF func(*ValidateOptions) error) *cobra.Command {
	opts := &ValidateOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Check .ygtc flow files",
		Long: `Check flow files (a folder stands for the .ygtc files directly inside it) as one set:
syntax, unknown keys, node references, reachability, loops, Cloud API limits, expressions and
ambiguous triggers. Prints every problem with file:line:col; exits 0 when there are only
warnings and 2 when there is at least one error.`,
		Example: `  gtc flow validate flows/on_button.ygtc
  gtc flow validate ./my-bundle/flows --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmdutil.FlagErrorf("expected at least one flow file or folder (usage: %s)", cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Paths = args
			if runF != nil {
				return runF(opts)
			}
			return validateRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON on stdout")
	return cmd
}

// ValidateResult is the --json output.
type ValidateResult struct {
	Files    []string          `json:"files"`
	Flows    []string          `json:"flows"`
	Valid    bool              `json:"valid"`
	Problems []problem.Problem `json:"problems"`
}

func validateRun(opts *ValidateOptions) error {
	files, err := expand(opts.Paths)
	if err != nil {
		return err
	}
	set, probs, err := flow.CheckFiles(files)
	if err != nil {
		return err
	}
	res := ValidateResult{Files: files, Flows: []string{}, Valid: !probs.HasErrors(), Problems: probs.All()}
	for _, f := range set.Flows {
		res.Flows = append(res.Flows, f.Name)
	}
	if res.Problems == nil {
		res.Problems = []problem.Problem{}
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
		if !res.Valid {
			return &cmdutil.ExitError{Code: cmdutil.ExitInvalid}
		}
		return nil
	}
	if err := probs.Err(); err != nil {
		return err
	}
	for _, w := range probs.Warnings() {
		fmt.Fprintln(opts.IO.ErrOut, w.String())
	}
	fmt.Fprintf(opts.IO.Out, "%d flow file(s) valid: %s\n", len(files), strings.Join(res.Flows, ", "))
	return nil
}

// expand turns folders into the .ygtc files directly inside them, in name order.
func expand(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, cmdutil.FlagErrorf("%s: no such file or folder", p)
		}
		if err != nil {
			return nil, fmt.Errorf("flow validate: %w", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		found, err := cmdutil.FlowFiles(p)
		if err != nil {
			return nil, fmt.Errorf("flow validate: %w", err)
		}
		if len(found) == 0 {
			return nil, cmdutil.FlagErrorf("%s has no %s files", p, flow.Ext)
		}
		out = append(out, found...)
	}
	return out, nil
}
