package whatsapp

import (
	"strings"
	"testing"
)

func TestNormalizeE164(t *testing.T) {
	tests := []struct {
		in, want, errContains string
	}{
		{in: "+4915123456789", want: "+4915123456789"},
		{in: "004915123456789", want: "+4915123456789"},
		{in: " +49 151 2345-6789 ", want: "+4915123456789"},
		{in: "(+49) 151/23456789", want: "+4915123456789"},
		{in: "+1 415 555 2671", want: "+14155552671"},
		{in: "+15550001111", want: "+15550001111"},
		{in: "015123456789", errContains: "add the country code, e.g. +49"},
		{in: "4915123456789", errContains: "add the country code"},
		{in: "", errContains: "empty"},
		{in: "+49abc", errContains: "unexpected character 'a'"},
		{in: "+4+9151", errContains: "unexpected character '+'"},
		{in: "+491", errContains: "7 to 15 digits"},
		{in: "+4915123456789012345", errContains: "7 to 15 digits"},
		{in: "+99912345678", errContains: "country code"},
		{in: "+49 0151 23456789", errContains: "drop the 0 after the country code: did you mean +4915123456789?"},
		{in: "+4900000", errContains: "not a possible number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeE164(tt.in)
			if tt.errContains != "" {
				if err == nil {
					t.Fatalf("NormalizeE164(%q) = %q, want an error", tt.in, got)
				}
				if !strings.Contains(err.Error(), tt.errContains) {
					t.Fatalf("error %q does not contain %q", err, tt.errContains)
				}
				return
			}
			if err != nil {
				t.Fatalf("NormalizeE164(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("NormalizeE164(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzNormalizeE164(f *testing.F) {
	for _, s := range []string{"+4915123456789", "0049 151", "015123456789", "+", "00", "+1 (415) 555-2671"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeE164(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(got, "+") || len(got) < 8 || len(got) > 16 {
			t.Fatalf("NormalizeE164(%q) = %q: not E.164", s, got)
		}
		again, err := NormalizeE164(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q → %q, %v", s, got, again, err)
		}
	})
}
