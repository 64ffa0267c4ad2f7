package inbox

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/tui"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// now is the fixed clock of these tests.
var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// fakeBackend is an InboxBackend with two open conversations; it records List's filter.
type fakeBackend struct {
	convs   []tui.InboxConversation
	listErr error
	filters []tui.InboxFilter
}

func (b *fakeBackend) List(_ context.Context, f tui.InboxFilter) ([]tui.InboxConversation, error) {
	b.filters = append(b.filters, f)
	var out []tui.InboxConversation
	for _, c := range b.convs {
		if f.Queue == "" || c.Queue == f.Queue {
			out = append(out, c)
		}
	}
	return out, b.listErr
}
func (b *fakeBackend) History(context.Context, string, string, int) ([]tui.InboxMessage, error) {
	return nil, nil
}
func (b *fakeBackend) MarkRead(context.Context, string) error              { return nil }
func (b *fakeBackend) Reply(context.Context, string, tui.InboxReply) error { return nil }
func (b *fakeBackend) Templates(context.Context) ([]tui.Template, error)   { return nil, nil }
func (b *fakeBackend) Note(context.Context, string, string) error          { return nil }
func (b *fakeBackend) Release(context.Context, string, string) error       { return nil }
func (b *fakeBackend) Nodes() []string                                     { return []string{"after_human"} }

func newBackend() *fakeBackend {
	return &fakeBackend{convs: []tui.InboxConversation{
		{Contact: "+4915100000001", Name: "Ana <Ltd>", Queue: "support", Note: "order 42: shipped", Since: now.Add(-95 * time.Minute),
			Unread: 3, WindowClosesAt: now.Add(20 * time.Hour)},
		{Contact: "US.13491208655302741918", Queue: "billing", Since: now.Add(-26 * time.Hour),
			WindowClosesAt: now.Add(-2 * time.Hour), OptedOut: true},
		{Contact: "+4915100000003", Queue: "support", Since: now.Add(-time.Minute)},
	}}
}

type closer struct{ closed int }

func (c *closer) Close() error { c.closed++; return nil }

type env struct {
	f       *cmdutil.Factory
	out     *bytes.Buffer
	errOut  *bytes.Buffer
	backend *fakeBackend
	closer  *closer
	reqs    []cmdutil.InboxRequest
}

func newEnv(t *testing.T, tty bool, vars map[string]string) *env {
	t.Helper()
	e := &env{out: &bytes.Buffer{}, errOut: &bytes.Buffer{}, backend: newBackend(), closer: &closer{}}
	ios := &cmdutil.IOStreams{In: strings.NewReader(""), Out: e.out, ErrOut: e.errOut, InTTY: tty, ErrTTY: tty, NoColor: true}
	e.f = cmdutil.NewFactory(ios)
	e.f.Now = func() time.Time { return now }
	e.f.LookupEnv = func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	e.f.Inbox = func(_ context.Context, req cmdutil.InboxRequest) (tui.InboxBackend, io.Closer, error) {
		e.reqs = append(e.reqs, req)
		return e.backend, e.closer, nil
	}
	return e
}

// run runs `gtc inbox` with argv; with capture, run's options are returned instead of run.
func (e *env) run(argv []string, capture bool) (*InboxOptions, error) {
	var got *InboxOptions
	var runF func(*InboxOptions) error
	if capture {
		runF = func(o *InboxOptions) error { got = o; return nil }
	}
	cmd := NewCmdInbox(e.f, runF)
	cmd.SetArgs(argv)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	return got, cmd.Execute()
}

