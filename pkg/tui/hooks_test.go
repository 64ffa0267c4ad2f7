package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/graphfake"
	"github.com/greentic/gtc/pkg/whatsapp"
)

func TestAnswersRoundTrip(t *testing.T) {
	base := answers.Default()
	base.RatePerSecond = 7
	v := ValuesFromAnswers(base)
	if v["api_version"] != answers.DefaultAPIVersion || v["tenant"] != "default" || v["enabled"] != "true" {
		t.Fatalf("defaults not carried: %v", v)
	}
	v["access_token"] = "${WA_TOKEN}"
	v["enabled"] = "false"
	a := AnswersFromValues(base, v)
	if a.RatePerSecond != 7 || a.Enabled || a.AccessToken.Raw() != "${WA_TOKEN}" {
		t.Errorf("got %+v", a)
	}
	if base.AccessToken.Raw() != "" {
		t.Error("base was modified")
	}
}

func newFakeClient(t *testing.T) (*graphfake.Server, *whatsapp.Client) {
	t.Helper()
	fake := graphfake.New(graphfake.Options{})
	t.Cleanup(fake.Close)
	c := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: fake.URL, PhoneNumberID: graphfake.DefaultPhoneNumberID,
		BusinessAccountID: graphfake.DefaultBusinessAccountID, Token: graphfake.DefaultToken})
	return fake, c
}

func TestClientBackendListsTemplatesWithParameters(t *testing.T) {
	_, c := newFakeClient(t)
	ts, err := ClientBackend{Client: c}.ListTemplates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tpl := range ts {
		var labels []string
		for _, p := range tpl.Params {
			labels = append(labels, p.Label())
		}
		got[tpl.Name] = strings.Join(labels, ",")
	}
	if got["order_confirmation"] != "body {{1}},body {{2}}" {
		t.Errorf("order_confirmation params = %q (all: %v)", got["order_confirmation"], got)
	}
	if _, ok := got["hello_world"]; !ok {
		t.Errorf("hello_world missing: %v", got)
	}
}

func TestExplainSendError(t *testing.T) {
	bad := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: "http://127.0.0.1:1", PhoneNumberID: "1", Token: "x", Timeout: time.Second})
	_, err := ClientBackend{Client: bad}.Send(context.Background(), &whatsapp.Message{MessagingProduct: "whatsapp", To: "+4915123456789", Type: "text", Text: &whatsapp.Text{Body: "hi"}})
	if err == nil {
		t.Fatal("send to a closed port succeeded")
	}
	if got := ExplainSendError(err); got == "" || !strings.Contains(got, ":") {
		t.Errorf("advice %q", got)
	}
	if got := ExplainSendError(errors.New("x")); got == "" {
		t.Error("no advice for a plain error")
	}
}

// TestComposerTemplateToGraphfake runs the composer against graphfake through the real
// client: list templates, pick order_confirmation, fill both parameters, send.
func TestComposerTemplateToGraphfake(t *testing.T) {
	fake, client := newFakeClient(t)
	c := NewComposer(ComposerConfig{Styles: PlainStyles(), Keys: DefaultKeyMap(), Backend: ClientBackend{Client: client},
		Normalize: whatsapp.NormalizeE164, Explain: ExplainSendError})
	tm := teatest.NewTestModel(t, snapModel{c}, teatest.WithInitialTermSize(80, 30))
	tm.Type("+49 151 23456789")
	tm.Send(press("enter"))
	tm.Send(press("down"))
	tm.Send(press("enter"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("appointment_reminder")) },
		teatest.WithDuration(10*time.Second))
	golden(t, "composer_graphfake_templates", snapshot(t, tm))
	tm.Send(press("enter")) // order_confirmation is first
	tm.Type("Alice")
	tm.Send(press("enter"))
	tm.Type("A-1042")
	tm.Send(press("enter"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("Send to ")) },
		teatest.WithDuration(10*time.Second))
	tm.Send(press("y"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("message id wamid.")) },
		teatest.WithDuration(10*time.Second))
	final := finalScreen(t, tm).(*Composer)
	if final.SendErr != nil || !strings.HasPrefix(final.MessageID, "wamid.") {
		t.Fatalf("err=%v id=%q", final.SendErr, final.MessageID)
	}
	msgs := fake.Messages()
	if len(msgs) != 1 {
		t.Fatalf("graphfake got %d messages", len(msgs))
	}
	got, _ := json.Marshal(msgs[0].Template)
	want := `{"name":"order_confirmation","language":{"code":"en"},"components":[{"type":"body","parameters":[{"type":"text","text":"Alice"},{"type":"text","text":"A-1042"}]}]}`
	if string(got) != want {
		t.Errorf("template sent\n%s\nwant\n%s", got, want)
	}
}

