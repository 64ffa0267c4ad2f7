// Package cmdutil is what gtc commands share: IO streams, the Factory (logger, clock, bundle,
// provider, client, composer) and the error types that pick an exit code. Commands never
// import each other; only pkg/cli.Main prints errors and exits. See docs/design.md.
package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/greentic/gtc/pkg/tui"
)

// Exit codes, the same for every command.
const (
	ExitOK        = 0
	ExitFailure   = 1
	ExitInvalid   = 2 // invalid input or usage
	ExitCancelled = 130
)

// IOStreams are the command's standard streams. Data goes to Out; status lines, logs and
// terminal UIs go to ErrOut.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	InTTY, OutTTY, ErrTTY bool
	// NoColor is true when NO_COLOR is set or ErrOut is not a terminal.
	NoColor bool
}

// System returns the process's streams.
func System() *IOStreams {
	isTTY := func(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
	s := &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		InTTY: isTTY(os.Stdin), OutTTY: isTTY(os.Stdout), ErrTTY: isTTY(os.Stderr)}
	_, noColor := os.LookupEnv("NO_COLOR")
	s.NoColor = noColor || !s.ErrTTY || os.Getenv("TERM") == "dumb"
	return s
}

// CanPrompt reports whether gtc may ask questions: stdin and stderr are terminals.
func (s *IOStreams) CanPrompt() bool { return s.InTTY && s.ErrTTY }

// Factory hands commands what they need from the outside world, so tests can replace it.
type Factory struct {
	IO *IOStreams
	// Logger writes structured logs to ErrOut in the format chosen by --log-format.
	Logger *slog.Logger
	// LogFormat is --log-format: "text" or "json" (then every line on ErrOut must be JSON).
	LogFormat string
	// Now is the clock; tests fix it.
	Now func() time.Time
	// LookupEnv reads the environment (for ${ENV} references).
	LookupEnv func(string) (string, bool)
	// Composer is the terminal composer gtc send opens when no message flag is given on a
	// terminal; nil means none (pkg/cli sets the TUI one).
	Composer Composer
	// Inbox opens the agents' inbox backend over a bundle's state (gtc inbox); pkg/cli sets
	// it from pkg/app. The closer releases the state database.
	Inbox func(ctx context.Context, req InboxRequest) (tui.InboxBackend, io.Closer, error)
}

// InboxRequest says which bundle, database and provider gtc inbox opens.
type InboxRequest struct {
	Dir      string // the bundle
	Database string // --database or GTC_DATABASE_URL; "" = the bundle's own
	Tenant   string // "" with Team "" = the bundle's only enabled provider
	Team     string
	Agent    string // the agent's name, recorded on replies, notes and releases
}

// NewFactory returns a Factory over streams with a text logger at info level.
func NewFactory(io *IOStreams) *Factory {
	return &Factory{IO: io, Logger: NewLogger(io.ErrOut, "text", slog.LevelInfo), LogFormat: "text",
		Now: time.Now, LookupEnv: os.LookupEnv}
}

// NewLogger builds the slog logger for --log-format text|json.
func NewLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// FlagError is a usage mistake: a bad or missing flag or argument. Exit code 2.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// FlagErrorf builds a FlagError.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// ErrCancelled is returned when the user cancels (Ctrl+C in a prompt). Exit code 130.
var ErrCancelled = errors.New("cancelled")

// ExitError carries an explicit exit code, for commands whose result is a verdict
// (gtc doctor exits 1 when it finds a problem) rather than an error.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit code %d", e.Code)
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

// ErrSilent asks Main to exit 1 without printing anything more: the command has already
// told the user what went wrong.
var ErrSilent = errors.New("silent error")

// ExitCoder lets a package's own error type choose its exit code.
type ExitCoder interface{ ExitCode() int }

// ExactArgs is cobra.ExactArgs with a usage error that says what is missing.
func ExactArgs(n int, what string) func(cmd interface{ UseLine() string }, args []string) error {
	return func(cmd interface{ UseLine() string }, args []string) error {
		if len(args) != n {
			return FlagErrorf("expected %s (usage: %s)", what, cmd.UseLine())
		}
		return nil
	}
}

// CommandName is how the user runs gtc here, for the commands gtc suggests: "go run
// ./cmd/gtc" under go run (whose binary sits in a go-build temporary folder, or, since Go
// 1.24, in the build cache as <hash>-d/gtc), else "gtc".
func CommandName() string {
	exe, err := os.Executable()
	if err != nil {
		return "gtc"
	}
	return commandName(exe)
}

func commandName(exe string) string {
	dir := filepath.Base(filepath.Dir(exe))
	if dir == "exe" && strings.Contains(filepath.ToSlash(exe), "/go-build") || goRunCacheDir(dir) {
		return "go run ./cmd/gtc"
	}
	return "gtc"
}

// goRunCacheDir reports whether dir looks like the build cache's folder of a go run binary:
// 64 hex digits and "-d".
func goRunCacheDir(dir string) bool {
	h, ok := strings.CutSuffix(dir, "-d")
	if !ok || len(h) != 64 {
		return false
	}
	return strings.Trim(h, "0123456789abcdef") == ""
}
