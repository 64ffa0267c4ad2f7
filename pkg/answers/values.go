package answers

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/problem"
	"github.com/greentic/gtc/pkg/secret"
)

// Values returns the answers as strings keyed like answers.json, for a form to start from.
// Secrets are included as written (the secret or its ${NAME} reference): keep the map in
// memory and mask those fields (IsSecret). Keyword lists are comma-separated.
func (a *Answers) Values() map[string]string {
	v := map[string]string{
		FieldEnabled:           strconv.FormatBool(a.Enabled),
		FieldPublicBaseURL:     a.PublicBaseURL,
		FieldPhoneNumberID:     a.PhoneNumberID,
		FieldAccessToken:       a.AccessToken.Raw(),
		FieldVerifyToken:       a.VerifyToken.Raw(),
		FieldBusinessAccountID: a.BusinessAccountID,
		FieldAPIVersion:        a.APIVersion,
		FieldAppSecret:         a.AppSecret.Raw(),
		FieldAPIKey:            a.APIKey.Raw(),
		FieldTenant:            a.Tenant,
		FieldTeam:              a.Team,
		FieldAPIBaseURL:        a.APIBaseURL,
		FieldRatePerSecond:     strconv.FormatFloat(a.RatePerSecond, 'g', -1, 64),
		FieldRecipientInterval: a.RecipientInterval.String(),
		FieldRecipientBurst:    strconv.Itoa(a.RecipientBurst),
		FieldMessagingLimit:    strconv.Itoa(a.MessagingLimit),
		FieldOptOutKeywords:    strings.Join(a.OptOutKeywords, ", "),
		FieldOptInKeywords:     strings.Join(a.OptInKeywords, ", "),
		FieldMarkRead:          strconv.FormatBool(a.MarkRead),

		FieldConversationTimeout: FormatDuration(a.ConversationTimeout),
		FieldReconcileWindow:     FormatDuration(a.ReconcileWindow),
		FieldOrderAPIURL:         a.OrderAPIURL,
		FieldHTTPAllow:           strings.Join(a.HTTPAllow, ", "),
		FieldEventsURL:           a.EventsURL,
		FieldEventsSecret:        a.EventsSecret.Raw(),
		FieldRetentionMessages:   FormatDuration(a.Retention.Messages),
		FieldRetentionIdemKeys:   FormatDuration(a.Retention.IdempotencyKeys),
		FieldMarketingMessages:   strconv.FormatBool(a.MarketingMessages),
	}
	if a.LLM != nil {
		v[FieldLLMBaseURL], v[FieldLLMModel], v[FieldLLMAPIKey] = a.LLM.BaseURL, a.LLM.Model, a.LLM.APIKey.Raw()
	}
	if a.Portfolio != nil {
		v[FieldPortfolioID], v[FieldPortfolioLimit] = a.Portfolio.ID, strconv.Itoa(a.Portfolio.MessagingLimit)
	}
	return v
}

// ValueFields are the keys of Values and FromValues: the provider keys with the nested
// ones (llm, retention, portfolio) spelled with a dot, like "llm.model".
var ValueFields = func() []string {
	var out []string
	for _, f := range ProviderFields {
		switch f {
		case FieldLLM:
			out = append(out, FieldLLMBaseURL, FieldLLMModel, FieldLLMAPIKey)
		case FieldRetention:
			out = append(out, FieldRetentionMessages, FieldRetentionIdemKeys)
		case FieldPortfolio:
			out = append(out, FieldPortfolioID, FieldPortfolioLimit)
		default:
			out = append(out, f)
		}
	}
	return out
}()

