package migrate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/store/storetest"
)

func TestNewCmdMigrateFlags(t *testing.T) {
	const pg = "postgres://gtc:s3cret@127.0.0.1:5432/gtc?sslmode=disable"
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    MigrateOptions
		wantErr string
	}{
		{name: "to flag", args: []string{"./b", "--to", pg},
			want: MigrateOptions{BundleDir: "./b", To: pg}},
		{name: "to from the environment", args: []string{"./b", "--json"}, env: map[string]string{EnvDatabaseURL: pg},
			want: MigrateOptions{BundleDir: "./b", To: pg, JSON: true}},
		{name: "the flag wins over the environment", args: []string{"./b", "--to", "postgresql://other@db/x"}, env: map[string]string{EnvDatabaseURL: pg},
			want: MigrateOptions{BundleDir: "./b", To: "postgresql://other@db/x"}},
		{name: "from a file", args: []string{"./b", "--to", pg, "--from", "/backups/gtc.db"},
			want: MigrateOptions{BundleDir: "./b", To: pg, From: "/backups/gtc.db"}},
		{name: "no target", args: []string{"./b"}, wantErr: "--to is required: the postgres:// URL of the database to copy into (or set GTC_DATABASE_URL)"},
		{name: "empty variable", args: []string{"./b"}, env: map[string]string{EnvDatabaseURL: ""}, wantErr: "--to is required"},
		{name: "a SQLite target", args: []string{"./b", "--to", "state/other.db"}, wantErr: "invalid --to state/other.db: gtc migrate copies into PostgreSQL"},
		{name: "another database", args: []string{"./b", "--to", "mysql://gtc:s3cret@db/gtc"}, wantErr: "invalid --to mysql://gtc:xxxxx@db/gtc: give a postgres:// URL"},
		{name: "a broken URL", args: []string{"./b", "--to", "postgres://gtc:s3cret@db:port/gtc"}, wantErr: "not a valid PostgreSQL URL"},
		{name: "a PostgreSQL source", args: []string{"./b", "--to", pg, "--from", pg}, wantErr: "invalid --from postgres://gtc:xxxxx@127.0.0.1:5432/gtc"},
		{name: "no bundle", args: []string{"--to", pg}, wantErr: "expected a bundle directory"},
		{name: "two bundles", args: []string{"./a", "./b", "--to", pg}, wantErr: "expected a bundle directory"},
		{name: "unknown flag", args: []string{"./b", "--into", pg}, wantErr: "unknown flag: --into"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cmdutil.NewFactory(&cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
			f.LookupEnv = func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			var got *MigrateOptions
			cmd := NewCmdMigrate(f, func(o *MigrateOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("the error shows the password: %v", err)
				}
				var fe *cmdutil.FlagError
				if !errors.As(err, &fe) && !strings.HasPrefix(err.Error(), "unknown flag") {
					t.Fatalf("err = %T %v; want a usage error (exit 2)", err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.BundleDir != tt.want.BundleDir || got.To != tt.want.To || got.From != tt.want.From || got.JSON != tt.want.JSON {
				t.Fatalf("opts = %+v; want %+v", *got, tt.want)
			}
		})
	}
}

// newBundle writes a bundle from testdata/answers/local.json.
func newBundle(t *testing.T) string {
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

// seed records an opted-out contact and a pending reply in the SQLite file at path.
func seed(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetOptOut(ctx, store.ContactRef{Tenant: "default", Team: "default", Key: "4915100000001"}, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordOutbound(ctx, "default", "default", []store.NewOutbound{{ContactKey: "4915100000002",
		Recipient: "+4915100000002", Origin: store.OriginSend, MessageType: "text", Request: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
}

func runMigrate(t *testing.T, o *MigrateOptions) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	o.IO = &cmdutil.IOStreams{Out: &out, ErrOut: &errOut}
	if o.LookupEnv == nil {
		o.LookupEnv = func(string) (string, bool) { return "", false }
	}
	err = migrateRun(o)
	return out.String(), errOut.String(), err
}

func TestMigrateRun(t *testing.T) {
	dst := storetest.PostgresDSN(t)
	dir := newBundle(t)
	seed(t, filepath.Join(dir, "state", "gtc.db"))

	out, _, err := runMigrate(t, &MigrateOptions{BundleDir: dir, To: dst, JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if r.From != filepath.Join(dir, "state", "gtc.db") || r.Total != 2 || r.OpenReplies != 1 || r.PendingEvents != 0 {
		t.Fatalf("result = %+v", r)
	}
	// Every table store.Copy moves is reported, with the rows it held.
	rows := map[string]int64{}
	for _, tb := range r.Tables {
		rows[tb.Table] = tb.Rows
	}
	if rows["gtc_contacts"] != 1 || rows["gtc_outbound_messages"] != 1 || len(r.Tables) < 5 {
		t.Fatalf("tables = %+v", r.Tables)
	}

	// Again: the target is not empty any more, and says what it holds.
	_, _, err = runMigrate(t, &MigrateOptions{BundleDir: dir, To: dst})
	if !errors.Is(err, store.ErrTargetNotEmpty) || !strings.Contains(err.Error(), "(1 contact, 1 outbound message): migrate into an empty database") {
		t.Fatalf("second migrate = %v; want a refusal", err)
	}

	// The text output, into another schema, from a file given with --from.
	from := filepath.Join(t.TempDir(), "copy.db")
	seed(t, from)
	out, _, err = runMigrate(t, &MigrateOptions{BundleDir: dir, To: storetest.PostgresDSN(t), From: from})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"copied " + from + " into postgres://", "  gtc_contacts           1\n", "  total                  2\n",
		"0 message(s) waiting for their flow run, 1 reply(ies) not sent yet", "set serve.database in bundle.yaml to ${GTC_DATABASE_URL}"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestMigrateRunRefuses(t *testing.T) {
	const bad = "postgres://gtc:s3cret@127.0.0.1:1/gtc?sslmode=disable&connect_timeout=2"
	dir := newBundle(t)
	tests := []struct {
		name    string
		opts    MigrateOptions
		prepare func(t *testing.T)
		wantIs  error
		want    string
	}{
		{name: "no state yet", opts: MigrateOptions{BundleDir: dir, To: bad}, wantIs: ErrNoState,
			want: "no state database at " + filepath.Join(dir, "state", "gtc.db") + ": nothing to migrate"},
		{name: "no such --from", opts: MigrateOptions{BundleDir: dir, To: bad, From: filepath.Join(dir, "none.db")}, wantIs: ErrNoState,
			want: "no state database at " + filepath.Join(dir, "none.db")},
		{name: "no bundle", opts: MigrateOptions{BundleDir: filepath.Join(dir, "nope"), To: bad}, want: "bundle.yaml"},
		{name: "PostgreSQL unreachable", opts: MigrateOptions{BundleDir: dir, To: bad},
			prepare: func(t *testing.T) { seed(t, filepath.Join(dir, "state", "gtc.db")) },
			want:    "open store postgres://gtc:xxxxx@127.0.0.1:1/gtc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.prepare != nil {
				tt.prepare(t)
			}
			out, _, err := runMigrate(t, &tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want %q", err, tt.want)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("err = %v; want it to wrap %v", err, tt.wantIs)
			}
			if strings.Contains(err.Error(), "s3cret") || out != "" {
				t.Fatalf("err = %v, stdout %q: the password or a result leaked", err, out)
			}
		})
	}
}

// The helper process of TestInUse: holds the database open until its stdin closes.
func TestHelperHoldDatabase(t *testing.T) {
	path := os.Getenv("GTC_MIGRATE_HOLD")
	if path == "" {
		t.Skip("helper process of TestInUse")
	}
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Contacts(context.Background(), store.ContactFilter{}); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("holding\n")
	bufio.NewReader(os.Stdin).ReadString('\n')
	st.Close()
}

func TestInUse(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no lock probe on Windows")
	}
	path := filepath.Join(t.TempDir(), "gtc.db")
	if busy, err := inUse(path); busy || err != nil {
		t.Fatalf("a database that does not exist: inUse = %v, %v", busy, err)
	}
	seed(t, path) // opened and closed again
	if busy, err := inUse(path); busy || err != nil {
		t.Fatalf("a closed database: inUse = %v, %v", busy, err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldDatabase$")
	cmd.Env = append(os.Environ(), "GTC_MIGRATE_HOLD="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "holding\n" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("helper said %q", line)
	}
	busy, err := inUse(path)
	if !busy || err != nil {
		t.Errorf("a database another process has open: inUse = %v, %v", busy, err)
	}
	_, _, runErr := runMigrate(t, &MigrateOptions{BundleDir: "b", From: path, To: "postgres://gtc@127.0.0.1:1/gtc"})
	if !errors.Is(runErr, ErrInUse) || !strings.Contains(runErr.Error(), "stop it first") {
		t.Errorf("migrate of a database in use = %v", runErr)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if busy, err := inUse(path); busy || err != nil {
		t.Fatalf("after the other process closed it: inUse = %v, %v", busy, err)
	}
}