func TestNewCmdInbox(t *testing.T) {
	for _, tc := range []struct {
		name string
		argv []string
		tty  bool
		env  map[string]string
		want InboxOptions
		err  string
	}{
		{name: "every flag", argv: []string{"--database", "postgres://db/gtc", "--tenant", "acme", "--team", "support", "--queue", "billing",
			"--agent", "dora", "--json", "b"}, want: InboxOptions{Dir: "b", Database: "postgres://db/gtc", Tenant: "acme", Team: "support",
			Queue: "billing", Agent: "dora", JSON: true}},
		{name: "agent from USER", argv: []string{"b"}, tty: true, env: map[string]string{"USER": "eve"}, want: InboxOptions{Dir: "b", Agent: "eve"}},
		{name: "agent from LOGNAME", argv: []string{"b"}, tty: true, env: map[string]string{"USER": " ", "LOGNAME": "fay"},
			want: InboxOptions{Dir: "b", Agent: "fay"}},
		{name: "agent without USER", argv: []string{"--json", "b"}, want: InboxOptions{Dir: "b", Agent: DefaultAgent, JSON: true}},
		{name: "no terminal without --json", argv: []string{"b"}, err: "--json is required when not running interactively"},
		{name: "no bundle", argv: []string{"--json"}, err: "expected the bundle folder"},
		{name: "two bundles", argv: []string{"--json", "a", "b"}, err: "expected the bundle folder"},
		{name: "control character in agent", argv: []string{"--json", "--agent", "do\x1bra", "b"}, err: "control characters"},
		{name: "blank agent", argv: []string{"--json", "--agent", "  ", "b"}, err: "give your name"},
		{name: "long agent", argv: []string{"--json", "--agent", strings.Repeat("a", 65), "b"}, err: "longer than 64"},
		{name: "unknown flag", argv: []string{"--jsn", "b"}, err: "unknown flag: --jsn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.tty, tc.env)
			got, err := e.run(tc.argv, true)
			if tc.err != "" {
				var fe *cmdutil.FlagError
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if !strings.HasPrefix(tc.err, "unknown flag") && !errors.As(err, &fe) {
					t.Fatalf("err %T %v is not a usage error (exit 2)", err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.IO, got.Factory, got.Ctx = nil, nil, nil
			if *got != tc.want {
				t.Fatalf("opts %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func bundleDir(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../../testdata/answers/local.json")
	if err != nil {
		t.Fatal(err)
	}
	a, probs := answers.Parse("local.json", data)
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := bundle.Write(dir, a, bundle.WriteOptions{GTCVersion: "test"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (write it with go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestInboxJSON(t *testing.T) {
	dir := bundleDir(t)
	t.Run("every queue", func(t *testing.T) {
		e := newEnv(t, false, map[string]string{"USER": "eve"})
		if _, err := e.run([]string{"--json", dir}, false); err != nil {
			t.Fatal(err)
		}
		golden(t, "inbox_json.golden", e.out.Bytes())
		if len(e.reqs) != 1 || e.reqs[0] != (cmdutil.InboxRequest{Dir: dir, Agent: "eve"}) {
			t.Fatalf("requests %+v", e.reqs)
		}
		if e.closer.closed != 1 {
			t.Fatalf("the backend was closed %d times, want once", e.closer.closed)
		}
		if e.errOut.Len() != 0 {
			t.Fatalf("stderr: %s", e.errOut)
		}
	})
	t.Run("one queue, database from the environment", func(t *testing.T) {
		e := newEnv(t, false, map[string]string{bundle.EnvDatabaseURL: "postgres://db/gtc"})
		if _, err := e.run([]string{"--json", "--queue", "billing", "--tenant", "acme", "--team", "support", dir}, false); err != nil {
			t.Fatal(err)
		}
		if e.reqs[0] != (cmdutil.InboxRequest{Dir: dir, Database: "postgres://db/gtc", Tenant: "acme", Team: "support", Agent: DefaultAgent}) {
			t.Fatalf("request %+v", e.reqs[0])
		}
		if e.backend.filters[0].Queue != "billing" || !strings.Contains(e.out.String(), `"contact": "US.13491208655302741918"`) ||
			strings.Contains(e.out.String(), "+4915100000001") {
			t.Fatalf("filters %+v, out %s", e.backend.filters, e.out)
		}
	})
	t.Run("--database wins over the environment", func(t *testing.T) {
		e := newEnv(t, false, map[string]string{bundle.EnvDatabaseURL: "postgres://db/gtc"})
		if _, err := e.run([]string{"--json", "--database", "x.db", dir}, false); err != nil {
			t.Fatal(err)
		}
		if e.reqs[0].Database != "x.db" {
			t.Fatalf("request %+v", e.reqs[0])
		}
	})
	t.Run("empty inbox", func(t *testing.T) {
		e := newEnv(t, false, nil)
		e.backend.convs = nil
		if _, err := e.run([]string{"--json", dir}, false); err != nil {
			t.Fatal(err)
		}
		if e.out.String() != "[]\n" {
			t.Fatalf("out %q, want []", e.out)
		}
	})
	t.Run("list fails", func(t *testing.T) {
		e := newEnv(t, false, nil)
		e.backend.listErr = errors.New("database is locked")
		_, err := e.run([]string{"--json", dir}, false)
		if err == nil || err.Error() != "list conversations: database is locked" || e.closer.closed != 1 {
			t.Fatalf("err %v, closed %d", err, e.closer.closed)
		}
	})
	t.Run("not in this build", func(t *testing.T) {
		e := newEnv(t, false, nil)
		e.f.Inbox = nil
		_, err := e.run([]string{"--json", dir}, false)
		if err == nil || err.Error() != "gtc inbox is not available in this build" {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("open fails", func(t *testing.T) {
		e := newEnv(t, false, nil)
		e.f.Inbox = func(context.Context, cmdutil.InboxRequest) (tui.InboxBackend, io.Closer, error) {
			return nil, nil, errors.New("bundle b has two enabled providers: give --tenant and --team")
		}
		_, err := e.run([]string{"--json", dir}, false)
		if err == nil || !strings.Contains(err.Error(), "open the inbox: bundle b has two") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("no such bundle", func(t *testing.T) {
		e := newEnv(t, false, nil)
		_, err := e.run([]string{"--json", filepath.Join(dir, "nope")}, false)
		var fe *cmdutil.FlagError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "no such bundle folder") || len(e.reqs) != 0 {
			t.Fatalf("err %v, requests %d", err, len(e.reqs))
		}
	})
}

// TestInboxInteractive drives the real screen with keys on stdin: q quits (nil), Ctrl+C is
// cancelled (exit 130).
func TestInboxInteractive(t *testing.T) {
	dir := bundleDir(t)
	for _, tc := range []struct {
		keys string
		want error
	}{
		{"q", nil},
		{"\x03", cmdutil.ErrCancelled},
	} {
		e := newEnv(t, true, nil)
		e.f.IO.In = strings.NewReader(tc.keys)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := NewCmdInbox(e.f, nil)
		cmd.SetArgs([]string{dir})
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.ExecuteContext(ctx)
		cancel()
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Fatalf("keys %q: err %v, want %v", tc.keys, err, tc.want)
		}
		if e.closer.closed != 1 || e.out.Len() != 0 || !strings.Contains(e.errOut.String(), "gtc inbox") {
			t.Fatalf("keys %q: closed %d, stdout %q, screen %q", tc.keys, e.closer.closed, e.out, e.errOut)
		}
	}
}

// TestInboxCompletion: the bundle argument completes folders, --tenant and --team the
// bundle's providers.
func TestInboxCompletion(t *testing.T) {
	dir := bundleDir(t)
	complete := func(args ...string) string {
		e := newEnv(t, false, nil)
		root := &cobra.Command{Use: "gtc"}
		root.AddCommand(NewCmdInbox(e.f, nil))
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(io.Discard)
		root.SetArgs(append([]string{cobra.ShellCompRequestCmd, "inbox"}, args...))
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	if got := complete(""); !strings.Contains(got, ":16") {
		t.Fatalf("the bundle argument: %q, want folders (:16)", got)
	}
	if got := complete(dir, "--tenant", ""); !strings.Contains(got, "default\n") {
		t.Fatalf("--tenant: %q", got)
	}
	if got := complete(dir, "--team", ""); !strings.Contains(got, "default\n") {
		t.Fatalf("--team: %q", got)
	}
	if got := complete(dir, "--queue", ""); !strings.Contains(got, ":4") {
		t.Fatalf("--queue: %q, want no file completion (:4)", got)
	}
}
