// Package setup implements `gtc setup`: answers.json (or a wizard) → a runnable bundle.
package setup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/build"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/tui"
)

// SetupOptions are the inputs of `gtc setup`.
type SetupOptions struct {
	IO          *cmdutil.IOStreams
	Ctx         context.Context
	Dir         string
	AnswersFile string
	FlowsDir    string
	JSON        bool
	// Wizard asks for the answers on a terminal when --answers is not given, starting from
	// current (the bundle's settings on a re-run, or the defaults). Nil means no wizard.
	Wizard func(ctx context.Context, current *answers.Answers) (*answers.Answers, error)
	// StarterFlows are copied into a new bundle's flows/.
	StarterFlows fs.FS
	// SaveAnswers is where the wizard also writes the answers it collected.
	SaveAnswers string
	// SaveSecrets writes the secrets themselves into SaveAnswers (mode 0600) instead of
	// ${ENV} references.
	SaveSecrets bool
}

// terminalWizard is the interactive wizard of pkg/tui on the command's streams.
func terminalWizard(opts *SetupOptions) func(context.Context, *answers.Answers) (*answers.Answers, error) {
	run := tui.SetupWizard(tui.Terminal{In: opts.IO.In, ErrOut: opts.IO.ErrOut, NoColor: opts.IO.NoColor},
		tui.SetupWizardOptions{SaveAnswers: opts.SaveAnswers, SaveSecrets: opts.SaveSecrets, Target: opts.Dir})
	return func(ctx context.Context, current *answers.Answers) (*answers.Answers, error) {
		a, err := run(ctx, current)
		if errors.Is(err, tui.ErrCancelled) {
			return nil, cmdutil.ErrCancelled
		}
		return a, err
	}
}

