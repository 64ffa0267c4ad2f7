package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/greentic/gtc/pkg/calls"
	"github.com/greentic/gtc/pkg/flow"
	"github.com/greentic/gtc/pkg/store"
)

// Calls (http and ai nodes, DESIGN.md §9) are effects: the engine stops at the node with
// the conversation "calling" and returns the rendered Call; delivery runs it outside the
// contact's lease and feeds the result back in order with the contact's messages:
//
//   - the step's commit (the processed event, its replies, the conversation) also inserts a
//     gtc_call job with the Call, so a call is made exactly when its step is recorded;
//   - the job makes one try per River attempt (calls.Runner.Try, attempt = River's
//     job.Attempt): a try to retry returns an error and NextRetry schedules the next one
//     after the try's wait (Retry-After, else backoff with jitter); a final result is put
//     into the contact's queue as a store.KindResult event, deduplicated per conversation
//     and step, so a job run again after a crash between the call and its result makes the
//     call again (with the same Idempotency-Key, from the Call) but never steps twice;
//   - while the conversation is calling, the contact's messages stay pending (not consumed)
//     and the contact's lease is given back; the result's job processes the result first,
//     then the messages that waited;
//   - a call that takes over a second shows the contact the typing indicator on the message
//     that led to it (Runner.OnSlow, once per try).
//
// Secrets: the engine renders the call with a placeholder for every secrets.NAME (the
// lookup given to it only says whether NAME is set), so the Call in the job's args, like
// everything else in the database, holds no secret value. The job puts the values in just
// before the try (escaped for where they land: URL path, query, JSON body), and the Runner
// redacts them from the result.

// callArgs is a gtc_call job: run one call of a contact's conversation.
type callArgs struct {
	Contact      store.ContactRef `json:"contact"`
	Conversation string           `json:"conversation"`
	// MessageID is the inbound message that led to the call: the typing indicator shows on
	// it when the call is slow ("" for a start or a timeout).
	MessageID string     `json:"message_id,omitempty"`
	Call      *flow.Call `json:"call"`
}

func (callArgs) Kind() string { return "gtc_call" }

// resultEvent is the stored event of a call's result (the event column of a
// store.KindResult row). The result holds no secret (the Runner redacts them).
type resultEvent struct {
	Conversation string          `json:"conversation"`
	Step         int64           `json:"step"`
	MessageID    string          `json:"message_id,omitempty"`
	Result       flow.CallResult `json:"result"`
}

// callTries bounds a call job's River attempts: the call's own tries (calls.Retries + 1,
// decided by Runner.Try from the attempt number) and a few more for runs cut short by a
// crash or a shutdown (River counts those as attempts too).
const callSpareAttempts = 3

// errRetryCall makes River run the call job again (NextRetry says when).
var errRetryCall = errors.New("call will be tried again")

type callWorker struct {
	river.WorkerDefaults[callArgs]
	s     *Service
	waits sync.Map // job id → wait before the next try
}

func (w *callWorker) Timeout(job *river.Job[callArgs]) time.Duration {
	if job.Args.Call == nil {
		return time.Minute
	}
	return calls.Timeout(job.Args.Call) + 30*time.Second
}

func (w *callWorker) NextRetry(job *river.Job[callArgs]) time.Time {
	if d, ok := w.waits.LoadAndDelete(job.ID); ok {
		return time.Now().Add(d.(time.Duration))
	}
	return time.Now().Add(calls.Backoff(job.Attempt, nil))
}

func (w *callWorker) Work(ctx context.Context, job *river.Job[callArgs]) error {
	wait, err := w.s.runCall(ctx, job.Args, job.Attempt)
	if err != nil && job.Attempt >= job.MaxAttempts && job.Args.Call != nil {
		// River will not run it again: the conversation must not wait forever.
		w.s.log.Warn("call gave up: it was cut short too often", "tenant", job.Args.Contact.Tenant, "team", job.Args.Contact.Team,
			"flow", job.Args.Call.Flow, "node", job.Args.Call.Node, "attempts", job.Attempt)
		return w.s.queueResult(context.WithoutCancel(ctx), job.Args, flow.CallResult{
			Err: fmt.Sprintf("the call did not finish: it was cut short %d times (gtc stopped or timed out during it)", job.Attempt)})
	}
	if errors.Is(err, errRetryCall) {
		w.waits.Store(job.ID, wait)
	}
	return err
}

// runCall makes try attempt of a call and, when it is final, queues its result. It returns
// errRetryCall (with the wait) for a try to repeat, and an error when ctx ended first.
func (s *Service) runCall(ctx context.Context, a callArgs, attempt int) (time.Duration, error) {
	if a.Call == nil {
		s.log.Error("call job without a call: dropped", "tenant", a.Contact.Tenant, "team", a.Contact.Team)
		return 0, nil
	}
	p := s.provider(a.Contact.Tenant, a.Contact.Team)
	var res flow.CallResult
	switch {
	case p == nil:
		res.Err = fmt.Sprintf("no provider %s/%s serves this contact any more", a.Contact.Tenant, a.Contact.Team)
	case p.Calls == nil:
		res.Err = "calls are not configured for this number"
	default:
		call, err := withSecrets(a.Call, p.Secret)
		if err != nil {
			res.Err = err.Error()
			break
		}
		r := *p.Calls
		r.OnSlow = func(ctx context.Context, c *flow.Call) { s.showTyping(ctx, p, a) }
		try, err := r.Try(ctx, call, attempt)
		if err != nil {
			return 0, err // ctx ended: River runs it again, same Idempotency-Key
		}
		if try.Retry {
			return try.Wait, errRetryCall
		}
		res = try.Result
	}
	return 0, s.queueResult(context.WithoutCancel(ctx), a, res)
}

