package report

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/store"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

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

func status(wamid, st string, at time.Time, p *store.Pricing) store.InboundEvent {
	return store.InboundEvent{Kind: store.KindStatus, DedupeKey: "status:" + wamid + ":" + st, Raw: []byte(`{}`),
		Status: &store.StatusUpdate{WAMID: wamid, Status: st, At: at, Pricing: p}}
}

// seed records statuses as gtc serve would: three days of marketing, utility and free
// service messages, each with sent and delivered statuses that both carry pricing.
func seed(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "state", "gtc.db"), store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	marketing := &store.Pricing{Billable: true, PricingModel: "PMP", Category: "marketing", Type: "regular"}
	utility := &store.Pricing{Billable: true, PricingModel: "PMP", Category: "utility", Type: "regular"}
	service := &store.Pricing{Billable: false, PricingModel: "PMP", Category: "service", Type: "free_customer_service"}
	entry := &store.Pricing{Billable: false, PricingModel: "PMP", Category: "marketing", Type: "free_entry_point"}
	var evs []store.InboundEvent
	add := func(day int, hour int, wamid string, p *store.Pricing) {
		at := time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC)
		evs = append(evs, status(wamid, "sent", at, p), status(wamid, "delivered", at.Add(time.Minute), p), status(wamid, "read", at.Add(time.Hour), nil))
	}
	add(10, 9, "wamid.old", marketing) // before --since 7d
	add(21, 9, "wamid.m1", marketing)
	add(21, 10, "wamid.u1", utility)
	add(21, 23, "wamid.s1", service)
	add(22, 8, "wamid.m2", marketing)
	add(22, 9, "wamid.m3", marketing)
	add(22, 10, "wamid.e1", entry)
	add(23, 14, "wamid.u2", utility)
	if _, err := st.Ingest(ctx, "default", "default", evs); err != nil {
		t.Fatal(err)
	}
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
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func TestReportRun(t *testing.T) {
	dir := newBundle(t)
	seed(t, dir)
	for _, tt := range []struct {
		name  string
		since string
		json  bool
	}{
		{"week", "7d", false},
		{"week_json", "7d", true},
		{"date", "2026-11-22", false},
		{"hours", "12h", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			since, err := ParseSince(tt.since, now)
			if err != nil {
				t.Fatal(err)
			}
			o := ReportOptions{IO: &cmdutil.IOStreams{Out: &out, ErrOut: &errOut}, Now: func() time.Time { return now },
				BundleDir: dir, Since: tt.since, JSON: tt.json, since: since}
			if err := reportRun(&o); err != nil {
				t.Fatal(err)
			}
			golden(t, "report_"+tt.name+".golden", bytes.ReplaceAll(out.Bytes(), []byte(dir), []byte("BUNDLE")))
			if errOut.Len() != 0 {
				t.Errorf("stderr: %s", errOut.String())
			}
		})
	}
}

// A period longer than retention.messages says that older pricing is gone.
func TestReportRetentionNote(t *testing.T) {
	dir := newBundle(t)
	seed(t, dir)
	var out, errOut bytes.Buffer
	since, _ := ParseSince("120d", now)
	o := ReportOptions{IO: &cmdutil.IOStreams{Out: &out, ErrOut: &errOut}, Now: func() time.Time { return now }, BundleDir: dir, since: since}
	if err := reportRun(&o); err != nil {
		t.Fatal(err)
	}
	if want := "note: retention.messages is 90d: pricing older than 2026-08-26 has been deleted\n"; errOut.String() != want {
		t.Errorf("stderr %q, want %q", errOut.String(), want)
	}
}

func TestParseSince(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{"30d", now.Add(-30 * 24 * time.Hour), ""},
		{"12h", now.Add(-12 * time.Hour), ""},
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), ""},
		{"0d", time.Time{}, "use a positive number of days like 30d"},
		{"-3h", time.Time{}, "use a positive number of days like 30d"},
		{"30", time.Time{}, "use days like 30d, hours like 12h, or a date like 2026-11-01"},
		{"1w", time.Time{}, "use days like 30d"},
		{"2026-13-01", time.Time{}, "use days like 30d"},
		{"2027-01-01", time.Time{}, "2027-01-01 is in the future"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSince(tt.in, now)
			if tt.err != "" {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.err)) {
					t.Fatalf("ParseSince(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("ParseSince(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// Bad flags are usage errors (exit code 2) that name the flag.
func TestReportFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"b", "--since", "yesterday"}, `invalid --since "yesterday": use days like 30d`},
		{[]string{"b", "--tenant", "x"}, "--tenant and --team go together"},
		{[]string{}, "a bundle directory"},
	} {
		t.Run(fmt.Sprint(tt.args), func(t *testing.T) {
			f := cmdutil.NewFactory(&cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
			var got *ReportOptions
			cmd := NewCmdReport(f, func(o *ReportOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			var fe *cmdutil.FlagError
			if len(tt.args) > 0 && !errors.As(err, &fe) {
				t.Errorf("%T is not a usage error", err)
			}
			if got != nil {
				t.Error("run called")
			}
		})
	}
	f := cmdutil.NewFactory(&cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	f.Now = func() time.Time { return now }
	var got *ReportOptions
	cmd := NewCmdReport(f, func(o *ReportOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"b"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Since != "30d" || !got.since.Equal(now.Add(-30*24*time.Hour)) {
		t.Errorf("default since %q %v", got.Since, got.since)
	}
}