// NewCmdSetup builds `gtc setup`. runF replaces the run function in tests.
func NewCmdSetup(f *cmdutil.Factory, runF func(*SetupOptions) error) *cobra.Command {
	opts := &SetupOptions{IO: f.IO, StarterFlows: StarterFlows}
	cmd := &cobra.Command{
		Use:   "setup [--answers FILE] DIR",
		Short: "Write a runnable bundle from answers.json, or from a wizard on a terminal",
		Long: `Write a runnable bundle into DIR from answers.json: bundle.yaml, the provider's settings,
secrets.env (mode 0600, the only file with secrets), starter flows and a README with the
webhook callback URL to paste into Meta.

Without --answers, on a terminal, a wizard asks for each setting, checks it as you type and
shows a summary before writing; --save-answers FILE also keeps the answers as an
answers.json (secrets as ${ENV} references, whose variables it lists at the end).

Re-running on the same DIR updates the settings and keeps flows/ and state/; a different
tenant/team adds a provider. A non-empty folder that is not a bundle is refused.`,
		Example: `  gtc setup --answers answers.json ./my-bundle
  gtc setup ./my-bundle                                # the wizard
  gtc setup --save-answers answers.json ./my-bundle    # the wizard, keeping the answers
  gtc setup --answers answers.json --flows ./my-flows ./my-bundle --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.FlagErrorf("expected the bundle folder (usage: %s)", cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			opts.Ctx = cmd.Context()
			if opts.AnswersFile == "" && !opts.IO.CanPrompt() {
				return cmdutil.FlagErrorf("--answers is required when not running interactively")
			}
			if opts.SaveAnswers != "" && opts.AnswersFile != "" {
				return cmdutil.FlagErrorf("--save-answers goes with the wizard, not with --answers")
			}
			if opts.SaveSecrets && opts.SaveAnswers == "" {
				return cmdutil.FlagErrorf("--save-secrets needs --save-answers FILE: it says what to write there")
			}
			if opts.AnswersFile == "" && opts.Wizard == nil {
				opts.Wizard = terminalWizard(opts)
			}
			if runF != nil {
				return runF(opts)
			}
			return setupRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.AnswersFile, "answers", "", "answers.json to read (flat or structured form)")
	cmd.Flags().StringVar(&opts.FlowsDir, "flows", "", "folder of your own .ygtc flows to add to the bundle")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the summary as JSON on stdout")
	cmd.Flags().StringVar(&opts.SaveAnswers, "save-answers", "", "with the wizard: also write the answers to this answers.json (secrets as ${ENV} references)")
	cmd.Flags().BoolVar(&opts.SaveSecrets, "save-secrets", false, "with --save-answers: write the secrets themselves (file mode 0600) instead of ${ENV} references")
	return cmd
}

// Summary is what setup did, as printed by --json. It never holds a secret.
type Summary struct {
	Dir             string            `json:"dir"`
	Created         bool              `json:"created"`
	AddedProvider   bool              `json:"added_provider"`
	Tenant          string            `json:"tenant"`
	Team            string            `json:"team"`
	Enabled         bool              `json:"enabled"`
	CallbackURL     string            `json:"callback_url"`
	VerifyToken     string            `json:"verify_token"`
	AppSecret       string            `json:"app_secret"`
	APIKeyGenerated bool              `json:"api_key_generated"`
	FlowsWritten    []string          `json:"flows_written"`
	FlowsKept       []string          `json:"flows_kept"`
	Warnings        []problem.Problem `json:"warnings"`
	// SavedAnswers is the wizard's --save-answers file, Export the environment variables its
	// ${NAME} references need before gtc setup --answers reads it.
	SavedAnswers string   `json:"saved_answers,omitempty"`
	Export       []string `json:"export,omitempty"`
	Next         string   `json:"next"`
	// NextCommands are the commands to run next, in the form that works here (go run
	// ./cmd/gtc when gtc is not installed).
	NextCommands []string `json:"next_commands"`
}

func setupRun(opts *SetupOptions) error {
	ctx := opts.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	var a *answers.Answers
	var warnings []problem.Problem
	var export []tui.EnvRef
	if opts.AnswersFile != "" {
		data, err := os.ReadFile(opts.AnswersFile)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return cmdutil.FlagErrorf("--answers %s: no such file", opts.AnswersFile)
			}
			return cmdutil.FlagErrorf("--answers %s: cannot read it (%v): give the path of an answers.json", opts.AnswersFile, errors.Unwrap(err))
		}
		parsed, probs := answers.Parse(opts.AnswersFile, data)
		if err := probs.Err(); err != nil {
			return err
		}
		a, warnings = parsed, probs.Warnings()
	} else if opts.Wizard == nil {
		return cmdutil.FlagErrorf("--answers is required when not running interactively")
	} else {
		current := currentAnswers(opts.Dir)
		got, err := opts.Wizard(ctx, current)
		if err != nil {
			return err
		}
		var probs problem.List
		for _, p := range answers.Check(got) {
			if p.Warning() {
				probs.Warnf("", answers.ProviderID+"."+p.Field(), 0, 0, "%s", p.Message())
			} else {
				probs.Errorf("", answers.ProviderID+"."+p.Field(), 0, 0, "%s", p.Message())
			}
		}
		if err := probs.Err(); err != nil {
			return err
		}
		a, warnings = got, probs.Warnings()
		if opts.SaveAnswers != "" {
			export = tui.AnswersEnvRefs(tui.ValuesFromAnswers(got), opts.SaveSecrets)
		}
	}

	// Every flow is checked before anything is written.
	flows := map[string][]byte{}
	if opts.FlowsDir != "" {
		st, err := os.Stat(opts.FlowsDir)
		if err != nil || !st.IsDir() {
			return cmdutil.FlagErrorf("--flows %s: not a folder", opts.FlowsDir)
		}
		files, err := cmdutil.FlowFiles(opts.FlowsDir)
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return cmdutil.FlagErrorf("--flows %s: no %s files in it", opts.FlowsDir, bundle.FlowExt)
		}
		// The user's flows are checked together with the flows they will sit beside, so
		// names stay unique and triggers unambiguous across the bundle.
		beside, tmp, cleanup, err := besideFlows(opts, files)
		if err != nil {
			return err
		}
		defer cleanup()
		checked, err := cmdutil.CheckFlows(append(append([]string(nil), files...), beside...))
		if err != nil {
			return err
		}
		// Name starter flows by where they will be, not by the temporary copy.
		probs := &problem.List{}
		for _, p := range checked.All() {
			if tmp != "" && strings.HasPrefix(p.File, tmp) {
				p.File = filepath.Join(opts.Dir, bundle.FlowsDirName, filepath.Base(p.File)) + " (starter flow)"
			}
			probs.Add(p)
		}
		if err := probs.Err(); err != nil {
			return err
		}
		warnings = append(warnings, probs.Warnings()...)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("read flow: %w", err)
			}
			flows[filepath.Base(f)] = data
		}
	}

	res, err := bundle.Write(opts.Dir, a, bundle.WriteOptions{
		StarterFlows: opts.StarterFlows,
		Flows:        flows,
		GTCVersion:   build.Get().Version,
	})
	if err != nil {
		return err
	}
	warnings = append(warnings, res.Warnings...)
	gtc := cmdutil.CommandName()
	serve := gtc + " serve " + opts.Dir
	if u, err := url.Parse(a.APIBaseURL); err == nil && answers.IsLoopback(u.Hostname()) {
		// api_base_url is this machine: the Graph API double of gtc serve --fake-graph.
		serve = gtc + " serve --fake-graph " + opts.Dir
	}
	s := Summary{
		Dir: opts.Dir, Created: res.Created, AddedProvider: res.AddedProvider,
		Tenant: a.Tenant, Team: a.Team, Enabled: a.Enabled,
		CallbackURL: res.Provider.CallbackURL(), VerifyToken: a.VerifyToken.Hint(),
		AppSecret: a.AppSecret.Hint(), APIKeyGenerated: res.APIKeyGenerated,
		FlowsWritten: nonNil(res.FlowsWritten), FlowsKept: nonNil(res.FlowsKept),
		Warnings: nonNilP(warnings), Next: serve,
		NextCommands: []string{serve, gtc + " chat " + opts.Dir},
	}
	if opts.SaveAnswers != "" && opts.AnswersFile == "" {
		s.SavedAnswers = opts.SaveAnswers
		for _, r := range export {
			s.Export = append(s.Export, r.Name)
		}
	}
	for _, w := range warnings {
		fmt.Fprintln(opts.IO.ErrOut, w.String())
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	printSummary(opts.IO, &s)
	return nil
}

func printSummary(io *cmdutil.IOStreams, s *Summary) {
	w := io.ErrOut
	verb := "Updated"
	if s.Created {
		verb = "Created"
	}
	fmt.Fprintf(w, "%s bundle %s\n", verb, s.Dir)
	state := "enabled"
	if !s.Enabled {
		state = "disabled"
	}
	added := ""
	if s.AddedProvider && !s.Created {
		added = ", added"
	}
	fmt.Fprintf(w, "  tenant/team:   %s/%s (%s%s)\n", s.Tenant, s.Team, state, added)
	fmt.Fprintf(w, "  callback URL:  %s\n", s.CallbackURL)
	fmt.Fprintf(w, "  verify token:  %s (type the same one into Meta's webhook settings)\n", s.VerifyToken)
	fmt.Fprintf(w, "  app secret:    %s\n", s.AppSecret)
	fmt.Fprintf(w, "  flows:         %d written, %d kept\n", len(s.FlowsWritten), len(s.FlowsKept))
	if s.SavedAnswers != "" {
		if len(s.Export) == 0 {
			fmt.Fprintf(w, "Saved the answers to %s (with the secrets themselves: keep it private).\n", s.SavedAnswers)
		} else {
			fmt.Fprintf(w, "Saved the answers to %s; its secrets are ${NAME} references. Before\n", s.SavedAnswers)
			fmt.Fprintf(w, "gtc setup --answers %s, export:\n", s.SavedAnswers)
			for _, name := range s.Export {
				fmt.Fprintf(w, "  export %s=...\n", name)
			}
		}
	}
	fmt.Fprintln(w, "Next:")
	for _, c := range s.NextCommands {
		fmt.Fprintf(w, "  %s\n", c)
	}
}

// currentAnswers are the wizard's starting point: the bundle's only provider on a re-run,
// else the defaults.
func currentAnswers(dir string) *answers.Answers {
	a := answers.Default()
	// No environment: ${NAME} references stay references, so the wizard writes them back.
	noEnv := func(string) (string, bool) { return "", false }
	b, err := bundle.Load(dir, bundle.LoadOptions{LookupEnv: noEnv, AllowMissingEnv: true})
	if err != nil || len(b.Providers) != 1 {
		return a
	}
	p := b.Providers[0]
	a.Tenant, a.Team, a.Enabled = p.Tenant, p.Team, p.Enabled
	a.PublicBaseURL, a.PhoneNumberID, a.BusinessAccountID = p.PublicBaseURL, p.PhoneNumberID, p.BusinessAccountID
	a.APIVersion, a.APIBaseURL = p.APIVersion, p.APIBaseURL
	a.AccessToken, a.VerifyToken, a.AppSecret = p.AccessToken, p.VerifyToken, p.AppSecret
	a.RatePerSecond, a.RecipientInterval, a.RecipientBurst = p.RatePerSecond, p.RecipientInterval, p.RecipientBurst
	a.MessagingLimit, a.OptOutKeywords, a.OptInKeywords, a.MarkRead = p.MessagingLimit, p.OptOutKeywords, p.OptInKeywords, p.MarkRead
	return a
}

// besideFlows returns the flow files the new ones will join: the bundle's flows/ (except
// those the new ones replace by name), or the starter flows for a new bundle (copied into a
// temporary folder that cleanup removes).
func besideFlows(opts *SetupOptions, newFiles []string) (files []string, tmp string, cleanup func(), err error) {
	names := map[string]bool{}
	for _, f := range newFiles {
		names[filepath.Base(f)] = true
	}
	keep := func(files []string) []string {
		var out []string
		for _, f := range files {
			if !names[filepath.Base(f)] {
				out = append(out, f)
			}
		}
		return out
	}
	if bundle.IsBundle(opts.Dir) {
		files, err := cmdutil.FlowFiles(filepath.Join(opts.Dir, bundle.FlowsDirName))
		return keep(files), "", func() {}, err
	}
	if opts.StarterFlows == nil {
		return nil, "", func() {}, nil
	}
	tmp, err = os.MkdirTemp("", "gtc-starter-")
	if err != nil {
		return nil, "", func() {}, fmt.Errorf("check flows: %w", err)
	}
	cleanup = func() { _ = os.RemoveAll(tmp) }
	entries, err := fs.ReadDir(opts.StarterFlows, ".")
	if err != nil {
		cleanup()
		return nil, "", func() {}, fmt.Errorf("check flows: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != bundle.FlowExt {
			continue
		}
		data, err := fs.ReadFile(opts.StarterFlows, e.Name())
		if err != nil {
			cleanup()
			return nil, "", func() {}, fmt.Errorf("check flows: %w", err)
		}
		p := filepath.Join(tmp, e.Name())
		if err := os.WriteFile(p, data, 0o644); err != nil {
			cleanup()
			return nil, "", func() {}, fmt.Errorf("check flows: %w", err)
		}
		files = append(files, p)
	}
	return keep(files), tmp, cleanup, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilP(s []problem.Problem) []problem.Problem {
	if s == nil {
		return []problem.Problem{}
	}
	return s
}