// TestSetupWizardOnStreams runs the wizard hook as gtc setup does, with keys on stdin, and
// checks the answers equal those of the equivalent answers.json (so setup writes the same
// bundle), and that --save-answers writes secrets as ${ENV} references.
func TestSetupWizardOnStreams(t *testing.T) {
	var keys strings.Builder
	for _, in := range wizardInputs {
		if in != "" {
			keys.WriteString("\x15" + in) // ctrl+u clears the pre-filled default
		}
		keys.WriteString("\r")
	}
	keys.WriteString("y")
	save := filepath.Join(t.TempDir(), "saved.json")
	var screen bytes.Buffer
	got, err := SetupWizard(Terminal{In: strings.NewReader(keys.String()), ErrOut: &screen, NoColor: true},
		SetupWizardOptions{SaveAnswers: save, Target: "./b"})(context.Background(), answers.Default())
	if err != nil {
		t.Fatalf("wizard: %v\n%s", err, screen.String())
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "tui", "wizard_answers.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, probs := answers.Parse("wizard_answers.json", data)
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("wizard answers\n%+v\nwant (answers.json)\n%+v", got, want)
	}
	saved, err := os.ReadFile(save)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(saved), "EAAtesttoken") || !strings.Contains(string(saved), `"access_token": "${GTC_ACCESS_TOKEN}"`) {
		t.Errorf("saved answers hold a secret or lack the reference:\n%s", saved)
	}
	if strings.Contains(screen.String(), "EAAtesttoken") || strings.Contains(screen.String(), "my-verify-token") {
		t.Error("a secret was drawn on the screen")
	}
}

func TestSetupWizardCtrlCWritesNothing(t *testing.T) {
	save := filepath.Join(t.TempDir(), "saved.json")
	_, err := SetupWizard(Terminal{In: strings.NewReader("\rhttps://x.example\x03"), ErrOut: &bytes.Buffer{}, NoColor: true},
		SetupWizardOptions{SaveAnswers: save})(context.Background(), nil)
	if !errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v, want ErrCancelled", err)
	}
	if _, err := os.Stat(save); !os.IsNotExist(err) {
		t.Errorf("answers saved after ctrl+c: %v", err)
	}
}

// TestComposerRetryToGraphfake fails the first send at graphfake (131026, undeliverable): the
// composer shows the Graph error and its classified advice once and sends the edited message
// on the second try.
func TestComposerRetryToGraphfake(t *testing.T) {
	fake, client := newFakeClient(t)
	fake.FailNext(1, 131026)
	c := NewComposer(ComposerConfig{Styles: PlainStyles(), Keys: DefaultKeyMap(), Backend: ClientBackend{Client: client},
		Normalize: whatsapp.NormalizeE164, Explain: ExplainSendError})
	tm := teatest.NewTestModel(t, snapModel{c}, teatest.WithInitialTermSize(80, 30))
	tm.Type("+4915123456789")
	tm.Send(press("enter"))
	tm.Send(press("enter"))
	tm.Type("Your order shipped")
	tm.Send(press("enter"))
	tm.Send(press("y"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("try again?")) },
		teatest.WithDuration(10*time.Second))
	failed := regexp.MustCompile(`fbtrace_id [^\]]+`).ReplaceAllString(snapshot(t, tm), "fbtrace_id TRACE") // random per call
	golden(t, "composer_graphfake_failed", failed)
	if n := strings.Count(failed, "131026"); n != 1 {
		t.Errorf("the error shows %d times, want once:\n%s", n, failed)
	}
	tm.Send(press("y"))
	tm.Send(press("enter"))
	tm.Send(press("y"))
	final := finalScreen(t, tm).(*Composer)
	if final.SendErr != nil || !strings.HasPrefix(final.MessageID, "wamid.") {
		t.Fatalf("err=%v id=%q", final.SendErr, final.MessageID)
	}
	if msgs := fake.Messages(); len(msgs) != 1 || msgs[0].Text.Body != "Your order shipped" {
		t.Fatalf("graphfake accepted %+v", msgs)
	}
}
