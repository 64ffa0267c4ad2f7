package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/greentic/gtc/pkg/app"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/delivery"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// What several commands need from a bundle: its provider, the provider's client, its state
// database and its flow files. The rules behind them live in pkg/app and pkg/delivery.

// Bundle loads the bundle in dir, resolving ${ENV} references with f.LookupEnv.
func (f *Factory) Bundle(dir string) (*bundle.Bundle, error) {
	return bundle.Load(dir, bundle.LoadOptions{LookupEnv: f.LookupEnv})
}

// Provider loads the bundle in dir and picks the enabled provider of --tenant/--team (or
// the only one).
func (f *Factory) Provider(dir, tenant, team string) (*bundle.Bundle, *bundle.Provider, error) {
	return LoadProvider(dir, tenant, team, f.LookupEnv)
}

// Client builds the Cloud API client of p; hc and clock may be nil.
func (f *Factory) Client(p *bundle.Provider, hc *http.Client, clock whatsapp.Clock) (*whatsapp.Client, error) {
	return ClientFor(p, f.LookupEnv, hc, clock)
}

// LoadProvider loads the bundle in dir and picks the enabled provider of --tenant/--team
// (or the only one); a selection that does not fit is a usage error.
func LoadProvider(dir, tenant, team string, lookupEnv func(string) (string, bool)) (*bundle.Bundle, *bundle.Provider, error) {
	b, err := bundle.Load(dir, bundle.LoadOptions{LookupEnv: lookupEnv})
	if err != nil {
		return nil, nil, err
	}
	p, err := app.EnabledProvider(b, tenant, team)
	var pe *app.ProviderError
	if errors.As(err, &pe) {
		return nil, nil, &FlagError{Err: err}
	}
	if err != nil {
		return nil, nil, err
	}
	return b, p, nil
}

// ClientFor builds the Cloud API client of a provider, resolving its token. With the
// provider's marketing_messages, marketing templates go through the Marketing Messages API.
func ClientFor(p *bundle.Provider, lookupEnv func(string) (string, bool), hc *http.Client, clock whatsapp.Clock) (*whatsapp.Client, error) {
	return app.NewClient(p, lookupEnv, app.ClientOptions{HTTPClient: hc, Clock: clock})
}

// SendError is a failed Cloud API call with what to do about it. Exit code 1.
type SendError struct {
	Err error
}

func (e *SendError) Error() string {
	msg := e.Err.Error()
	class := whatsapp.ClassOf(e.Err)
	if advice := whatsapp.AdviceOf(e.Err); advice != "" {
		msg += "\n  " + advice
	}
	if code := whatsapp.CodeOf(e.Err); code != 0 {
		msg += fmt.Sprintf(" (class %s, code %d)", class, code)
	} else if class != whatsapp.ClassUnknown {
		msg += fmt.Sprintf(" (class %s)", class)
	}
	return msg
}

func (e *SendError) Unwrap() error { return e.Err }

// ErrNoState is returned by OpenState when the bundle has no state database yet.
var ErrNoState = errors.New("no state database")

// StatePath is the SQLite file of the bundle's state, or "" when the database is not a
// SQLite file (a postgres:// URL, from serve.database or GTC_DATABASE_URL).
func StatePath(b *bundle.Bundle) string {
	path, _ := store.SQLitePath(b.Database(nil))
	return path
}

// OpenState opens the bundle's state database for reading: $GTC_DATABASE_URL when set,
// else serve.database. It never creates a SQLite file: a bundle that gtc serve has not run
// yet gives an error wrapping ErrNoState. SQLite in WAL mode lets it read while gtc serve
// writes; on PostgreSQL it reads what all the instances recorded.
func OpenState(ctx context.Context, b *bundle.Bundle) (*store.Store, error) {
	dsn := b.Database(nil)
	if store.IsPostgres(dsn) {
		st, err := store.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("read state: %w", err)
		}
		return st, nil
	}
	path := StatePath(b)
	if path == "" {
		return nil, fmt.Errorf("state database %s: not a SQLite file nor a postgres:// URL", store.Redact(dsn))
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s: run gtc serve %s first (it records messages there)", ErrNoState, path, b.Dir)
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	return st, nil
}

// ReadContact returns what the server recorded about the recipient to (the identity any of
// its aliases names: delivery.ResolveContact), or nil when the bundle has no state yet. It
// never creates the database.
func ReadContact(ctx context.Context, b *bundle.Bundle, p *bundle.Provider, to string) (*store.Contact, error) {
	st, where, err := openExisting(ctx, b)
	if st == nil || err != nil {
		return nil, err
	}
	defer st.Close()
	c, err := delivery.ResolveContact(ctx, st, p.Tenant, p.Team, to)
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", where, err)
	}
	return c, nil
}

// RecordedTemplates returns what the server recorded of the provider's templates (Meta's
// template status, category and quality webhooks), or nil when the bundle has no state
// yet. It never creates the database.
func RecordedTemplates(ctx context.Context, b *bundle.Bundle, p *bundle.Provider) ([]*store.TemplateState, error) {
	st, where, err := openExisting(ctx, b)
	if st == nil || err != nil {
		return nil, err
	}
	defer st.Close()
	ts, err := st.TemplateStates(ctx, p.Tenant, p.Team)
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", where, err)
	}
	return ts, nil
}

// openExisting opens the bundle's state database when it exists (nil when a SQLite file
// was never made), and says where it is for errors.
func openExisting(ctx context.Context, b *bundle.Bundle) (*store.Store, string, error) {
	dsn := b.Database(nil)
	path, ok := store.SQLitePath(dsn)
	switch {
	case store.IsPostgres(dsn):
		path = store.Redact(dsn)
	case !ok:
		return nil, "", nil
	default:
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, "", nil
		}
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, path, fmt.Errorf("read state %s: %w", path, err)
	}
	return st, path, nil
}

// FlowFiles lists the .ygtc files directly inside dir, sorted; a missing dir has none.
func FlowFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read flows: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), bundle.FlowExt) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// CheckFlows parses and validates the flow files as one set (names are unique across
// files, triggers may not be ambiguous) and returns every problem, errors and warnings.
func CheckFlows(files []string) (*problem.List, error) {
	_, probs, err := flow.CheckFiles(files)
	if err != nil {
		return nil, err
	}
	return probs, nil
}
