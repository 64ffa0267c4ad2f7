package server

// Routing by payload. Meta sends every webhook of an app to its one callback URL unless an
// override is set per business account or phone number, and template and account updates
// always go to the app's URL. So the route that receives a POST only says whose app secret
// signs it; each event is processed as the tenant/team its payload names: its
// phone_number_id, or for an update without one (templates, account) the business account
// in entry.id.

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// AppWebhookPath is the app-level webhook route: one callback URL for every number of the
// bundle. Its handshake accepts any verify token of the bundle.
const AppWebhookPath = "/webhook/whatsapp"

// misdirected is an event no tenant/team of the bundle may take: the POST is answered 421
// so Meta keeps it while the operator fixes the bundle.
type misdirected struct{ msg string }

func (m *misdirected) Error() string { return m.msg }

// routes indexes the tenants by phone number and business account.
type routes struct {
	byPhone map[string][]*Tenant
	byWABA  map[string][]*Tenant
	all     []*Tenant
	secrets []string // distinct non-empty app secrets, in tenant order

	// learned are the business accounts of tenant/teams without a BusinessAccountID, as
	// signed message and status payloads for their numbers name them (entry.id). Kept in
	// memory only: after a restart a template update waits for the next message.
	mu      sync.RWMutex
	learned map[string][]*Tenant
}

func newRoutes(ts []*Tenant) *routes {
	r := &routes{byPhone: map[string][]*Tenant{}, byWABA: map[string][]*Tenant{}, all: ts, learned: map[string][]*Tenant{}}
	for _, t := range ts {
		if t.PhoneNumberID != "" {
			r.byPhone[t.PhoneNumberID] = append(r.byPhone[t.PhoneNumberID], t)
		}
		if t.BusinessAccountID != "" {
			r.byWABA[t.BusinessAccountID] = append(r.byWABA[t.BusinessAccountID], t)
		}
		if s := t.AppSecret.Raw(); s != "" && !slices.Contains(r.secrets, s) {
			r.secrets = append(r.secrets, s)
		}
	}
	return r
}

// sameApp keeps the tenants signed by secret (every tenant when signatures are not checked).
func sameApp(ts []*Tenant, secret string, checked bool) []*Tenant {
	if !checked {
		return ts
	}
	var out []*Tenant
	for _, t := range ts {
		if t.AppSecret.Raw() == secret {
			out = append(out, t)
		}
	}
	return out
}

func names(ts []*Tenant) string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Tenant + "/" + t.Team
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// target decides the tenant/teams one event goes to. route is the tenant/team whose URL
// received it (nil on the app-level route); secret is the app secret that signed the body
// (checked false when signatures are not checked).
func (r *routes) target(route *Tenant, secret string, checked bool, phone, waba string) ([]*Tenant, error) {
	if phone != "" {
		known := r.byPhone[phone]
		cands := sameApp(known, secret, checked)
		switch {
		case route != nil && slices.Contains(cands, route):
			return []*Tenant{route}, nil
		case len(cands) == 1:
			return cands, nil
		case len(cands) > 1:
			return nil, &misdirected{fmt.Sprintf("phone_number_id %s is served by several tenant/teams (%s): post to one of their own URLs, %s<tenant>/<team>", phone, names(cands), WebhookPrefix)}
		case route != nil && route.PhoneNumberID == "":
			// A tenant/team that names no number takes what its own URL receives.
			return []*Tenant{route}, nil
		case len(known) > 0:
			return nil, &misdirected{fmt.Sprintf("payload is for phone_number_id %s of %s, whose app secret did not sign it: point that number's webhook at its own app", phone, names(known))}
		case route != nil:
			return nil, &misdirected{fmt.Sprintf("payload is for phone_number_id %s, but %s/%s serves %s and no other tenant/team of this bundle serves it: add the number to the bundle or point its webhook elsewhere", phone, route.Tenant, route.Team, route.PhoneNumberID)}
		default:
			return nil, &misdirected{fmt.Sprintf("payload is for phone_number_id %s, which no tenant/team of this bundle serves: add the number to the bundle or point its webhook elsewhere", phone)}
		}
	}
	// Updates without a number (templates, account) concern every tenant/team of the
	// business account.
	if cands := sameApp(r.ofWABA(waba), secret, checked); waba != "" && len(cands) > 0 {
		return cands, nil
	}
	if route != nil {
		return []*Tenant{route}, nil
	}
	if cands := sameApp(r.all, secret, checked); len(cands) == 1 {
		return cands, nil
	}
	if waba == "" {
		return nil, &misdirected{"payload names neither a phone_number_id nor a business account: post it to a tenant/team's own URL, " + WebhookPrefix + "<tenant>/<team>"}
	}
	return nil, &misdirected{fmt.Sprintf("payload is for business account %s, which is no tenant/team's business_account_id: set it in the bundle's answers, or post to a tenant/team's own URL", waba)}
}

// ofWABA returns the tenant/teams of a business account: configured, else learned.
func (r *routes) ofWABA(waba string) []*Tenant {
	if ts := r.byWABA[waba]; len(ts) > 0 {
		return ts
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.learned[waba]
}

// learn notes that a signed payload for t's number named waba as its business account.
func (r *routes) learn(t *Tenant, waba string) {
	if waba == "" || t.BusinessAccountID != "" || len(r.byWABA[waba]) > 0 {
		return
	}
	r.mu.RLock()
	known := slices.Contains(r.learned[waba], t)
	r.mu.RUnlock()
	if known {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.learned[waba], t) {
		r.learned[waba] = append(r.learned[waba], t)
	}
}
