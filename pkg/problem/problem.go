// Package problem is how gtc reports bad input: every problem of a file at once, each with
// the file, the JSON/YAML path, the line and column, what is wrong and what to do.
//
// Parsers (answers.json, .ygtc flows, bundles, webhook bodies) collect problems in a List
// and return List.Err(); the CLI prints every problem and exits with the "invalid input"
// code when it sees an *Error.
package problem

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Severity tells whether a problem stops the command or is only worth knowing.
type Severity int

const (
	SeverityError Severity = iota
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Problem is one thing wrong with an input, and where.
type Problem struct {
	File     string   `json:"file,omitempty"`
	Path     string   `json:"path,omitempty"` // JSON/YAML path: messaging-whatsapp.verify_token, nodes[2].config
	Line     int      `json:"line,omitempty"` // 1-based; 0 when unknown
	Col      int      `json:"col,omitempty"`  // 1-based; 0 when unknown
	Msg      string   `json:"message"`        // what is wrong and, after a colon or "; ", what to do
	Severity Severity `json:"-"`
}

// String renders "file:line:col: path: message", leaving out the parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
			if p.Col > 0 {
				fmt.Fprintf(&b, ":%d", p.Col)
			}
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		fmt.Fprintf(&b, "%d:%d: ", p.Line, p.Col)
	}
	if p.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// List collects problems. The zero value is ready to use.
type List struct {
	items []Problem
}

// Add appends p.
func (l *List) Add(p Problem) { l.items = append(l.items, p) }

// Errorf adds an error at a place.
func (l *List) Errorf(file, path string, line, col int, format string, args ...any) {
	l.Add(Problem{File: file, Path: path, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

// Warnf adds a warning at a place.
func (l *List) Warnf(file, path string, line, col int, format string, args ...any) {
	l.Add(Problem{File: file, Path: path, Line: line, Col: col, Msg: fmt.Sprintf(format, args...), Severity: SeverityWarning})
}

// Merge appends every problem of other (nil-safe).
func (l *List) Merge(other *List) {
	if other != nil {
		l.items = append(l.items, other.items...)
	}
}

// All returns every problem, errors and warnings, sorted by file, line and column.
func (l *List) All() []Problem {
	out := append([]Problem(nil), l.items...)
	Sort(out)
	return out
}

// Errors returns the problems of error severity, sorted.
func (l *List) Errors() []Problem { return l.filter(SeverityError) }

// Warnings returns the problems of warning severity, sorted.
func (l *List) Warnings() []Problem { return l.filter(SeverityWarning) }

// HasErrors reports whether any problem is an error.
func (l *List) HasErrors() bool { return len(l.Errors()) > 0 }

func (l *List) filter(s Severity) []Problem {
	var out []Problem
	for _, p := range l.items {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	Sort(out)
	return out
}

// Err returns an *Error holding every error (and the warnings, for context) when there is at
// least one error, and nil otherwise.
func (l *List) Err() error {
	if !l.HasErrors() {
		return nil
	}
	return &Error{Problems: l.All()}
}

// Sort orders problems by file, line, column, then message, so output is stable.
func Sort(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Msg < b.Msg
	})
}

// Error is returned for invalid input. The CLI maps it to exit code 2.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	var lines []string
	n := 0
	for _, p := range e.Problems {
		if p.Severity == SeverityError {
			n++
		}
		lines = append(lines, p.String())
	}
	head := "1 problem"
	if n != 1 {
		head = fmt.Sprintf("%d problems", n)
	}
	return head + ":\n  " + strings.Join(lines, "\n  ")
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var pe *Error
	ok := errors.As(err, &pe)
	return pe, ok
}

// Nearest returns the candidate closest to key by edit distance, or "" when none is close
// enough to be a plausible typo (distance at most a third of the key's length, at least 2).
func Nearest(key string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := distance(strings.ToLower(key), strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := len(key) / 3
	if limit < 2 {
		limit = 2
	}
	if bestD < 0 || bestD > limit {
		return ""
	}
	return best
}

// UnknownKey is the message for a key that is not allowed, with the nearest known key.
func UnknownKey(key string, known []string) string {
	if n := Nearest(key, known); n != "" {
		return fmt.Sprintf("unknown key %s, did you mean %s?", key, n)
	}
	return fmt.Sprintf("unknown key %s: known keys are %s", key, strings.Join(known, ", "))
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
