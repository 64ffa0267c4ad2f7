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

// TestNumberVariants: the country rules under which a wa_id and the number as typed differ
// (Mexico 52 ↔ 521, Argentina 54 ↔ 549, Brazil's ninth mobile digit), both ways, and the
// numbers they must not touch.
func TestNumberVariants(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"Mexico typed → wa_id", "525512345678", []string{"5215512345678"}},
		{"Mexico wa_id → typed", "5215512345678", []string{"525512345678"}},
		{"Argentina typed → wa_id", "541123456789", []string{"5491123456789"}},
		{"Argentina wa_id → typed", "5491123456789", []string{"541123456789"}},
		{"Brazil typed with 9 → wa_id without", "5511987654321", []string{"551187654321"}},
		{"Brazil wa_id without 9 → typed with", "551187654321", []string{"5511987654321"}},
		{"Brazil landline (begins with 3) has none", "551133334444", nil},
		{"Brazil 13 digits without the ninth digit has none", "5511887654321", nil},
		{"Mexico too short", "52551234567", nil},
		{"Mexico too long", "52155123456789", nil},
		{"Germany", "4915123456789", nil},
		{"US", "14155552671", nil},
		{"not digits", "US.13491208655302741918", nil},
		{"with plus", "+525512345678", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NumberVariants(tt.in)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("NumberVariants(%q) = %q, want %q", tt.in, got, tt.want)
			}
			for _, v := range got {
				if back := NumberVariants(v); len(back) != 1 || back[0] != tt.in {
					t.Errorf("NumberVariants(%q) = %q, want back %q", v, back, tt.in)
				}
			}
		})
	}
}

func TestNormalizeRecipient(t *testing.T) {
	tests := []struct{ in, want, errContains string }{
		{in: " US.13491208655302741918 ", want: "US.13491208655302741918"},
		{in: "US.ENT.11815799212886844830", want: "US.ENT.11815799212886844830"},
		{in: "+52 55 1234 5678", want: "+525512345678"},
		{in: "US.", errContains: "unexpected character 'U'"},
		{in: "5512345678", errContains: "no country code"},
	}
	for _, tt := range tests {
		got, err := NormalizeRecipient(tt.in)
		if tt.errContains != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errContains) {
				t.Errorf("NormalizeRecipient(%q) = %q, %v; want an error with %q", tt.in, got, err, tt.errContains)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeRecipient(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