// showTyping marks the message that led to a slow call read, with the typing indicator.
func (s *Service) showTyping(ctx context.Context, p *Provider, a callArgs) {
	if a.MessageID == "" {
		return
	}
	t, ok := p.Sender.(Typer)
	if !ok {
		return
	}
	if err := t.Typing(ctx, a.MessageID); err != nil {
		s.log.Warn("typing indicator failed", "tenant", a.Contact.Tenant, "team", a.Contact.Team, "message_id", a.MessageID,
			"class", s.cfg.Classify(err).Class)
	}
}

// queueResult records a call's result in the contact's queue (with its gtc_inbound job, in
// the same transaction). Twice is once: the dedupe key is the conversation and step.
func (s *Service) queueResult(ctx context.Context, a callArgs, res flow.CallResult) error {
	raw, err := json.Marshal(resultEvent{Conversation: a.Conversation, Step: a.Call.Step, MessageID: a.MessageID, Result: res})
	if err != nil {
		return err
	}
	_, err = s.st.Ingest(ctx, a.Contact.Tenant, a.Contact.Team, []store.InboundEvent{{Kind: store.KindResult,
		DedupeKey: fmt.Sprintf("result:%s:%d", a.Conversation, a.Call.Step), ContactKey: a.Contact.Key, Raw: raw}})
	return err
}

// callParams is the insert of a call job.
func (s *Service) callParams(a callArgs) river.InsertManyParams {
	return river.InsertManyParams{Args: a, InsertOpts: &river.InsertOpts{MaxAttempts: calls.Retries(a.Call) + 1 + callSpareAttempts}}
}

// insertJobs is the inTx of a commit that leaves waiting or calling conversations: their
// timeout and call jobs go in with them.
func (s *Service) insertJobs(ts []timeoutArgs, cs []callArgs) func(context.Context, *sql.Tx) error {
	if len(ts) == 0 && len(cs) == 0 {
		return nil
	}
	return func(ctx context.Context, tx *sql.Tx) error {
		params := make([]river.InsertManyParams, 0, len(ts)+len(cs))
		for _, t := range ts {
			params = append(params, s.timeoutParams(t))
		}
		for _, c := range cs {
			params = append(params, s.callParams(c))
		}
		_, err := s.ins.InsertManyTx(ctx, tx, params)
		return err
	}
}

// Secret placeholders: a secret is rendered as secretMark + "_" + NAME + "_" + secretMark.
// Only letters, digits and '_': escaping for a URL or JSON leaves it as it is.
const secretMark = "GTCSECRET"

var secretRef = regexp.MustCompile(secretMark + `_([A-Za-z0-9_]+?)_` + secretMark)

func secretPlaceholder(name string) string { return secretMark + "_" + name + "_" + secretMark }

// placeholderSecrets is the secret lookup the engine gets: whether NAME is set, with a
// placeholder for its value.
func placeholderSecrets(lookup func(string) (string, bool)) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if lookup == nil {
			return "", false
		}
		if _, ok := lookup(name); !ok {
			return "", false
		}
		return secretPlaceholder(name), true
	}
}

// withSecrets returns a copy of c with the secret placeholders replaced by the values of
// lookup, escaped for where they are, and c.Secrets listing the values.
func withSecrets(c *flow.Call, lookup func(string) (string, bool)) (*flow.Call, error) {
	out := *c
	out.Secrets = nil
	var missing error
	seen := map[string]bool{}
	sub := func(s string, esc func(string) string) string {
		return secretRef.ReplaceAllStringFunc(s, func(m string) string {
			name := secretRef.FindStringSubmatch(m)[1]
			var v string
			ok := false
			if lookup != nil {
				v, ok = lookup(name)
			}
			if !ok {
				missing = fmt.Errorf("secret %s is not set: add it to secrets.env or the environment", name)
				return ""
			}
			if !seen[name] {
				seen[name] = true
				out.Secrets = append(out.Secrets, v)
			}
			if esc != nil {
				return esc(v)
			}
			return v
		})
	}
	if h := c.HTTP; h != nil {
		req := *h
		q := strings.IndexByte(req.URL, '?')
		if q < 0 {
			req.URL = sub(req.URL, url.PathEscape)
		} else {
			req.URL = sub(req.URL[:q], url.PathEscape) + "?" + sub(req.URL[q+1:], url.QueryEscape)
		}
		req.Headers = append([]flow.HTTPHeader(nil), h.Headers...)
		for i := range req.Headers {
			req.Headers[i].Value = sub(req.Headers[i].Value, nil)
		}
		if req.Body != nil {
			var esc func(string) string
			if strings.Contains(strings.ToLower(req.ContentType), "json") {
				esc = jsonEscape
			}
			req.Body = []byte(sub(string(req.Body), esc))
		}
		out.HTTP = &req
	}
	if a := c.AI; a != nil {
		req := *a
		req.Messages = append([]flow.ChatMessage(nil), a.Messages...)
		for i := range req.Messages {
			req.Messages[i].Content = sub(req.Messages[i].Content, nil)
		}
		out.AI = &req
	}
	if missing != nil {
		return nil, missing
	}
	return &out, nil
}

// jsonEscape is v as the inside of a JSON string.
func jsonEscape(v string) string {
	b, _ := json.Marshal(v)
	return string(b[1 : len(b)-1])
}
