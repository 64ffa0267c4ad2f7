package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/greentic/gtc/pkg/answers"
	"github.com/greentic/gtc/pkg/secret"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// Terminal is where a screen runs: keys from In, drawing on ErrOut (stderr).
type Terminal struct {
	In      io.Reader
	ErrOut  io.Writer
	NoColor bool
}

// ErrCancelled is returned by the hooks when the user pressed Ctrl+C; the CLI maps it to
// exit 130 (the hooks wrap cmdutil.ErrCancelled at the wiring site).
var ErrCancelled = errors.New("cancelled")

// SetupWizardOptions are the wizard's extras.
type SetupWizardOptions struct {
	// SaveAnswers, when set, is where the collected answers are written as answers.json.
	SaveAnswers string
	// SaveSecrets writes the secrets themselves into SaveAnswers instead of ${ENV} references.
	SaveSecrets bool
	// Target names the bundle folder in the confirm question.
	Target string
}

// ValuesFromAnswers turns answers into the wizard's field values (secrets as written).
func ValuesFromAnswers(a *answers.Answers) map[string]string {
	if a == nil {
		a = answers.Default()
	}
	return map[string]string{
		answers.FieldEnabled:           fmt.Sprint(a.Enabled),
		answers.FieldPublicBaseURL:     a.PublicBaseURL,
		answers.FieldPhoneNumberID:     a.PhoneNumberID,
		answers.FieldAccessToken:       a.AccessToken.Raw(),
		answers.FieldVerifyToken:       a.VerifyToken.Raw(),
		answers.FieldBusinessAccountID: a.BusinessAccountID,
		answers.FieldAPIVersion:        a.APIVersion,
		answers.FieldAppSecret:         a.AppSecret.Raw(),
		answers.FieldTenant:            a.Tenant,
		answers.FieldTeam:              a.Team,
	}
}

// AnswersFromValues applies the wizard's values to a copy of base (which keeps the settings
// the wizard does not ask for: pacing, keywords, api key).
func AnswersFromValues(base *answers.Answers, v map[string]string) *answers.Answers {
	if base == nil {
		base = answers.Default()
	}
	a := *base
	a.Enabled = v[answers.FieldEnabled] != "false"
	a.PublicBaseURL = v[answers.FieldPublicBaseURL]
	a.PhoneNumberID = v[answers.FieldPhoneNumberID]
	a.AccessToken = secret.New(v[answers.FieldAccessToken])
	a.VerifyToken = secret.New(v[answers.FieldVerifyToken])
	a.BusinessAccountID = v[answers.FieldBusinessAccountID]
	a.APIVersion = v[answers.FieldAPIVersion]
	a.AppSecret = secret.New(v[answers.FieldAppSecret])
	a.Tenant = v[answers.FieldTenant]
	a.Team = v[answers.FieldTeam]
	return &a
}

// SetupWizard returns the hook `gtc setup DIR` calls when --answers is not given: it runs
// the wizard on term starting from current, and returns the answers the user confirmed.
// Ctrl+C returns ErrCancelled and nothing is written.
func SetupWizard(term Terminal, opts SetupWizardOptions) func(context.Context, *answers.Answers) (*answers.Answers, error) {
	return func(ctx context.Context, current *answers.Answers) (*answers.Answers, error) {
		w := NewWizard(WizardConfig{Styles: NewStyles(term.ErrOut, term.NoColor), Keys: DefaultKeyMap(),
			Initial: ValuesFromAnswers(current), Target: opts.Target})
		if _, err := Run(ctx, w, term.In, term.ErrOut); err != nil {
			return nil, err
		}
		if w.Cancelled || !w.Confirmed {
			return nil, ErrCancelled
		}
		if opts.SaveAnswers != "" {
			data, err := AnswersJSON(w.Values(), opts.SaveSecrets)
			if err != nil {
				return nil, err
			}
			mode := os.FileMode(0o644)
			if opts.SaveSecrets {
				mode = 0o600
			}
			if err := os.WriteFile(opts.SaveAnswers, data, mode); err != nil {
				return nil, fmt.Errorf("save answers: %w", err)
			}
			// WriteFile keeps the mode of a file that already exists: set it, so secrets never
			// sit in a file others can read.
			if err := os.Chmod(opts.SaveAnswers, mode); err != nil {
				return nil, fmt.Errorf("save answers: %w", err)
			}
		}
		return AnswersFromValues(current, w.Values()), nil
	}
}

// ClientBackend adapts the Graph API client to the composer.
type ClientBackend struct{ Client *whatsapp.Client }

// ListTemplates lists the approved templates with every parameter they declare (header
// text or media, body, button url or payload), as TemplateFromInfo reads them.
func (b ClientBackend) ListTemplates(ctx context.Context) ([]Template, error) {
	infos, err := b.Client.ListTemplates(ctx)
	if err != nil {
		return nil, err
	}
	var out []Template
	for _, ti := range infos {
		if ti.Status != "" && !strings.EqualFold(ti.Status, "APPROVED") {
			continue
		}
		out = append(out, TemplateFromInfo(ti))
	}
	return out, nil
}

// Send sends one message (one attempt) and returns its id.
func (b ClientBackend) Send(ctx context.Context, m *whatsapp.Message) (string, error) {
	res, err := b.Client.Send(ctx, m)
	if err != nil {
		return "", err
	}
	return res.MessageID, nil
}

// ExplainSendError is the composer's advice line: the error's class and what to do.
func ExplainSendError(err error) string {
	var ge *whatsapp.GraphError
	if errors.As(err, &ge) {
		return fmt.Sprintf("%s: %s", ge.Class, ge.Advice())
	}
	c := whatsapp.ClassOf(err)
	return fmt.Sprintf("%s: %s", c, c.Advice())
}
