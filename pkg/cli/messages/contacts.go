package messages

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/store"
)

// ContactsOptions are gtc contacts' inputs.
type ContactsOptions struct {
	IO        *cmdutil.IOStreams
	LookupEnv func(string) (string, bool)
	Now       func() time.Time
	Context   context.Context

	BundleDir    string
	Tenant, Team string
	OptedOut     bool
	Limit        int
	JSON         bool
}

// NewCmdContacts builds `gtc contacts`.
func NewCmdContacts(f *cmdutil.Factory, runF func(*ContactsOptions) error) *cobra.Command {
	opts := &ContactsOptions{IO: f.IO, LookupEnv: f.LookupEnv, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "contacts BUNDLE",
		Short: "Show each contact's 24-hour window, opt-out state and conversation",
		Long: `Show the contacts the state database knows (most recently updated first), each one
identity with its other names (ALSO: numbers as typed, the wa_id, business-scoped user ids): when they
last wrote, whether their 24-hour customer-service window is open and until when, whether they
opted out, their marketing preference and whether Meta said they cannot be reached; and their
conversation: the flow and node a question waits at, since when and until when, how the last
conversation ended (completed, invalid, timeout, interrupted, replaced, flow_edited, opted_out,
…) and the user.* values the flows keep. Read-only; works while gtc serve runs.`,
		Example: `  gtc contacts ./my-bundle
  gtc contacts ./my-bundle --opted-out --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			return cmdutil.ExactArgs(1, "a bundle directory")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.BundleDir = args[0]
			opts.Context = cmd.Context()
			if opts.Limit <= 0 {
				return cmdutil.FlagErrorf("invalid --limit %d: give a positive number", opts.Limit)
			}
			if runF != nil {
				return runF(opts)
			}
			return contactsRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Tenant, "tenant", "", "tenant, when the bundle has several providers")
	cmd.Flags().StringVar(&opts.Team, "team", "", "team, when the bundle has several providers")
	cmd.Flags().BoolVar(&opts.OptedOut, "opted-out", false, "only contacts that opted out")
	cmd.Flags().IntVar(&opts.Limit, "limit", 100, "at most this many contacts")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Contact is one contact as gtc contacts prints it.
type Contact struct {
	Contact string `json:"contact"`
	// Aliases are every name of the contact (numbers as typed, the wa_id, business-scoped user
	// ids, previous ones), its own included: a message or a send under any of them is this
	// contact's.
	Aliases         []store.Alias `json:"aliases,omitempty"`
	Name            string        `json:"name,omitempty"`
	LastInboundAt   *time.Time    `json:"last_inbound_at,omitempty"`
	WindowOpen      bool          `json:"window_open"`
	WindowClosesAt  *time.Time    `json:"window_closes_at,omitempty"`
	OptedOut        bool          `json:"opted_out"`
	OptedOutAt      *time.Time    `json:"opted_out_at,omitempty"`
	Marketing       string        `json:"marketing,omitempty"`
	UnreachableCode int           `json:"unreachable_code,omitempty"`
	// Conversation is the question the contact's conversation waits on (absent: none).
	Conversation *Conversation `json:"conversation,omitempty"`
	// LastConversation is how the last conversation ended (absent: none has).
	LastConversation *ConversationEnd `json:"last_conversation,omitempty"`
	// User is the contact's user.* values.
	User map[string]any `json:"user,omitempty"`
}

// Conversation is a waiting conversation as gtc contacts prints it.
type Conversation struct {
	Flow         string     `json:"flow"`
	Node         string     `json:"node"`
	State        string     `json:"state"` // waiting (an answer), calling (a call's result), handoff (a person)
	WaitingSince *time.Time `json:"waiting_since,omitempty"`
	Deadline     *time.Time `json:"deadline,omitempty"`
}

// ConversationEnd is how a contact's last conversation ended.
type ConversationEnd struct {
	Flow   string     `json:"flow"`
	Node   string     `json:"node,omitempty"`
	Reason string     `json:"reason"`
	Detail string     `json:"detail,omitempty"`
	At     *time.Time `json:"at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func contactsRun(o *ContactsOptions) error {
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
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
	cs, err := st.Contacts(ctx, store.ContactFilter{Tenant: p.Tenant, Team: p.Team, OptedOut: o.OptedOut, Limit: o.Limit})
	if err != nil {
		return err
	}
	convs, err := st.Conversations(ctx, p.Tenant, p.Team)
	if err != nil {
		return err
	}
	aliases, err := st.Aliases(ctx, p.Tenant, p.Team)
	if err != nil {
		return err
	}
	byKey := make(map[string]*store.Conversation, len(convs))
	for _, c := range convs {
		byKey[c.ContactKey] = c
	}
	out := []Contact{}
	for _, c := range cs {
		item := Contact{Contact: Phone(c.Key), Name: c.Name, LastInboundAt: timePtr(c.LastInboundAt), WindowOpen: c.WindowOpen(now),
			OptedOut: c.OptedOut, Marketing: c.Marketing, UnreachableCode: c.UnreachableCode}
		for _, a := range aliases[store.ContactRef{Tenant: c.Tenant, Team: c.Team, Key: c.Key}] {
			item.Aliases = append(item.Aliases, store.Alias{Value: Phone(a.Value), Kind: a.Kind})
		}
		if c.OptedOut {
			item.OptedOutAt = timePtr(c.OptedOutAt)
		}
		if item.WindowOpen {
			item.WindowClosesAt = timePtr(c.LastInboundAt.Add(24 * time.Hour))
		}
		if cv := byKey[c.Key]; cv != nil {
			if cv.State != nil {
				item.Conversation = &Conversation{Flow: cv.Flow, Node: cv.Node, State: cv.Status,
					WaitingSince: timePtr(cv.WaitingSince), Deadline: timePtr(cv.Deadline)}
			}
			if e := cv.LastEnd; e.Reason != "" {
				item.LastConversation = &ConversationEnd{Flow: e.Flow, Node: e.Node, Reason: e.Reason, Detail: e.Detail, At: timePtr(e.At)}
			}
			if len(cv.User) > 0 {
				item.User = cv.User
			}
		}
		out = append(out, item)
	}
	if o.JSON {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(out) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "no contacts match")
		return nil
	}
	tw := tabwriter.NewWriter(o.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTACT\tNAME\tLAST MESSAGE\tWINDOW\tOPTED OUT\tMARKETING\tUNREACHABLE\tCONVERSATION\tUSER\tALSO")
	for _, c := range out {
		window := "closed"
		if c.WindowOpen {
			window = "open until " + stamp(*c.WindowClosesAt)
		} else if c.LastInboundAt == nil {
			window = "never opened"
		}
		opted := "no"
		if c.OptedOut {
			opted = "yes"
			if c.OptedOutAt != nil {
				opted += " since " + stamp(*c.OptedOutAt)
			}
		}
		unreach := "-"
		if c.UnreachableCode != 0 {
			unreach = fmt.Sprint(c.UnreachableCode)
		}
		last := "-"
		if c.LastInboundAt != nil {
			last = stamp(*c.LastInboundAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Contact, dash(c.Name), last, window, opted, dash(c.Marketing), unreach,
			conversationText(c), userText(c.User), aliasText(c.Contact, c.Aliases))
	}
	return tw.Flush()
}

// conversationText is the CONVERSATION column: "check_status/ask_order waiting since T until
// T", or the last end ("ended: flow_edited (node ask_order is gone)"), or "-".
func conversationText(c Contact) string {
	if cv := c.Conversation; cv != nil {
		t := cv.Flow + "/" + cv.Node + " " + cv.State
		if cv.WaitingSince != nil {
			t += " since " + stamp(*cv.WaitingSince)
		}
		if cv.Deadline != nil {
			t += " until " + stamp(*cv.Deadline)
		}
		return t
	}
	if e := c.LastConversation; e != nil {
		t := "ended " + e.Reason + " (" + e.Flow
		if e.Node != "" {
			t += "/" + e.Node
		}
		if e.Detail != "" {
			t += ": " + e.Detail
		}
		return t + ")"
	}
	return "-"
}

// userText is the USER column: name=value pairs in name order, values as JSON.
func userText(u map[string]any) string {
	if len(u) == 0 {
		return "-"
	}
	names := make([]string, 0, len(u))
	for k := range u {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		v, _ := json.Marshal(u[k])
		parts[i] = k + "=" + string(v)
	}
	return strings.Join(parts, " ")
}

// aliasText is the ALSO column: the contact's other names with their kind
// ("+525512345678 (phone) US.1349… (bsuid)"), or "-".
func aliasText(contact string, as []store.Alias) string {
	var parts []string
	for _, a := range as {
		if a.Value != contact {
			parts = append(parts, a.Value+" ("+a.Kind+")")
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}
