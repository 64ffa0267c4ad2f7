// Package validate implements `gtc validate`: check a bundle (settings, secrets file and every
// flow) or an answers.json without writing anything.
package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/problem"
)

// ValidateOptions are the inputs of `gtc validate`.
type ValidateOptions struct {
	IO        *cmdutil.IOStreams
	LookupEnv func(string) (string, bool)
	Target    string
	JSON      bool
}

// NewCmdValidate builds `gtc validate`. runF replaces the run function in tests.
func NewCmdValidate(f *cmdutil.Factory, runF func(*ValidateOptions) error) *cobra.Command {
	opts := &ValidateOptions{IO: f.IO, LookupEnv: f.LookupEnv}
	cmd := &cobra.Command{
		Use:   "validate DIR|answers.json",
		Short: "Check a bundle or an answers.json without writing anything",
		Long: `Check a bundle (bundle.yaml, provider settings, secrets.env and every flow) or an
answers.json. Prints every problem with its file, path, line and column; exits 0 when there
are only warnings and 2 when there is at least one error.`,
		Example: `  gtc validate ./my-bundle
  gtc validate answers.json --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.FlagErrorf("expected a bundle folder or an answers.json (usage: %s)", cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			if runF != nil {
				return runF(opts)
			}
			return validateRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON on stdout")
	return cmd
}

// Result is the --json output.
type Result struct {
	Target   string        `json:"target"`
	Kind     string        `json:"kind"` // "bundle" or "answers"
	Valid    bool          `json:"valid"`
	Problems []JSONProblem `json:"problems"`
}

// JSONProblem is a problem with its severity spelled out ("error" or "warning").
type JSONProblem struct {
	problem.Problem
	Severity string `json:"severity"`
}

func validateRun(opts *ValidateOptions) error {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	st, err := os.Stat(opts.Target)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return cmdutil.FlagErrorf("%s: no such file or folder: give a bundle folder or an answers.json", opts.Target)
		}
		return fmt.Errorf("validate: %w", err)
	}
	var probs *problem.List
	kind := "answers"
	summary := ""
	if st.IsDir() {
		kind = "bundle"
		probs, summary, err = checkBundle(opts)
	} else {
		probs, summary, err = checkAnswers(opts.Target)
	}
	if err != nil {
		return err
	}
	res := Result{Target: opts.Target, Kind: kind, Valid: !probs.HasErrors(), Problems: []JSONProblem{}}
	for _, p := range probs.All() {
		res.Problems = append(res.Problems, JSONProblem{Problem: p, Severity: p.Severity.String()})
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
		if !res.Valid {
			return &cmdutil.ExitError{Code: cmdutil.ExitInvalid} // the JSON says why
		}
		return nil
	}
	if err := probs.Err(); err != nil {
		return fmt.Errorf("%s is not valid: %w", opts.Target, err)
	}
	for _, w := range probs.Warnings() {
		fmt.Fprintln(opts.IO.ErrOut, w.String())
	}
	fmt.Fprintf(opts.IO.Out, "%s is valid: %s\n", opts.Target, summary)
	return nil
}

func checkAnswers(file string) (*problem.List, string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, "", fmt.Errorf("validate: %w", err)
	}
	a, probs := answers.Parse(file, data)
	summary := ""
	if a != nil {
		summary = fmt.Sprintf("%s form, tenant %s, team %s", a.Form, a.Tenant, a.Team)
	}
	return probs, summary, nil
}

func checkBundle(opts *ValidateOptions) (*problem.List, string, error) {
	var l problem.List
	if !bundle.IsBundle(opts.Target) {
		l.Errorf(opts.Target, "", 0, 0, "not a gtc bundle (no %s): create one with gtc setup --answers answers.json %s", bundle.ManifestFile, opts.Target)
		return &l, "", nil
	}
	b, err := bundle.Load(opts.Target, bundle.LoadOptions{LookupEnv: opts.LookupEnv, AllowMissingEnv: true})
	providers := 0
	if pe, ok := problem.As(err); ok {
		for _, p := range pe.Problems {
			l.Add(p)
		}
	} else if err != nil {
		return nil, "", err
	} else {
		providers = len(b.Providers)
		for _, w := range b.Warnings {
			l.Add(w)
		}
		// A secret given as ${NAME} must be set when gtc serve starts.
		for _, p := range b.Providers {
			for _, s := range []struct {
				field string
				ref   func() (string, bool)
			}{
				{answers.FieldAccessToken, p.AccessToken.Ref}, {answers.FieldVerifyToken, p.VerifyToken.Ref},
				{answers.FieldAppSecret, p.AppSecret.Ref}, {answers.FieldAPIKey, p.APIKey.Ref},
			} {
				name, isRef := s.ref()
				if !isRef {
					continue
				}
				if v, ok := opts.LookupEnv(name); !ok || v == "" {
					l.Warnf(filepath.Join(opts.Target, bundle.SecretsFile), name, 0, 0, "%s of %s/%s comes from the environment variable %s, which is not set: export it before gtc serve", s.field, p.Tenant, p.Team, name)
				}
			}
		}
	}
	// The flows bundle.Load checked: regular files inside the bundle only (a link to a file
	// outside it is refused, never read).
	var files []string
	if b != nil {
		files = b.FlowFiles()
	} else {
		var ferr error
		files, ferr = bundle.ListFlows(opts.Target)
		if pe, ok := problem.As(ferr); ok {
			seen := map[string]bool{}
			for _, p := range l.All() {
				seen[p.String()] = true
			}
			for _, p := range pe.Problems {
				if !seen[p.String()] {
					l.Add(p)
				}
			}
		} else if ferr != nil {
			return nil, "", ferr
		}
	}
	fp, err := cmdutil.CheckFlows(files)
	if err != nil {
		return nil, "", err
	}
	l.Merge(fp)
	return &l, fmt.Sprintf("%d provider(s), %d flow(s)", providers, len(files)), nil
}
