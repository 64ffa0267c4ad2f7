// Package templates is `gtc templates list`: the message templates of the bundle's
// WhatsApp Business Account, with their status and parameters.
package templates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
)

// ListOptions are gtc templates list's inputs.
type ListOptions struct {
	IO        *cmdutil.IOStreams
	LookupEnv func(string) (string, bool)
	Context   context.Context

	BundleDir    string
	Tenant, Team string
	JSON         bool

	// HTTPClient replaces the network in tests.
	HTTPClient *http.Client
}

// NewCmdTemplates builds `gtc templates` with its list subcommand.
func NewCmdTemplates(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "templates",
		Short: "Work with the business account's message templates",
	}
	cmd.AddCommand(NewCmdList(f, runF))
	return cmd
}

// NewCmdList builds `gtc templates list`.
func NewCmdList(f *cmdutil.Factory, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{IO: f.IO, LookupEnv: f.LookupEnv}
	cmd := &cobra.Command{
		Use:   "list BUNDLE",
		Short: "List the templates of the WhatsApp Business Account (name, language, status, category, quality, parameters)",
		Long: `List the templates of the WhatsApp Business Account as Graph reports them now: name,
language, status (with Meta's reason when it is rejected or paused), category, quality
score (GREEN, YELLOW, RED, UNKNOWN; "-" when Meta has not rated it) and parameters.
gtc send refuses a template whose status is not APPROVED before sending it.`,
		Example: `  gtc templates list ./my-bundle
  gtc templates list ./my-bundle --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			return cmdutil.ExactArgs(1, "a bundle directory")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.BundleDir = args[0]
			opts.Context = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Tenant, "tenant", "", "tenant, when the bundle has several providers")
	cmd.Flags().StringVar(&opts.Team, "team", "", "team, when the bundle has several providers")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the templates as JSON")
	return cmd
}

type item struct {
	Name       string   `json:"name"`
	Language   string   `json:"language"`
	Status     string   `json:"status"`
	Category   string   `json:"category"`
	Quality    string   `json:"quality,omitempty"`         // quality_score, when Graph gives one
	Reason     string   `json:"rejected_reason,omitempty"` // why it is rejected or paused
	Parameters []string `json:"parameters"`
}

func listRun(o *ListOptions) error {
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	_, p, err := cmdutil.LoadProvider(o.BundleDir, o.Tenant, o.Team, o.LookupEnv)
	if err != nil {
		return err
	}
	if p.BusinessAccountID == "" {
		return cmdutil.FlagErrorf("%s/%s has no business_account_id: add business_account_id (the WhatsApp Business Account id, WhatsApp Manager → Account tools) to the answers and re-run gtc setup", p.Tenant, p.Team)
	}
	client, err := cmdutil.ClientFor(p, o.LookupEnv, o.HTTPClient, nil)
	if err != nil {
		return err
	}
	ts, err := client.ListTemplates(ctx)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return cmdutil.ErrCancelled
		}
		return &cmdutil.SendError{Err: err}
	}
	items := make([]item, len(ts))
	for i := range ts {
		items[i] = item{Name: ts[i].Name, Language: ts[i].Language, Status: ts[i].Status, Category: ts[i].Category,
			Quality: ts[i].Quality(), Parameters: ts[i].Parameters()}
		if r := ts[i].RejectedReason; r != "NONE" {
			items[i].Reason = r
		}
		if items[i].Parameters == nil {
			items[i].Parameters = []string{}
		}
	}
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].Name != items[j].Name {
			return items[i].Name < items[j].Name
		}
		return items[i].Language < items[j].Language
	})
	if o.JSON {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(items)
	}
	if len(items) == 0 {
		fmt.Fprintf(o.IO.ErrOut, "no templates in business account %s: create one in WhatsApp Manager → Message templates\n", p.BusinessAccountID)
		return nil
	}
	tw := tabwriter.NewWriter(o.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tLANGUAGE\tSTATUS\tCATEGORY\tQUALITY\tPARAMETERS")
	for _, it := range items {
		params := strings.Join(it.Parameters, " ")
		if params == "" {
			params = "-"
		}
		status := it.Status
		if it.Reason != "" {
			status += " (" + it.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.Name, it.Language, status, it.Category, dash(it.Quality), params)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
