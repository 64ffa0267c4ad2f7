package problem

import (
	"strings"
	"testing"
)

func TestNearest(t *testing.T) {
	known := []string{"enabled", "public_base_url", "phone_number_id", "access_token", "verify_token"}
	tests := []struct{ key, want string }{
		{"verify_tokn", "verify_token"},
		{"acess_token", "access_token"},
		{"enabld", "enabled"},
		{"zzz", ""},
		{"completely_different", ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := Nearest(tt.key, known); got != tt.want {
				t.Errorf("Nearest(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
	if got := UnknownKey("verify_tokn", known); got != "unknown key verify_tokn, did you mean verify_token?" {
		t.Errorf("UnknownKey = %q", got)
	}
}

func TestListErr(t *testing.T) {
	var l List
	if l.Err() != nil {
		t.Fatal("empty list must not be an error")
	}
	l.Warnf("a.json", "x", 1, 1, "only a warning")
	if l.Err() != nil {
		t.Fatal("warnings alone must not be an error")
	}
	l.Errorf("a.json", "b", 3, 5, "second")
	l.Errorf("a.json", "a", 2, 1, "first")
	err := l.Err()
	pe, ok := As(err)
	if !ok || len(pe.Problems) != 3 {
		t.Fatalf("Err() = %v", err)
	}
	want := "2 problems:\n  a.json:1:1: warning: x: only a warning\n  a.json:2:1: a: first\n  a.json:3:5: b: second"
	if got := err.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(Problem{Path: "p", Msg: "m"}.String(), "p: m") {
		t.Error("String without file")
	}
}
