// Package chat implements `gtc chat`: talk to a bundle's flows locally as a WhatsApp
// customer, through the real webhook handler and delivery, with graphfake as the Graph API.
package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/tui"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// DefaultCustomer is the number gtc chat plays when --as is not given.
const DefaultCustomer = "+4915123456789"

// ChatOptions are the inputs of `gtc chat`.
type ChatOptions struct {
	IO         *cmdutil.IOStreams
	Factory    *cmdutil.Factory
	Ctx        context.Context
	Dir        string
	As         string
	Name       string
	ScriptFile string
	Tenant     string
	Team       string
	// FakeOrderAPI and FakeLLM start the in-process doubles (see SessionConfig).
	FakeOrderAPI, FakeLLM bool
	// KeepState is a SQLite file that keeps the session's state (see SessionConfig).
	KeepState string
}

// NewCmdChat builds `gtc chat`. runF replaces the run function in tests.
func NewCmdChat(f *cmdutil.Factory, runF func(*ChatOptions) error) *cobra.Command {
	opts := &ChatOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "chat [--as NUMBER] [--name NAME] [--script FILE] DIR",
		Short: "Talk to the bundle's flows locally as a WhatsApp customer (no Meta account)",
		Long: `Run the bundle's flows locally: gtc starts the real webhook handler and delivery on a
loopback port with an in-process Graph API double, and you play the customer. Every typed
line becomes a signed text webhook; reply buttons and list rows can be picked with ↑/↓ and
enter; templates, media and locations show as cards; status ticks follow.

Commands: /press TITLE (pick a button or row), /stop, /start, /wait 25h (move the clock on,
so the 24-hour window closes), /flow NAME (start a flow as gtc send --flow does),
/form {JSON} (submit the bot's latest WhatsApp Flow form with these fields), /quit.

With --script FILE, each line of FILE is one action and the transcript is printed.`,
		Example: `  gtc chat ./my-bundle
  gtc chat ./my-bundle --as +4915123456789 --name Alice
  gtc chat ./my-bundle --script conversation.txt
  gtc chat ./my-bundle --fake-order-api --fake-llm`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.FlagErrorf("expected the bundle folder (usage: %s)", cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			opts.Ctx = cmd.Context()
			if opts.ScriptFile == "" && !opts.IO.CanPrompt() {
				return cmdutil.FlagErrorf("--script is required when not running interactively")
			}
			if _, err := whatsapp.NormalizeE164(opts.As); err != nil {
				return cmdutil.FlagErrorf("--as %s: %v", opts.As, err)
			}
			if runF != nil {
				return runF(opts)
			}
			return chatRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.As, "as", DefaultCustomer, "the customer's phone number (E.164)")
	cmd.Flags().StringVar(&opts.Name, "name", "Customer", "the customer's profile name")
	cmd.Flags().StringVar(&opts.ScriptFile, "script", "", "run the actions in FILE (one a line) and print the transcript")
	cmd.Flags().StringVar(&opts.Tenant, "tenant", "", "tenant of the provider to chat with (when the bundle has several)")
	cmd.Flags().StringVar(&opts.Team, "team", "", "team of the provider to chat with (when the bundle has several)")
	cmd.Flags().BoolVar(&opts.FakeOrderAPI, "fake-order-api", false, "answer the flows' calls to order_api_url with a local order API double (orders 12345, 10001, 10002, 10003)")
	cmd.Flags().StringVar(&opts.KeepState, "keep-state", "", "keep the session's state in this SQLite FILE (read it with GTC_DATABASE_URL=FILE gtc messages DIR); by default it is thrown away")
	cmd.Flags().BoolVar(&opts.FakeLLM, "fake-llm", false, "answer ai nodes with a local LLM double instead of the bundle's llm")
	return cmd
}

