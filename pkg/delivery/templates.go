package delivery

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// templateListEvery bounds how often a provider's template list is read from Graph to
// learn a template's category (Graph allows 200 management calls an hour per account).
const templateListEvery = 10 * time.Minute

// templateLists remembers when each provider's template list was last read.
type templateLists struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// due reports whether the list of key may be read at now, and if so notes it read.
func (l *templateLists) due(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < templateListEvery {
		return false
	}
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	l.last[key] = now
	return true
}

// checkTemplate applies TemplateRefusal to a template message of tenant/team, and marks a
// marketing one for the Marketing Messages API when the provider uses it. A template the
// store cannot be asked about is left to Graph to judge.
func (s *Service) checkTemplate(ctx context.Context, p *Provider, msg *whatsapp.Message) *TemplateRefusedError {
	if !msg.IsTemplate() || msg.Template == nil {
		return nil
	}
	name, lang := msg.Template.Name, msg.Template.Language.Code
	t, err := s.st.TemplateState(ctx, p.Tenant, p.Team, name, lang)
	if err != nil {
		s.log.Warn("template state not read: Graph judges the send", "tenant", p.Tenant, "team", p.Team, "template", name, "err", err)
		return nil
	}
	if tr := TemplateRefusal(t); tr != nil {
		return tr
	}
	if p.MarketingMessages {
		category := ""
		if t != nil {
			category = t.Category
		}
		if category == "" {
			category = s.listedCategory(ctx, p, name, lang)
		}
		msg.Marketing = strings.EqualFold(category, "MARKETING")
	}
	return nil
}

// listedCategory reads the category of a template from the provider's template list on
// Graph (at most once every templateListEvery) and records the whole list in the store,
// so the next sends find it there. "" when the list cannot be read or lacks the template.
func (s *Service) listedCategory(ctx context.Context, p *Provider, name, lang string) string {
	tl, ok := p.Sender.(TemplateLister)
	now := s.now()
	if !ok || !s.tplLists.due(p.Tenant+"/"+p.Team, now) {
		return ""
	}
	list, err := tl.ListTemplates(ctx)
	if err != nil {
		s.log.Warn("template list not read: the template goes through /messages", "tenant", p.Tenant, "team", p.Team,
			"class", s.cfg.Classify(err).Class)
		return ""
	}
	ups := make([]store.TemplateUpdate, 0, len(list))
	category := ""
	for i := range list {
		t := &list[i]
		ups = append(ups, ListedTemplate(t, now))
		if t.Name == name && t.Language == lang {
			category = t.Category
		}
	}
	if err := s.st.RecordTemplates(ctx, p.Tenant, p.Team, ups); err != nil {
		s.log.Warn("template list not recorded", "tenant", p.Tenant, "team", p.Team, "err", err)
	}
	return category
}

// ListedTemplate is what Graph's template list says of t, read at now, as the store
// records it. The time is cut to the second, as Meta's webhooks give theirs: a webhook
// sent in the second the list was read is taken as the newer.
func ListedTemplate(t *whatsapp.TemplateInfo, now time.Time) store.TemplateUpdate {
	u := store.TemplateUpdate{Name: t.Name, Language: t.Language, ID: t.ID, Status: strings.ToUpper(t.Status),
		Category: strings.ToUpper(t.Category), Quality: strings.ToUpper(t.Quality()), Source: store.TemplateSourceGraph,
		At: now.Truncate(time.Second)}
	if r := t.RejectedReason; r != "" && !strings.EqualFold(r, "NONE") {
		u.Reason = r
	}
	return u
}
