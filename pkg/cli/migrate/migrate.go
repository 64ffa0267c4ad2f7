// Package migrate is `gtc migrate`: it copies a bundle's SQLite state (contacts with their
// opt-outs and 24-hour windows, inbound events, the outbound log and its statuses, the send
// API's idempotency keys) into an empty PostgreSQL database, so the bundle can move to the
// shared backend without forgetting who opted out (store.Copy does the copying).
package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/store"
)

// EnvDatabaseURL is read when --to is not given (the variable every command reads).
const EnvDatabaseURL = bundle.EnvDatabaseURL

// ErrNoState is returned when there is no SQLite state to copy (cmdutil.ErrNoState).
var ErrNoState = cmdutil.ErrNoState

// ErrInUse is returned when another process has the SQLite state open.
var ErrInUse = errors.New("the state database is in use")

// MigrateOptions are gtc migrate's inputs.
type MigrateOptions struct {
	IO        *cmdutil.IOStreams
	LookupEnv func(string) (string, bool)
	Context   context.Context

	BundleDir string
	// To is the target PostgreSQL URL (--to, else $GTC_DATABASE_URL).
	To string
	// From is the SQLite file to copy (--from); empty: the bundle's serve.database when it
	// is a SQLite file, else state/gtc.db.
	From string
	JSON bool
}

