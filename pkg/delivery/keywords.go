package delivery

import (
	"slices"
	"strings"
)

// normalizeKeyword folds case and collapses whitespace: " Stop  " → "STOP".
func normalizeKeyword(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), " "))
}

func matchKeyword(text string, list, def []string) bool {
	if len(list) == 0 {
		list = def
	}
	t := normalizeKeyword(text)
	if t == "" {
		return false
	}
	return slices.ContainsFunc(list, func(k string) bool { return normalizeKeyword(k) == t })
}

var (
	defaultOptOut = []string{"STOP", "UNSUBSCRIBE"}
	defaultOptIn  = []string{"START", "SUBSCRIBE"}
)