// FromValues builds answers from strings keyed like answers.json (what a form collects):
// missing keys keep their defaults, empty optional values mean the default too. It returns
// the answers and every problem, with JSON paths like messaging-whatsapp.phone_number_id;
// unknown keys are problems as in a file.
func FromValues(v map[string]string) (*Answers, *problem.List) {
	a := Default()
	var l problem.List
	bad := func(field, format string, args ...any) {
		l.Errorf("", ProviderID+"."+field, 0, 0, format, args...)
	}
	for _, k := range sortedFields(v) {
		s := strings.TrimSpace(v[k])
		switch k {
		case FieldEnabled, FieldMarkRead, FieldMarketingMessages:
			if s == "" && k == FieldMarketingMessages {
				continue
			}
			b, err := strconv.ParseBool(s)
			if err != nil {
				bad(k, "must be true or false")
				continue
			}
			switch k {
			case FieldEnabled:
				a.Enabled = b
			case FieldMarkRead:
				a.MarkRead = b
			default:
				a.MarketingMessages = b
			}
		case FieldConversationTimeout, FieldReconcileWindow, FieldRetentionMessages, FieldRetentionIdemKeys:
			if s == "" {
				continue
			}
			d, err := ParseDuration(s)
			if err != nil {
				bad(k, "must be a duration like \"1h\", \"30m\" or \"90d\"")
				continue
			}
			switch k {
			case FieldConversationTimeout:
				a.ConversationTimeout = d
			case FieldReconcileWindow:
				a.ReconcileWindow = d
			case FieldRetentionMessages:
				a.Retention.Messages = d
			default:
				a.Retention.IdempotencyKeys = d
			}
		case FieldOrderAPIURL:
			a.OrderAPIURL = s
		case FieldEventsURL:
			a.EventsURL = s
		case FieldEventsSecret:
			a.EventsSecret = secret.New(v[k])
		case FieldHTTPAllow:
			a.HTTPAllow = nil
			for _, p := range strings.Split(s, ",") {
				if p = strings.TrimSpace(p); p != "" {
					a.HTTPAllow = append(a.HTTPAllow, normalizePattern(p))
				}
			}
		case FieldLLMBaseURL, FieldLLMModel, FieldLLMAPIKey:
			if s == "" {
				continue
			}
			if a.LLM == nil {
				a.LLM = &LLM{BaseURL: DefaultLLMBaseURL}
			}
			switch k {
			case FieldLLMBaseURL:
				a.LLM.BaseURL = s
			case FieldLLMModel:
				a.LLM.Model = s
			default:
				a.LLM.APIKey = secret.New(v[k])
			}
		case FieldPortfolioID, FieldPortfolioLimit:
			if s == "" {
				continue
			}
			if a.Portfolio == nil {
				a.Portfolio = &Portfolio{MessagingLimit: -1}
			}
			if k == FieldPortfolioID {
				a.Portfolio.ID = s
				continue
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				bad(k, "must be a whole number")
				continue
			}
			a.Portfolio.MessagingLimit = n
		case FieldPublicBaseURL:
			a.PublicBaseURL = s
		case FieldPhoneNumberID:
			a.PhoneNumberID = s
		case FieldBusinessAccountID:
			a.BusinessAccountID = s
		case FieldAPIVersion:
			if s != "" {
				a.APIVersion = s
			}
		case FieldAPIBaseURL:
			if s != "" {
				a.APIBaseURL = s
			}
		case FieldTenant:
			if s != "" {
				a.Tenant = s
			}
		case FieldTeam:
			if s != "" {
				a.Team = s
			}
		case FieldAccessToken:
			a.AccessToken = secret.New(v[k])
		case FieldVerifyToken:
			a.VerifyToken = secret.New(v[k])
		case FieldAppSecret:
			a.AppSecret = secret.New(v[k])
		case FieldAPIKey:
			a.APIKey = secret.New(v[k])
		case FieldRatePerSecond:
			if s == "" {
				continue
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				bad(k, "must be a number of messages per second, like 80")
				continue
			}
			a.RatePerSecond = f
		case FieldRecipientBurst, FieldMessagingLimit:
			if s == "" {
				continue
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				bad(k, "must be a whole number")
				continue
			}
			if k == FieldRecipientBurst {
				a.RecipientBurst = n
			} else {
				a.MessagingLimit = n
			}
		case FieldRecipientInterval:
			if s == "" {
				continue
			}
			d, err := time.ParseDuration(s)
			if err != nil {
				bad(k, "must be a duration like \"6s\" or \"500ms\"")
				continue
			}
			a.RecipientInterval = d
		case FieldOptOutKeywords, FieldOptInKeywords:
			if s == "" {
				continue
			}
			var words []string
			for _, w := range strings.Split(s, ",") {
				if w = strings.TrimSpace(w); w != "" {
					words = append(words, w)
				}
			}
			if k == FieldOptOutKeywords {
				a.OptOutKeywords = words
			} else {
				a.OptInKeywords = words
			}
		default:
			l.Errorf("", ProviderID+"."+k, 0, 0, "%s", problem.UnknownKey(k, ValueFields))
		}
	}
	if a.Portfolio != nil && a.Portfolio.MessagingLimit == -1 {
		a.Portfolio.MessagingLimit = a.MessagingLimit
	}
	for _, f := range []struct{ name, v string }{
		{FieldPublicBaseURL, a.PublicBaseURL}, {FieldPhoneNumberID, a.PhoneNumberID},
		{FieldBusinessAccountID, a.BusinessAccountID}, {FieldAPIVersion, a.APIVersion},
		{FieldAPIBaseURL, a.APIBaseURL}, {FieldOrderAPIURL, a.OrderAPIURL}, {FieldEventsURL, a.EventsURL},
	} {
		if !isWholeRefOrPlain(f.v) {
			bad(f.name, "only a whole-value ${NAME} reference is supported: write the value itself or \"${NAME}\" alone")
		}
	}
	for _, p := range Check(a) {
		if p.Warning() {
			l.Warnf("", ProviderID+"."+p.Field(), 0, 0, "%s", p.Message())
		} else {
			l.Errorf("", ProviderID+"."+p.Field(), 0, 0, "%s", p.Message())
		}
	}
	return a, &l
}

func isWholeRefOrPlain(s string) bool {
	if _, ok := secret.IsRef(s); ok {
		return true
	}
	return !strings.Contains(s, "${")
}

func sortedFields(v map[string]string) []string {
	out := make([]string, 0, len(v))
	for _, f := range ValueFields {
		if _, ok := v[f]; ok {
			out = append(out, f)
		}
	}
	var unknown []string
	for k := range v {
		known := false
		for _, f := range ValueFields {
			known = known || f == k
		}
		if !known {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	return append(out, unknown...)
}