func chatRun(opts *ChatOptions) error {
	ctx := opts.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	var actions []tui.Action
	if opts.ScriptFile != "" {
		data, err := os.ReadFile(opts.ScriptFile)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return cmdutil.FlagErrorf("--script %s: no such file", opts.ScriptFile)
			}
			return fmt.Errorf("read script: %w", err)
		}
		if actions, err = tui.ParseScript(opts.ScriptFile, data); err != nil {
			return err
		}
	}
	if _, err := os.Stat(opts.Dir); err != nil {
		return cmdutil.FlagErrorf("%s: no such bundle folder (create one with gtc setup)", opts.Dir)
	}
	sess, err := Start(ctx, SessionConfig{Dir: opts.Dir, Tenant: opts.Tenant, Team: opts.Team, From: opts.As, Name: opts.Name,
		LookupEnv: opts.Factory.LookupEnv, Now: opts.Factory.Now, FakeOrderAPI: opts.FakeOrderAPI, FakeLLM: opts.FakeLLM,
		KeepState: opts.KeepState})
	if err != nil {
		return err
	}
	defer sess.Close()
	if opts.ScriptFile != "" {
		b := &scriptBackend{Session: sess, ctx: ctx, w: opts.IO.Out}
		err := tui.RunChatScript(ctx, b, actions, tui.PlainStyles(), opts.IO.Out)
		b.flush()
		return err
	}
	m := tui.NewChat(ctx, tui.NewStyles(opts.IO.ErrOut, opts.IO.NoColor), tui.DefaultKeyMap(), sess)
	if opts.KeepState != "" {
		m.KeepState = true
		m.StateNote = fmt.Sprintf("state kept in %s: GTC_DATABASE_URL=%s gtc messages %s", opts.KeepState, opts.KeepState, opts.Dir)
	}
	_, err = tui.Run(ctx, m, opts.IO.In, opts.IO.ErrOut)
	return err
}

// scriptBackend adds to a script's transcript what the chat screen does not show yet: the
// question the conversation waits on after a turn ("· waiting for an answer: FLOW/NODE"), and
// the replies a /wait's timeouts brought. tui.RunChatScript prints a turn's lines after the
// backend call returns, so these are written at the start of the next call (or at the end).
type scriptBackend struct {
	*Session
	ctx     context.Context
	w       io.Writer
	note    string
	pending []tui.ChatMessage
}

// flush writes what the last turn left.
func (b *scriptBackend) flush() {
	for _, m := range b.pending {
		fmt.Fprintln(b.w, "bot: "+plainText(m.Message))
	}
	b.pending = nil
	if b.note != "" {
		fmt.Fprintln(b.w, "· waiting for an answer: "+b.note)
	}
	b.note = ""
}

func (b *scriptBackend) after(msgs []tui.ChatMessage, err error) ([]tui.ChatMessage, error) {
	b.note = b.Session.Waiting(b.ctx)
	return msgs, err
}

func (b *scriptBackend) SendText(ctx context.Context, text string) ([]tui.ChatMessage, error) {
	b.flush()
	return b.after(b.Session.SendText(ctx, text))
}

func (b *scriptBackend) Choose(ctx context.Context, c tui.ChatChoice) ([]tui.ChatMessage, error) {
	b.flush()
	return b.after(b.Session.Choose(ctx, c))
}

func (b *scriptBackend) StartFlow(ctx context.Context, name string) ([]tui.ChatMessage, error) {
	b.flush()
	return b.after(b.Session.StartFlow(ctx, name))
}

func (b *scriptBackend) SubmitForm(ctx context.Context, form map[string]any) ([]tui.ChatMessage, error) {
	b.flush()
	return b.after(b.Session.SubmitForm(ctx, form))
}

func (b *scriptBackend) Advance(d time.Duration) {
	b.flush()
	b.Session.Advance(d)
	b.pending = b.Session.Pending()
	b.note = b.Session.Waiting(b.ctx)
}

// plainText is a one-line form of a bot message for the transcript.
func plainText(m whatsapp.Message) string {
	switch {
	case m.Text != nil:
		return m.Text.Body
	case m.Interactive != nil && m.Interactive.Body != nil:
		return "[" + m.Interactive.Type + "] " + m.Interactive.Body.Text
	case m.Template != nil:
		return "[template " + m.Template.Name + "]"
	}
	return "[" + strings.TrimSpace(m.Type) + "]"
}
