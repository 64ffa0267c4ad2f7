package cmdutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestJSONLines(t *testing.T) {
	var out bytes.Buffer
	j := JSONLines(&out, func() time.Time { return time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC) })
	fmt.Fprint(j, `{"level":"INFO","msg":"already json"}`+"\n")
	fmt.Fprint(j, "Created bundle b\n  tenant/team:   default/default\n\n")
	fmt.Fprint(j, "answers.json:4:24: warning: plain http\nno newline at the end")
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []struct{ level, msg string }{
		{"INFO", "already json"}, {"INFO", "Created bundle b"}, {"INFO", "  tenant/team:   default/default"},
		{"WARN", "answers.json:4:24: warning: plain http"}, {"INFO", "no newline at the end"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, l := range lines {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %d is not JSON: %q", i+1, l)
		}
		if rec.Level != want[i].level || rec.Msg != want[i].msg {
			t.Errorf("line %d = %+v, want %+v", i+1, rec, want[i])
		}
	}
}
