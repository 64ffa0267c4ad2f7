package bundle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/greentic/gtc/pkg/answers"
)

// renderReadme writes the bundle's README: the callback URL of every provider, the Meta
// steps from the seed and what to run next. It never holds a secret.
func renderReadme(dir string, man *Manifest, a *answers.Answers, cur *Provider) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s — a gtc bundle\n\n", man.Name)
	b.WriteString("Written by `gtc setup`; re-running it rewrites this file (your flows in `flows/` and the\n")
	b.WriteString("database in `state/` are kept).\n\n")
	b.WriteString("## Webhook callback URLs\n\n")
	b.WriteString("Paste the callback URL of each tenant/team into Meta's webhook settings.\n\n")
	b.WriteString("| tenant | team | enabled | callback URL | verify token (secrets.env key) |\n|---|---|---|---|---|\n")
	for _, tenant := range sortedKeys(man.Tenants) {
		for _, team := range sortedKeys(man.Tenants[tenant].Teams) {
			p := cur
			if tenant != cur.Tenant || team != cur.Team {
				p = readProviderSummary(dir, tenant, team)
			}
			url := "(see " + ProviderFile(tenant, team) + ")"
			enabled := "?"
			if p != nil {
				url = "`" + p.CallbackURL() + "`"
				enabled = fmt.Sprint(p.Enabled)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | `%s` |\n", tenant, team, enabled, url, SecretKey(tenant, team, answers.FieldVerifyToken))
		}
	}
	b.WriteString(`
A public base URL written as ${NAME} is read from the environment when gtc serve starts;
replace it by its value in the URL above.

## Connect the bot to Meta

1. Create a Meta app at https://developers.facebook.com: a new app of type Business, add the
   WhatsApp product and set up the WhatsApp Business API.
2. In the app's dashboard under WhatsApp → Getting Started (API Setup): copy the Phone Number
   ID, generate and copy a permanent access token, note the WhatsApp Business Account ID.
3. Under WhatsApp → Configuration: set the callback URL above, enter the verify token you put
   in answers.json (stored in secrets.env under the key in the table), and subscribe to the
   ` + "`messages`" + ` field.
4. Under App settings → Basic: copy the app secret into answers.json's app_secret (gtc serve
   checks the X-Hub-Signature-256 of every webhook with it and rejects webhooks without it).

## Files

- ` + "`bundle.yaml`" + ` — name, gtc version, serve address and database, tenants → teams → providers.
- ` + "`providers/messaging-whatsapp/<tenant>/<team>.yaml`" + ` — non-secret settings (pacing,
  messaging limit, opt-out keywords…) and the names of the secrets.env keys.
- ` + "`secrets.env`" + ` — mode 0600, the only file with tokens, app secret, API key, LLM API key and
  events secret (or ${NAME} references to environment variables). Keep it out of version
  control. It may be a symbolic link (to a vault mount, say): gtc setup writes through it.
- ` + "`flows/*.ygtc`" + ` — the bot's flows; add your own here or with ` + "`gtc setup --flows DIR`" + `.
  Each must be a regular file inside the bundle (a link to a file elsewhere is refused).
- ` + "`state/`" + ` — created by gtc serve (the SQLite database); never touched by setup.

## Next steps

Run from this folder:

    gtc validate .     # check settings and flows
    gtc serve .        # run the webhook server
    gtc send . --to +15551234567 --text "hello"
`)
	return []byte(b.String())
}

// readProviderSummary reads another provider's settings for the README; nil when unreadable.
func readProviderSummary(dir, tenant, team string) *Provider {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(ProviderFile(tenant, team))))
	if err != nil {
		return nil
	}
	var pf providerFile
	if yaml.Unmarshal(data, &pf) != nil {
		return nil
	}
	return &Provider{Tenant: tenant, Team: team, Enabled: pf.Enabled, PublicBaseURL: pf.PublicBaseURL}
}
