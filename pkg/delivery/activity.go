package delivery

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/greentic/gtc/pkg/store"
)

// Activity log (issue 17): one info line per inbound input and per reply outcome (kind,
// masked number, flow/node, result, latency; never text or secrets). Under load, past
// activityPerSecond lines in a second, the lines stop and one summary line per
// activitySummaryEvery says what happened instead.
const (
	activityPerSecond    = 20
	activitySummaryEvery = 10 * time.Second
)

type activityLog struct {
	log *slog.Logger

	mu       sync.Mutex
	second   time.Time
	lines    int
	held     map[string]int // "inbound message answered" → count, while lines are held
	flushing bool
}

func newActivityLog(log *slog.Logger) *activityLog {
	return &activityLog{log: log, held: map[string]int{}}
}

// line logs msg with attrs, or counts it under key while the rate is exceeded.
func (a *activityLog) line(key, msg string, attrs ...any) {
	now := time.Now()
	a.mu.Lock()
	if now.Sub(a.second) >= time.Second {
		a.second, a.lines = now, 0
	}
	a.lines++
	if a.lines <= activityPerSecond {
		a.mu.Unlock()
		a.log.Info(msg, attrs...)
		return
	}
	a.held[key]++
	if !a.flushing {
		a.flushing = true
		time.AfterFunc(activitySummaryEvery, a.flush)
	}
	a.mu.Unlock()
}

func (a *activityLog) flush() {
	a.mu.Lock()
	held := a.held
	a.held, a.flushing = map[string]int{}, false
	a.mu.Unlock()
	if len(held) == 0 {
		return
	}
	keys := make([]string, 0, len(held))
	total := 0
	for k, n := range held {
		keys = append(keys, k)
		total += n
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, held[k])
	}
	a.log.Info("busy: per-message lines summarised", "period", activitySummaryEvery.String(), "lines", total,
		"counts", strings.Join(parts, " "))
}

// maskContact shows enough of a contact to tell contacts apart in a log, not the number:
// +49151***871; a business-scoped user id keeps its first four characters.
func maskContact(key string) string {
	if isDigits(key) {
		if len(key) <= 6 {
			return "+***" + key[len(key)-min(2, len(key)):]
		}
		return "+" + key[:min(5, len(key)-5)] + "***" + key[len(key)-3:]
	}
	if len(key) <= 4 {
		return "***"
	}
	return key[:4] + "***"
}

// logInput logs one processed input of a contact's queue.
func (s *Service) logInput(w *contactWork, comp *store.Completion, replies int) {
	ev := comp.Event
	kind := ev.Kind
	if kind == store.KindMessage && ev.MessageType != "" {
		kind = ev.MessageType
	}
	result := "recorded"
	switch {
	case comp.Opt != nil && comp.Opt.OptedOut:
		result = "opted_out"
	case comp.Opt != nil:
		result = "opted_in"
	case replies > 0:
		result = "answered"
	}
	attrs := []any{"tenant", ev.Tenant, "team", ev.Team, "kind", kind, "contact", maskContact(ev.ContactKey), "result", result,
		"replies", replies, "latency_ms", time.Since(ev.ReceivedAt).Milliseconds()}
	if u := comp.Conversation; u != nil && u.State != nil {
		attrs = append(attrs, "flow", u.Flow, "node", u.Node, "state", u.Status)
	} else if u != nil && u.Ended != nil {
		attrs = append(attrs, "flow", u.Ended.Flow, "node", u.Ended.Node, "ended", u.Ended.Reason)
	}
	s.activity.line("inbound "+result, "inbound", attrs...)
}

// logReply logs one reply's send outcome; latency is from the message it answers (a flow
// reply in its job) or from when the reply was recorded.
func (s *Service) logReply(o *store.Outbound, f store.Finish, since time.Time) {
	if since.IsZero() {
		since = o.CreatedAt
	}
	r := f.Result
	attrs := []any{"tenant", o.Tenant, "team", o.Team, "contact", maskContact(o.ContactKey), "type", o.MessageType,
		"origin", o.Origin, "result", r.State}
	if !since.IsZero() {
		attrs = append(attrs, "latency_ms", time.Since(since).Milliseconds())
	}
	if o.Flow != "" {
		attrs = append(attrs, "flow", o.Flow, "node", o.Node)
	}
	if r.ErrorClass != "" {
		attrs = append(attrs, "class", r.ErrorClass, "code", r.ErrorCode)
	}
	s.activity.line("reply "+r.State, "reply", attrs...)
}
