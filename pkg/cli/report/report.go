// Package report is `gtc report`: what Meta bills, from the pricing its status webhooks
// carried, summarised by category and by UTC day for each number of a bundle, the figures
// an operator compares with Meta's invoice. It only reads the state database.
package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/store"
)

// DefaultSince is the period gtc report covers without --since.
const DefaultSince = "30d"

// ReportOptions are gtc report's inputs.
type ReportOptions struct {
	IO        *cmdutil.IOStreams
	LookupEnv func(string) (string, bool)
	Now       func() time.Time
	Context   context.Context

	BundleDir    string
	Tenant, Team string
	Since        string
	JSON         bool

	since time.Time // Since, read at validation
}

// NewCmdReport builds `gtc report`.
func NewCmdReport(f *cmdutil.Factory, runF func(*ReportOptions) error) *cobra.Command {
	opts := &ReportOptions{IO: f.IO, LookupEnv: f.LookupEnv, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "report BUNDLE",
		Short: "Summarise billable messages by category and by day, to compare with Meta's invoice",
		Long: `Summarise what Meta bills for the messages of a bundle, from the pricing its status
webhooks carried (billable, pricing model, category, type): for each number, the messages by
category (billable and free) and by UTC day. Each message counts once, on the day of its first
status with pricing, however many statuses carry it.

--since takes days ("30d", the default), hours ("12h") or a UTC date ("2026-11-01"). Meta's
invoice counts days in the business account's time zone: compare whole months, or expect the
days at the edges to differ by that offset. Read-only; works while gtc serve runs.`,
		Example: `  gtc report ./my-bundle
  gtc report ./my-bundle --since 2026-11-01
  gtc report ./my-bundle --since 7d --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			return cmdutil.ExactArgs(1, "a bundle directory")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.BundleDir = args[0]
			opts.Context = cmd.Context()
			if (opts.Tenant == "") != (opts.Team == "") {
				return cmdutil.FlagErrorf("--tenant and --team go together: give both")
			}
			since, err := ParseSince(opts.Since, opts.now())
			if err != nil {
				return cmdutil.FlagErrorf("invalid --since %q: %v", opts.Since, err)
			}
			opts.since = since
			if runF != nil {
				return runF(opts)
			}
			return reportRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Tenant, "tenant", "", "only this tenant (with --team)")
	cmd.Flags().StringVar(&opts.Team, "team", "", "only this team (with --tenant)")
	cmd.Flags().StringVar(&opts.Since, "since", DefaultSince, `the period: days like "30d", hours like "12h", or a UTC date like "2026-11-01"`)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	_ = cmd.RegisterFlagCompletionFunc("since", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"1d", "7d", "30d", "90d"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// ParseSince reads --since at now: "Nd" (N days back), "Nh" (N hours back) or a date
// YYYY-MM-DD (its UTC midnight), never in the future.
func ParseSince(s string, now time.Time) (time.Time, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v <= 0 || v > 100*366*24 {
				return time.Time{}, fmt.Errorf("use a positive number of days like 30d, hours like 12h, or a date like 2026-11-01")
			}
			return now.Add(-time.Duration(v) * u.unit), nil
		}
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("use days like 30d, hours like 12h, or a date like 2026-11-01")
	}
	if d.After(now) {
		return time.Time{}, fmt.Errorf("%s is in the future", s)
	}
	return d, nil
}

func (o *ReportOptions) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// Report is gtc report's --json output.
type Report struct {
	Bundle  string    `json:"bundle"`
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until"`
	Numbers []Number  `json:"numbers"`
}

// Number is the summary of one tenant/team.
type Number struct {
	Tenant        string     `json:"tenant"`
	Team          string     `json:"team"`
	PhoneNumberID string     `json:"phone_number_id"`
	Billable      int        `json:"billable"`
	Free          int        `json:"free"`
	ByCategory    []Category `json:"by_category"`
	ByDay         []Day      `json:"by_day"`
	// Counts are the rows behind the totals: messages by day, billable, model, category
	// and type.
	Counts []Count `json:"counts"`
}

// Category is how many messages of one category were billable and free.
type Category struct {
	Category string `json:"category"`
	Billable int    `json:"billable"`
	Free     int    `json:"free"`
}

// Day is one UTC day's messages.
type Day struct {
	Day        string     `json:"day"` // YYYY-MM-DD, UTC
	Billable   int        `json:"billable"`
	Free       int        `json:"free"`
	ByCategory []Category `json:"by_category"`
}

// Count is one row of store.PricingSummary.
type Count struct {
	Day          string `json:"day"`
	Billable     bool   `json:"billable"`
	PricingModel string `json:"pricing_model,omitempty"`
	Category     string `json:"category,omitempty"`
	Type         string `json:"type,omitempty"`
	Messages     int    `json:"messages"`
}

func reportRun(o *ReportOptions) error {
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	b, err := bundle.Load(o.BundleDir, bundle.LoadOptions{LookupEnv: o.LookupEnv, AllowMissingEnv: true})
	if err != nil {
		return err
	}
	var ps []*bundle.Provider
	for _, p := range b.Providers {
		if o.Tenant == "" && p.Enabled || p.Tenant == o.Tenant && p.Team == o.Team {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		if o.Tenant != "" {
			return cmdutil.FlagErrorf("%s/%s is not a tenant/team of %s: check --tenant and --team against bundle.yaml", o.Tenant, o.Team, o.BundleDir)
		}
		return cmdutil.FlagErrorf("%s has no enabled provider: set enabled: true in the answers and re-run gtc setup", o.BundleDir)
	}
	st, err := cmdutil.OpenState(ctx, b)
	if err != nil {
		return err
	}
	defer st.Close()
	now := o.now()
	rep := Report{Bundle: o.BundleDir, Since: o.since.UTC(), Until: now.UTC(), Numbers: []Number{}}
	for _, p := range ps {
		rows, err := st.PricingSummary(ctx, store.PricingFilter{Tenant: p.Tenant, Team: p.Team, Since: o.since, Until: now})
		if err != nil {
			return err
		}
		rep.Numbers = append(rep.Numbers, Summarise(p.Tenant, p.Team, p.PhoneNumberID, rows))
	}
	if keep := b.Retention().Messages; o.since.Before(now.Add(-keep)) {
		fmt.Fprintf(o.IO.ErrOut, "note: retention.messages is %s: pricing older than %s has been deleted\n",
			days(keep), now.Add(-keep).UTC().Format(time.DateOnly))
	}
	if o.JSON {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.write(o)
}

// Summarise totals the rows of one tenant/team by category and by day.
func Summarise(tenant, team, phoneNumberID string, rows []store.PricingCount) Number {
	n := Number{Tenant: tenant, Team: team, PhoneNumberID: phoneNumberID, ByCategory: []Category{}, ByDay: []Day{}, Counts: []Count{}}
	add := func(cs *[]Category, name string, billable bool, k int) {
		i := slices.IndexFunc(*cs, func(c Category) bool { return c.Category == name })
		if i < 0 {
			*cs = append(*cs, Category{Category: name})
			i = len(*cs) - 1
		}
		if billable {
			(*cs)[i].Billable += k
		} else {
			(*cs)[i].Free += k
		}
	}
	for _, r := range rows {
		day := r.Day.Format(time.DateOnly)
		cat := r.Category
		if cat == "" {
			cat = "unknown"
		}
		n.Counts = append(n.Counts, Count{Day: day, Billable: r.Billable, PricingModel: r.PricingModel, Category: r.Category, Type: r.Type, Messages: r.Messages})
		if len(n.ByDay) == 0 || n.ByDay[len(n.ByDay)-1].Day != day {
			n.ByDay = append(n.ByDay, Day{Day: day, ByCategory: []Category{}})
		}
		d := &n.ByDay[len(n.ByDay)-1]
		add(&d.ByCategory, cat, r.Billable, r.Messages)
		add(&n.ByCategory, cat, r.Billable, r.Messages)
		if r.Billable {
			n.Billable += r.Messages
			d.Billable += r.Messages
		} else {
			n.Free += r.Messages
			d.Free += r.Messages
		}
	}
	byName := func(a, b Category) int { return categoryOrder(a.Category) - categoryOrder(b.Category) }
	slices.SortStableFunc(n.ByCategory, byName)
	for i := range n.ByDay {
		slices.SortStableFunc(n.ByDay[i].ByCategory, byName)
	}
	return n
}

// categoryOrder puts Meta's categories in the order of its rate card, others after.
func categoryOrder(c string) int {
	order := []string{"marketing", "marketing_lite", "utility", "authentication", "authentication_international", "service", "referral_conversion"}
	if i := slices.Index(order, c); i >= 0 {
		return i
	}
	return len(order)
}

func (r *Report) write(o *ReportOptions) error {
	var out bytes.Buffer
	fmt.Fprintf(&out, "Messages Meta bills, %s to %s (UTC days)\n", r.Since.Format("2006-01-02 15:04"), r.Until.Format("2006-01-02 15:04"))
	for _, n := range r.Numbers {
		fmt.Fprintf(&out, "\n%s/%s (phone number %s): %d billable, %d free\n", n.Tenant, n.Team, n.PhoneNumberID, n.Billable, n.Free)
		if len(n.Counts) == 0 {
			fmt.Fprintln(&out, "  no status with pricing in this period")
			continue
		}
		tw := tabwriter.NewWriter(&out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CATEGORY\tBILLABLE\tFREE")
		for _, c := range n.ByCategory {
			fmt.Fprintf(tw, "  %s\t%d\t%d\n", c.Category, c.Billable, c.Free)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(&out)
		tw = tabwriter.NewWriter(&out, 0, 4, 2, ' ', 0)
		header := "  DAY\t"
		for _, c := range n.ByCategory {
			header += strings.ToUpper(c.Category) + "\t"
		}
		fmt.Fprintln(tw, header+"BILLABLE\tFREE")
		for _, d := range n.ByDay {
			line := "  " + d.Day + "\t"
			for _, c := range n.ByCategory {
				k := 0
				if i := slices.IndexFunc(d.ByCategory, func(x Category) bool { return x.Category == c.Category }); i >= 0 {
					k = d.ByCategory[i].Billable
				}
				line += strconv.Itoa(k) + "\t"
			}
			fmt.Fprintf(tw, "%s%d\t%d\n", line, d.Billable, d.Free)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(&out, "\nThe category columns of the days count billable messages; FREE counts the rest (free customer service, free entry points).")
	_, err := o.IO.Out.Write(trimRight(out.Bytes()))
	return err
}

// trimRight drops the spaces tabwriter leaves at the ends of lines.
func trimRight(b []byte) []byte {
	lines := bytes.Split(b, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimRight(l, " ")
	}
	return bytes.Join(lines, []byte("\n"))
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
