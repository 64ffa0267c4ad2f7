// Package messages is `gtc messages` and `gtc contacts`: what the state database recorded
// about outbound messages (latest status, error class), inbound events, and each contact's
// 24-hour window and opt-out state. Both only read, and work while gtc serve runs.
package messages

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
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/tui"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// States are the values --status accepts.
var States = []string{store.OutPending, store.OutRetrying, store.OutSending, store.OutAmbiguous, store.OutSent, "delivered", "read", "played", store.OutFailed, store.OutRefused}

// MessagesOptions are gtc messages' inputs.
type MessagesOptions struct {
	IO        *cmdutil.IOStreams
	LookupEnv func(string) (string, bool)
	Now       func() time.Time
	Context   context.Context

	BundleDir    string
	Tenant, Team string
	To           string
	Status       string
	Since        string
	Limit        int
	JSON         bool
}

// NewCmdMessages builds `gtc messages`.
func NewCmdMessages(f *cmdutil.Factory, runF func(*MessagesOptions) error) *cobra.Command {
	opts := &MessagesOptions{IO: f.IO, LookupEnv: f.LookupEnv, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "messages BUNDLE",
		Short: "Show sent messages with their latest status and error class, and received events",
		Long: `Show what the state database recorded: outbound messages (newest first) with their
latest status (pending, retrying, sending, ambiguous, sent, delivered, read, played, failed, refused) and error
class, then the inbound events (messages, statuses, errors). Read-only; works while gtc serve
runs.`,
		Example: `  gtc messages ./my-bundle
  gtc messages ./my-bundle --to +4915123456789 --since 1h
  gtc messages ./my-bundle --status failed --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			return cmdutil.ExactArgs(1, "a bundle directory")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.BundleDir = args[0]
			opts.Context = cmd.Context()
			if opts.Status != "" && !slices.Contains(States, opts.Status) {
				return cmdutil.FlagErrorf("invalid --status %q: use one of %s", opts.Status, strings.Join(States, ", "))
			}
			if opts.Since != "" {
				if _, err := ParseSince(opts.Since); err != nil {
					return cmdutil.FlagErrorf("invalid --since %q: %v", opts.Since, err)
				}
			}
			if opts.To != "" {
				if _, err := ParsePhone(opts.To); err != nil {
					return cmdutil.FlagErrorf("invalid --to %q: %v", opts.To, err)
				}
			}
			if opts.Limit <= 0 {
				return cmdutil.FlagErrorf("invalid --limit %d: give a positive number", opts.Limit)
			}
			if runF != nil {
				return runF(opts)
			}
			return messagesRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Tenant, "tenant", "", "tenant, when the bundle has several providers")
	cmd.Flags().StringVar(&opts.Team, "team", "", "team, when the bundle has several providers")
	cmd.Flags().StringVar(&opts.To, "to", "", "only this contact, by any of its numbers or its business-scoped user id (+4915123456789, US.1349…)")
	cmd.Flags().StringVar(&opts.Status, "status", "", "only outbound messages in this state: "+strings.Join(States, ", "))
	cmd.Flags().StringVar(&opts.Since, "since", "", `only what happened in this last period, like "30m", "1h" or "7d"`)
	cmd.Flags().IntVar(&opts.Limit, "limit", 100, "at most this many outbound messages and inbound events")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// ParseSince reads a period: a Go duration ("90m", "1h30m") or a number of days ("7d").
func ParseSince(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("use a positive number of days like 7d, or a duration like 1h")
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("use a positive duration like 30m or 1h, or days like 7d")
	}
	return d, nil
}

// Outbound is one outbound message as gtc messages prints it.
type Outbound struct {
	ID           int64     `json:"id"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	To           string    `json:"to"`
	Origin       string    `json:"origin"`
	Flow         string    `json:"flow,omitempty"`
	Node         string    `json:"node,omitempty"`
	Type         string    `json:"type"`
	Status       string    `json:"status"`
	MessageID    string    `json:"message_id,omitempty"`
	ErrorClass   string    `json:"error_class,omitempty"`
	ErrorCode    int       `json:"error_code,omitempty"`
	ErrorMessage string    `json:"error_message,omitempty"`
	Attempts     int       `json:"attempts"`
	// Pricing is what the message's status webhooks said Meta bills for it.
	Pricing *Pricing `json:"pricing,omitempty"`
}

// Pricing is a message's pricing as its status webhooks carried it.
type Pricing struct {
	Billable     bool   `json:"billable"`
	PricingModel string `json:"pricing_model,omitempty"`
	Category     string `json:"category,omitempty"`
	Type         string `json:"type,omitempty"`
	// ConversationID and ConversationOrigin are the conversation object's (per-conversation
	// pricing).
	ConversationID     string `json:"conversation_id,omitempty"`
	ConversationOrigin string `json:"conversation_origin,omitempty"`
}

// Inbound is one inbound event as gtc messages prints it.
type Inbound struct {
	Seq        int64     `json:"seq"`
	ReceivedAt time.Time `json:"received_at"`
	Kind       string    `json:"kind"`
	Type       string    `json:"type,omitempty"`
	From       string    `json:"from,omitempty"`
	MessageID  string    `json:"message_id,omitempty"`
	State      string    `json:"state"`
	Text       string    `json:"text,omitempty"`
	// For a status event: the delivery status Meta reported (sent, delivered, read, failed, …)
	// and the id of the outbound message it is about.
	Status          string `json:"delivery_status,omitempty"`
	StatusMessageID string `json:"status_message_id,omitempty"`
	// ErrorCode and ErrorTitle are a failed status's first error.
	ErrorCode  int    `json:"error_code,omitempty"`
	ErrorTitle string `json:"error_title,omitempty"`
}

// Log is gtc messages' --json output.
type Log struct {
	Outbound []Outbound `json:"outbound"`
	Inbound  []Inbound  `json:"inbound"`
}

func messagesRun(o *MessagesOptions) error {
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	b, p, err := cmdutil.LoadProvider(o.BundleDir, o.Tenant, o.Team, o.LookupEnv)
	if err != nil {
		return err
	}
	st, err := cmdutil.OpenState(ctx, b)
	if err != nil {
		return err
	}
	defer st.Close()
	f := store.LogFilter{Tenant: p.Tenant, Team: p.Team, Limit: o.Limit}
	if o.To != "" {
		to, _ := ParsePhone(o.To)
		// Any alias shows the identity's messages (a typed number, the wa_id, the BSUID).
		c, err := delivery.ResolveContact(ctx, st, p.Tenant, p.Team, to)
		if err != nil {
			return err
		}
		f.ContactKey = c.Key
	}
	if o.Since != "" {
		d, _ := ParseSince(o.Since)
		f.Since = o.now().Add(-d)
	}
	if o.Status != "" {
		f.States = []string{o.Status}
	}
	outs, err := st.OutboundLog(ctx, f)
	if err != nil {
		return err
	}
	log := Log{Outbound: []Outbound{}, Inbound: []Inbound{}}
	for _, m := range outs {
		out := Outbound{ID: m.ID, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
			To: Phone(m.Recipient), Origin: m.Origin, Flow: m.Flow, Node: m.Node, Type: m.MessageType, Status: m.State,
			MessageID: m.WAMID, ErrorClass: m.ErrorClass, ErrorCode: m.ErrorCode, ErrorMessage: m.ErrorMessage,
			Attempts: m.Attempts}
		if p := m.Pricing; p != nil {
			out.Pricing = &Pricing{Billable: p.Billable, PricingModel: p.PricingModel, Category: p.Category, Type: p.Type,
				ConversationID: p.ConversationID, ConversationOrigin: p.ConversationOrigin}
		}
		log.Outbound = append(log.Outbound, out)
	}
	if o.Status == "" { // a status filter is about outbound messages only
		evs, err := st.InboundLog(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range evs {
			log.Inbound = append(log.Inbound, inbound(e))
		}
	}
	if o.JSON {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(log)
	}
	if len(log.Outbound) == 0 && len(log.Inbound) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "no messages match")
		return nil
	}
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	if len(log.Outbound) > 0 {
		fmt.Fprintln(tw, "SENT\tTO\tTYPE\tSTATUS\tCLASS\tORIGIN\tMESSAGE ID\tCATEGORY")
		for _, m := range log.Outbound {
			class := dash(m.ErrorClass)
			if m.ErrorCode != 0 {
				class = fmt.Sprintf("%s (%d)", class, m.ErrorCode)
			}
			origin := m.Origin
			if m.Flow != "" {
				origin += " " + m.Flow + "/" + m.Node
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", stamp(m.CreatedAt), m.To, m.Type, m.Status, class, origin, dash(m.MessageID), category(m.Pricing))
		}
	}
	if len(log.Inbound) > 0 {
		if len(log.Outbound) > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintln(tw, "RECEIVED\tFROM\tKIND\tTYPE\tSTATE\tTEXT")
		for _, e := range log.Inbound {
			typ, text := e.Type, e.Text
			if e.Kind == store.KindStatus {
				typ, text = e.Status, statusText(e)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", stamp(e.ReceivedAt), dash(e.From), e.Kind, dash(typ), e.State, dash(text))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = o.IO.Out.Write(colourStatus(table.Bytes(), len(log.Outbound), tui.NewStyles(o.IO.Out, o.IO.NoColor || !o.IO.OutTTY)))
	return err
}

// colourStatus colours the STATUS column of the outbound table (its first rows+1 lines) by
// status: delivered and read green, pending and retrying amber, failed and refused red. It
// colours after the table is laid out, so the colour codes do not shift the columns.
func colourStatus(table []byte, rows int, st *tui.Styles) []byte {
	if rows == 0 {
		return table
	}
	lines := strings.SplitAfter(string(table), "\n")
	at := strings.Index(lines[0], "STATUS")
	for i := 1; i <= rows && i < len(lines) && at >= 0; i++ {
		l := lines[i]
		if len(l) <= at {
			continue
		}
		end := at + strings.IndexByte(l[at:]+" ", ' ')
		lines[i] = l[:at] + st.Status(l[at:end], l[at:end]) + l[end:]
	}
	return []byte(strings.Join(lines, ""))
}

func (o *MessagesOptions) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// inbound turns a stored event into its printed form; the text comes from the recorded
// event, shortened.
func inbound(e *store.StoredEvent) Inbound {
	in := Inbound{Seq: e.Seq, ReceivedAt: e.ReceivedAt, Kind: e.Kind, Type: e.MessageType, From: Phone(e.ContactKey),
		MessageID: e.MessageID, State: e.State}
	var ev whatsapp.Event
	ok := json.Unmarshal(e.Raw, &ev) == nil
	if ok && ev.Message != nil {
		in.Text = shorten(ev.Message.Text, 60)
	}
	if e.Kind != store.KindStatus {
		return in
	}
	if ok && ev.Status != nil {
		in.Status, in.StatusMessageID = ev.Status.Status, ev.Status.ID
		if in.From == "" {
			in.From = Phone(ev.Status.RecipientID)
		}
		if len(ev.Status.Errors) > 0 {
			in.ErrorCode, in.ErrorTitle = ev.Status.Errors[0].Code, ev.Status.Errors[0].Title
		}
	}
	if in.Status == "" { // the dedupe key says it too: status:<wamid>:<status>
		k := strings.TrimPrefix(strings.TrimPrefix(e.DedupeKey, "standby:"), "status:")
		if i := strings.LastIndexAny(k, ":/"); i > 0 {
			in.StatusMessageID, in.Status = k[:i], k[i+1:]
		}
	}
	if in.StatusMessageID == "" {
		in.StatusMessageID = e.MessageID
	}
	return in
}

// statusText is a status row's TEXT: the message it is about, and a failure's error.
func statusText(e Inbound) string {
	if e.StatusMessageID == "" {
		return ""
	}
	t := "for " + e.StatusMessageID
	if e.ErrorCode != 0 {
		t += fmt.Sprintf(": error %d", e.ErrorCode)
		if e.ErrorTitle != "" {
			t += " " + shorten(e.ErrorTitle, 50)
		}
	}
	return t
}

// Phone shows a contact key or recipient as E.164 with "+" (the store keeps a number's
// digits, as Meta's wa_id); a BSUID or anything else that is not digits is shown as is.
func Phone(key string) string {
	if key == "" || strings.HasPrefix(key, "+") {
		return key
	}
	for _, r := range key {
		if r < '0' || r > '9' {
			return key
		}
	}
	return "+" + key
}

// ParsePhone reads a number as gtc messages and gtc contacts take it: E.164 with "+" (or
// 00), or the international digits alone as gtc and Meta print them (4915123456789, a
// wa_id). A national number (leading 0) is still refused.
func ParsePhone(s string) (string, error) {
	n, err := whatsapp.NormalizeRecipient(s)
	if err == nil {
		return n, nil
	}
	t := strings.TrimSpace(s)
	if t != "" && t[0] >= '1' && t[0] <= '9' && Phone(t) != t {
		if n, err2 := whatsapp.NormalizeE164("+" + t); err2 == nil {
			return n, nil
		}
	}
	return "", err
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// category is the CATEGORY column: the pricing category Meta reported, with "(free)" when
// the message is not billable; "-" before any status carried pricing.
func category(p *Pricing) string {
	switch {
	case p == nil:
		return "-"
	case p.Billable:
		return dash(p.Category)
	}
	return dash(p.Category) + " (free)"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