// NewCmdMigrate builds `gtc migrate`.
func NewCmdMigrate(f *cmdutil.Factory, runF func(*MigrateOptions) error) *cobra.Command {
	opts := &MigrateOptions{IO: f.IO, LookupEnv: f.LookupEnv}
	cmd := &cobra.Command{
		Use:   "migrate BUNDLE --to URL",
		Short: "Copy a bundle's SQLite state into an empty PostgreSQL database",
		Long: `Copy what gtc serve recorded in the bundle's SQLite database (state/gtc.db, or
serve.database, or --from) into an empty PostgreSQL database: contacts with their opt-outs,
marketing preferences and 24-hour windows, inbound events, the outbound log with its
delivery statuses, and the send API's idempotency keys. The copy is one transaction: all of
it or nothing. The SQLite file is only read (its schema is brought up to date first) and
stays as a backup.

Stop gtc serve first: gtc migrate refuses a SQLite database another process has open, as
whatever it recorded after the copy would not be in PostgreSQL. It also refuses a target
that already holds gtc state: it fills an empty database and never merges.

Work still queued is kept: messages waiting for their flow run and replies not yet sent (or
waiting for a retry) are rows of the copied tables, and gtc serve on PostgreSQL gives them
jobs when it starts. River's job tables, contact leases and the pacing ledger are not
copied; they belong to running processes.

The target comes from --to, else $GTC_DATABASE_URL; its password is never printed. Exit
code 0 when copied, 1 when nothing was copied (no state, database unreachable or in use,
target not empty), 2 for a usage error.`,
		Example: `  gtc migrate ./my-bundle --to postgres://gtc@db.internal:5432/gtc?sslmode=require
  GTC_DATABASE_URL=postgres://gtc:secret@127.0.0.1:5432/gtc gtc migrate ./my-bundle --json
  gtc migrate ./my-bundle --from /backups/gtc.db --to postgres://gtc@127.0.0.1:5432/gtc`,
		Args: func(cmd *cobra.Command, args []string) error {
			return cmdutil.ExactArgs(1, "a bundle directory")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.BundleDir = args[0]
			opts.Context = cmd.Context()
			if err := opts.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return migrateRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.To, "to", "", "the PostgreSQL URL to copy into, like postgres://user@host:5432/db (default $"+EnvDatabaseURL+")")
	cmd.Flags().StringVar(&opts.From, "from", "", "the SQLite file to copy (default: the bundle's serve.database, else state/gtc.db)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// validate checks the flags and fills To from the environment.
func (o *MigrateOptions) validate() error {
	if o.To == "" && o.LookupEnv != nil {
		o.To, _ = o.LookupEnv(EnvDatabaseURL)
	}
	switch {
	case o.To == "":
		return cmdutil.FlagErrorf("--to is required: the postgres:// URL of the database to copy into (or set %s)", EnvDatabaseURL)
	case !store.IsPostgres(o.To):
		if _, ok := store.SQLitePath(o.To); ok {
			return cmdutil.FlagErrorf("invalid --to %s: gtc migrate copies into PostgreSQL: give a postgres:// URL", store.Redact(o.To))
		}
		return cmdutil.FlagErrorf("invalid --to %s: give a postgres:// URL", store.Redact(o.To))
	}
	// pgx's parse errors can quote the URL: say what is wrong without it.
	if _, err := pgconn.ParseConfig(o.To); err != nil {
		return cmdutil.FlagErrorf("invalid --to %s: not a valid PostgreSQL URL (expected postgres://user@host:5432/database?sslmode=disable)", store.Redact(o.To))
	}
	if o.From != "" {
		if _, ok := store.SQLitePath(o.From); !ok || store.IsPostgres(o.From) {
			return cmdutil.FlagErrorf("invalid --from %s: give the SQLite file to copy, like ./my-bundle/state/gtc.db", store.Redact(o.From))
		}
	}
	return nil
}

// Result is gtc migrate's --json output.
type Result struct {
	From   string              `json:"from"`
	To     string              `json:"to"` // without the password
	Tables []store.CopiedTable `json:"tables"`
	Total  int64               `json:"total"`
	// PendingEvents and OpenReplies are the queued work gtc serve picks up on start.
	PendingEvents int `json:"pending_events"`
	OpenReplies   int `json:"open_replies"`
}

func migrateRun(o *MigrateOptions) error {
	ctx := o.Context
	if ctx == nil {
		ctx = context.Background()
	}
	from, err := o.source()
	if err != nil {
		return err
	}
	if _, err := os.Stat(from); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w at %s: nothing to migrate (gtc serve %s records its state there; --from names another file)", ErrNoState, from, o.BundleDir)
	} else if err != nil {
		return fmt.Errorf("read state %s: %w", from, err)
	}
	if busy, err := inUse(from); err != nil {
		fmt.Fprintf(o.IO.ErrOut, "warning: cannot tell whether %s is in use (%v): make sure gtc serve is stopped\n", from, err)
	} else if busy {
		return fmt.Errorf("%w: another process (gtc serve?) has %s open: stop it first, so that nothing it records after the copy is lost", ErrInUse, from)
	}

	src, err := store.Open(ctx, from)
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	defer src.Close()
	dst, err := store.Open(ctx, o.To)
	if err != nil {
		return err // names the database without its password
	}
	defer dst.Close()

	progress := func(string, int) {}
	if o.IO.ErrTTY && !o.JSON {
		progress = func(table string, rows int) { fmt.Fprintf(o.IO.ErrOut, "\rcopying %-22s %12d rows", table, rows) }
	}
	rep, err := store.Copy(ctx, dst, src, progress)
	if o.IO.ErrTTY && !o.JSON {
		fmt.Fprintf(o.IO.ErrOut, "\r%48s\r", "") // as wide as a progress line
	}
	if err != nil {
		return err
	}
	res := Result{From: from, To: store.Redact(o.To), Tables: rep.Tables, Total: rep.Total()}
	if d, err := dst.QueueDepth(ctx); err == nil {
		res.PendingEvents, res.OpenReplies = d.PendingEvents, d.OpenOutbound
	}
	if o.JSON {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return printResult(o.IO.Out, o.BundleDir, res)
}

// source is the SQLite file to copy: --from, else the bundle's serve.database when that is
// a SQLite file, else the bundle's state/gtc.db (serve.database may already name the
// PostgreSQL database, through ${GTC_DATABASE_URL}).
func (o *MigrateOptions) source() (string, error) {
	if o.From != "" {
		path, _ := store.SQLitePath(o.From)
		return filepath.Abs(path)
	}
	b, err := bundle.Load(o.BundleDir, bundle.LoadOptions{LookupEnv: o.LookupEnv, AllowMissingEnv: true})
	if err != nil {
		return "", err
	}
	// The loader makes a SQLite path absolute; a relative one is an unresolved ${ENV}.
	if path, ok := store.SQLitePath(b.Serve.Database); ok && filepath.IsAbs(path) {
		return path, nil
	}
	return filepath.Join(b.Dir, filepath.FromSlash(bundle.DefaultDatabase)), nil
}

func printResult(w io.Writer, dir string, r Result) error {
	fmt.Fprintf(w, "copied %s into %s\n", r.From, r.To)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range r.Tables {
		fmt.Fprintf(tw, "  %s\t%d\n", t.Table, t.Rows)
	}
	fmt.Fprintf(tw, "  total\t%d\n", r.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.PendingEvents > 0 || r.OpenReplies > 0 {
		fmt.Fprintf(w, "queued: %d message(s) waiting for their flow run, %d reply(ies) not sent yet: gtc serve picks them up when it starts\n",
			r.PendingEvents, r.OpenReplies)
	}
	fmt.Fprintf(w, `next: point gtc serve at PostgreSQL: set serve.database in bundle.yaml to ${%[1]s}
  (and export %[1]s), or run gtc serve --database "$%[1]s" %[2]s
%[3]s is left as it was: keep it as a backup
`, EnvDatabaseURL, dir, r.From)
	return nil
}
