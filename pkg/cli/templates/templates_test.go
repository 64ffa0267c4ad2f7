package templates

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/bundle"
	"github.com/greentic/gtc/pkg/cli/cmdutil"
	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/store"
)

func writeBundle(t *testing.T, url, waba string) string {
	t.Helper()
	data := fmt.Sprintf(`{"messaging-whatsapp":{"enabled":true,"public_base_url":"https://bot.example.com",
		"phone_number_id":"1111","business_account_id":%q,"access_token":"tok-tpl","verify_token":"v",
		"app_secret":"s","api_base_url":%q}}`, waba, url)
	a, probs := answers.Parse("answers.json", []byte(data))
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := bundle.Write(dir, a, bundle.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func run(t *testing.T, argv ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	f := &cmdutil.Factory{IO: &cmdutil.IOStreams{Out: &out, ErrOut: &errOut},
		LookupEnv: func(string) (string, bool) { return "", false }}
	cmd := NewCmdTemplates(f, nil)
	cmd.SetArgs(argv)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestList(t *testing.T) {
	many := make([]graphfake.Template, 0, 150)
	for i := 0; i < 150; i++ {
		many = append(many, graphfake.Template{ID: fmt.Sprint(i), Name: fmt.Sprintf("t%03d", i), Language: "en", Status: "APPROVED", Category: "UTILITY",
			Components: []graphfake.TemplateComponent{{Type: "BODY", Text: "Hi {{first_name}}, see {{first_name}} and {{order}}"}}})
	}
	tests := []struct {
		name      string
		templates []graphfake.Template
		waba      string
		argv      []string
		want      []string
		wantErr   string
		flagErr   bool
	}{
		{name: "table", waba: "2222", argv: []string{"list"},
			want: []string{`(?m)^NAME +LANGUAGE +STATUS +CATEGORY +QUALITY +PARAMETERS$`, `(?m)^order_confirmation +en +APPROVED +UTILITY +- +body:1 body:2$`, `(?m)^hello_world +en_US +APPROVED +UTILITY +- +-$`}},
		{name: "lifecycle", waba: "2222", argv: []string{"list"}, templates: []graphfake.Template{
			{ID: "1", Name: "promo", Language: "en", Status: "PAUSED", Category: "MARKETING", Quality: "RED"},
			{ID: "2", Name: "promo", Language: "de", Status: "REJECTED", Category: "MARKETING", RejectedReason: "INCORRECT_CATEGORY"},
			{ID: "3", Name: "receipt", Language: "en", Status: "APPROVED", Category: "UTILITY", Quality: "GREEN"}},
			want: []string{`(?m)^promo +de +REJECTED \(INCORRECT_CATEGORY\) +MARKETING +- +-$`, `(?m)^promo +en +PAUSED +MARKETING +RED +-$`, `(?m)^receipt +en +APPROVED +UTILITY +GREEN +-$`}},
		{name: "lifecycle json", waba: "2222", argv: []string{"list", "--json"}, templates: []graphfake.Template{
			{ID: "2", Name: "promo", Language: "de", Status: "REJECTED", Category: "MARKETING", RejectedReason: "INCORRECT_CATEGORY", Quality: "YELLOW"}},
			want: []string{`"quality": "YELLOW"`, `"rejected_reason": "INCORRECT_CATEGORY"`, `"status": "REJECTED"`}},
		{name: "json", waba: "2222", argv: []string{"list", "--json"}, want: []string{`"name": "appointment_reminder"`, `"header:image"`}},
		{name: "paging past 100", templates: many, waba: "2222", argv: []string{"list", "--json"}, want: []string{`"t149"`, `"body:first_name"`, `"body:order"`}},
		{name: "none", templates: []graphfake.Template{}, waba: "2222", argv: []string{"list"}},
		{name: "no waba", waba: "", argv: []string{"list"}, wantErr: "has no business_account_id", flagErr: true},
		{name: "no bundle arg", waba: "2222", argv: []string{"list", "--json"}, wantErr: "expected a bundle directory", flagErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := graphfake.New(graphfake.Options{Token: "tok-tpl", PhoneNumberID: "1111", BusinessAccountID: "2222", Templates: tt.templates})
			defer fake.Close()
			dir := writeBundle(t, fake.URL, tt.waba)
			argv := tt.argv
			if tt.name != "no bundle arg" {
				argv = append([]string{argv[0], dir}, argv[1:]...)
			}
			stdout, stderr, err := run(t, argv...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if _, ok := err.(*cmdutil.FlagError); ok != tt.flagErr {
					t.Errorf("err is %T", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			for _, w := range tt.want {
				if !regexp.MustCompile(w).MatchString(stdout) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			if strings.Contains(stdout+stderr, "tok-tpl") {
				t.Error("the token leaked")
			}
			if tt.name == "paging past 100" {
				var items []item
				if err := json.Unmarshal([]byte(stdout), &items); err != nil || len(items) != 150 {
					t.Errorf("%d templates, %v; want 150", len(items), err)
				}
			}
			if tt.name == "none" && !strings.Contains(stderr, "no templates") {
				t.Errorf("stderr = %q", stderr)
			}
		})
	}
}

// With a state database, what Meta's webhooks recorded joins Graph's list: the date of a
// status both agree on, a quality only the webhooks gave, and a template only they know.
func TestListWithRecordedState(t *testing.T) {
	fake := graphfake.New(graphfake.Options{Token: "tok-tpl", PhoneNumberID: "1111", BusinessAccountID: "2222", Templates: []graphfake.Template{
		{ID: "1", Name: "promo", Language: "en", Status: "PAUSED", Category: "MARKETING"},
		{ID: "3", Name: "receipt", Language: "en", Status: "APPROVED", Category: "UTILITY"}}})
	t.Cleanup(fake.Close)
	dir := writeBundle(t, fake.URL, "2222")
	b, err := bundle.Load(dir, bundle.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), b.Serve.Database)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)
	err = st.RecordTemplates(context.Background(), "default", "default", []store.TemplateUpdate{
		{Name: "promo", Language: "en", Status: "PAUSED", Reason: "FLAGGED_BY_CUSTOMERS", Quality: "RED", At: at},
		// Graph's list says APPROVED now: the older webhook's PAUSED is not shown.
		{Name: "receipt", Language: "en", Status: "PAUSED", At: at},
		{Name: "gone", Language: "de", Status: "DISABLED", Category: "MARKETING", At: at},
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "list", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`(?m)^promo +en +PAUSED since 2026-11-30T04:00:00Z \(FLAGGED_BY_CUSTOMERS\) +MARKETING +RED +-$`,
		`(?m)^receipt +en +APPROVED +UTILITY +- +-$`,
		`(?m)^gone +de +DISABLED since 2026-11-30T04:00:00Z +MARKETING +- +-$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	out, _, err = run(t, "list", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var items []item
	if err := json.Unmarshal([]byte(out), &items); err != nil || len(items) != 3 {
		t.Fatalf("%s: %v", out, err)
	}
	if items[0].Name != "gone" || items[0].Source != "webhook" || items[1].StatusSince != "2026-11-30T04:00:00Z" || items[1].Source != "webhook" || items[2].Source != "graph" {
		t.Fatalf("json: %+v", items)
	}
}
