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
	"time"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/store"
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
With a state database (gtc serve recorded Meta's template webhooks), each status says
since when Meta's webhook has said it, a reason or quality Graph does not give comes from
the webhooks, and templates only the webhooks know are listed too.
gtc send, flows and the send API refuse a template Meta paused, disabled or rejected.`,
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
	Name     string `json:"name"`
	Language string `json:"language"`
	Status   string `json:"status"`
	Category string `json:"category"`
	Quality  string `json:"quality,omitempty"`         // quality_score, when Graph gives one
	Reason   string `json:"rejected_reason,omitempty"` // why it is rejected or paused
	// StatusSince is when Meta's webhook said the status (recorded in the state).
	StatusSince string `json:"status_since,omitempty"`
	// Source is where the status comes from: graph (the list, now) or webhook (the state
	// only: Graph's list does not have the template).
	Source     string   `json:"source"`
	Parameters []string `json:"parameters"`
}

func listRun(o *ListOptions) error {
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	b, p, err := cmdutil.LoadProvider(o.BundleDir, o.Tenant, o.Team, o.LookupEnv)
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
	recorded, err := cmdutil.RecordedTemplates(ctx, b, p)
	if err != nil {
		fmt.Fprintf(o.IO.ErrOut, "warning: the templates' recorded status is not shown: %v\n", err)
	}
	now := time.Now()
	items := make([]item, 0, len(ts)+len(recorded))
	listed := map[string]bool{}
	for i := range ts {
		key := ts[i].Name + "\x00" + ts[i].Language
		listed[key] = true
		var rec *store.TemplateState
		for _, r := range recorded {
			if r.Name == ts[i].Name && r.Language == ts[i].Language {
				rec = r
			}
		}
		it := itemOf(delivery.TemplateSeen(rec, &ts[i], now))
		it.Parameters = ts[i].Parameters()
		if it.Parameters == nil {
			it.Parameters = []string{}
		}
		items = append(items, it)
	}
	for _, r := range recorded {
		if !listed[r.Name+"\x00"+r.Language] && r.Status != "" {
			items = append(items, itemOf(r))
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
		if it.StatusSince != "" {
			status += " since " + it.StatusSince
		}
		if it.Reason != "" {
			status += " (" + it.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.Name, it.Language, status, dash(it.Category), dash(it.Quality), params)
	}
	return tw.Flush()
}

// itemOf is a template as listed, from what gtc saw of it.
func itemOf(t *store.TemplateState) item {
	it := item{Name: t.Name, Language: t.Language, Status: t.Status, Category: t.Category, Quality: t.Quality,
		Reason: t.Reason, Source: t.StatusSource, Parameters: []string{}}
	if t.StatusSource == store.TemplateSourceWebhook && !t.StatusAt.IsZero() {
		it.StatusSince = t.StatusAt.UTC().Format(time.RFC3339)
	}
	if it.Source == "" {
		it.Source = store.TemplateSourceWebhook
	}
	return it
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
