package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestClassOfCode(t *testing.T) {
	table := map[ErrorClass][]int{
		ClassRateLimited:  {4, 80007, 130429, 131056},
		ClassTransient:    {1, 2, 131000, 131016, 133004, 131057},
		ClassSpamLimit:    {131048, 131064},
		ClassWindowClosed: {131047},
		ClassUnreachable:  {131026, 131049, 131050, 130472, 130403},
		ClassBadRequest: {100, 131008, 131009, 131051, 131052, 131053, 132000, 132001, 132005,
			132007, 132008, 132012, 132015, 132016, 131030, 131062},
		ClassAuth:    {0, 190, 3, 10, 200, 250, 299, 368, 131031, 131042, 130497},
		ClassUnknown: {5, 300, 999999},
	}
	for want, codes := range table {
		for _, code := range codes {
			t.Run(fmt.Sprint(code), func(t *testing.T) {
				if got := ClassOfCode(code); got != want {
					t.Errorf("ClassOfCode(%d) = %q, want %q", code, got, want)
				}
			})
		}
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		class  ErrorClass
		rl     bool
		expect bool
	}{
		{ClassTransient, false, true},
		{ClassRateLimited, false, false},
		{ClassRateLimited, true, true},
		{ClassSpamLimit, true, false},
		{ClassWindowClosed, true, false},
		{ClassUnreachable, true, false},
		{ClassBadRequest, true, false},
		{ClassAuth, true, false},
		{ClassUnknown, true, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.class, tt.rl), func(t *testing.T) {
			if got := tt.class.Retryable(tt.rl); got != tt.expect {
				t.Errorf("Retryable = %v, want %v", got, tt.expect)
			}
		})
	}
}

func TestDecodeGraphError(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		class      ErrorClass
		code       int
		advice     string
		msgContain string
	}{
		{"window closed", 400, `{"error":{"message":"Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed"},"fbtrace_id":"Az8"}}`,
			ClassWindowClosed, 131047, "send an approved template", "more than 24 hours"},
		{"template missing", 404, `{"error":{"message":"(#132001) Template name does not exist in the translation","type":"OAuthException","code":132001,"fbtrace_id":"A1"}}`,
			ClassBadRequest, 132001, "gtc templates list", "132001"},
		{"token expired", 401, `{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A2"}}`,
			ClassAuth, 190, "access token is invalid or expired", "190/463"},
		{"throughput", 400, `{"error":{"message":"(#130429) Rate limit hit","code":130429}}`,
			ClassRateLimited, 130429, "rate_per_second", "130429"},
		{"pair rate", 400, `{"error":{"message":"(#131056) pair rate limit","code":131056}}`,
			ClassRateLimited, 131056, "same recipient", "131056"},
		{"undeliverable", 400, `{"error":{"message":"Message undeliverable","code":131026}}`,
			ClassUnreachable, 131026, "not be delivered", "131026"},
		{"spam", 400, `{"error":{"message":"Spam rate limit hit","code":131048}}`,
			ClassSpamLimit, 131048, "spam", "131048"},
		{"5xx without body", 502, `<html>bad gateway</html>`, ClassTransient, 0, "temporary", "HTTP 502"},
		{"5xx with unknown code", 500, `{"error":{"message":"x","code":77777}}`, ClassTransient, 77777, "temporary", "77777"},
		{"429 without body", 429, ``, ClassRateLimited, 0, "rate limited", "HTTP 429"},
		{"unknown code", 400, `{"error":{"message":"new thing","code":424242}}`, ClassUnknown, 424242, "error reference", "new thing"},
		{"code decides over status", 200, `{"error":{"message":"x","code":131000}}`, ClassTransient, 131000, "temporary", "131000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ge := DecodeGraphError(tt.status, []byte(tt.body))
			if ge.Class != tt.class || ge.Code != tt.code {
				t.Fatalf("class/code = %s/%d, want %s/%d", ge.Class, ge.Code, tt.class, tt.code)
			}
			if !strings.Contains(ge.Advice(), tt.advice) {
				t.Errorf("Advice() = %q, want it to contain %q", ge.Advice(), tt.advice)
			}
			if !strings.Contains(ge.Error(), tt.msgContain) {
				t.Errorf("Error() = %q, want it to contain %q", ge.Error(), tt.msgContain)
			}
			if ClassOf(fmt.Errorf("wrapped: %w", ge)) != tt.class {
				t.Errorf("ClassOf(wrapped) lost the class")
			}
		})
	}
}

func TestEveryClassHasAdvice(t *testing.T) {
	for _, c := range []ErrorClass{ClassRateLimited, ClassTransient, ClassSpamLimit, ClassWindowClosed,
		ClassUnreachable, ClassBadRequest, ClassAuth, ClassInvalid, ClassUnknown} {
		if c.Advice() == "" {
			t.Errorf("class %s has no advice", c)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassOf(t *testing.T) {
	var ne net.Error = timeoutErr{}
	tests := []struct {
		name string
		err  error
		want ErrorClass
	}{
		{"nil", nil, ClassNone},
		{"deadline", context.DeadlineExceeded, ClassTransient},
		{"net", fmt.Errorf("post: %w", ne), ClassTransient},
		{"validation", &ValidationError{Problems: []FieldProblem{{"to", "is required"}}}, ClassInvalid},
		{"canceled", context.Canceled, ClassUnknown},
		{"other", errors.New("boom"), ClassUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassOf(tt.err); got != tt.want {
				t.Errorf("ClassOf = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzDecodeGraphError(f *testing.F) {
	f.Add(400, []byte(`{"error":{"message":"x","code":131047,"error_data":{"details":"d"}}}`))
	f.Add(500, []byte(`not json`))
	f.Add(200, []byte(`{"error":null}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		ge := DecodeGraphError(status, body)
		if ge.Class == ClassNone {
			t.Fatalf("no class for %d %q", status, body)
		}
		_ = ge.Error()
		_ = ge.Advice()
	})
}
