package cmdutil

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// JSONLines wraps w (stderr) for --log-format json: a line that is already JSON (a log
// record) passes through, any other line a command prints for people (a summary, a
// warning, a confirmation) becomes a record {"time","level":"INFO","msg":line}, so every
// line on stderr is JSON. Call Flush at the end for a last line without a newline.
func JSONLines(w io.Writer, now func() time.Time) *JSONLineWriter {
	if now == nil {
		now = time.Now
	}
	return &JSONLineWriter{w: w, now: now}
}

// JSONLineWriter is what JSONLines returns.
type JSONLineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
	buf []byte
}

func (j *JSONLineWriter) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = append(j.buf, p...)
	for {
		i := bytes.IndexByte(j.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := j.buf[:i]
		j.buf = j.buf[i+1:]
		if err := j.writeLine(line); err != nil {
			return len(p), err
		}
	}
}

// Flush writes a pending partial line.
func (j *JSONLineWriter) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.buf) == 0 {
		return nil
	}
	line := j.buf
	j.buf = nil
	return j.writeLine(line)
}

func (j *JSONLineWriter) writeLine(line []byte) error {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 {
		return nil // a blank line carries nothing
	}
	if trimmed[0] == '{' && json.Valid(trimmed) {
		_, err := j.w.Write(append(append([]byte(nil), trimmed...), '\n'))
		return err
	}
	level := "INFO"
	if bytes.HasPrefix(trimmed, []byte("warning")) || bytes.Contains(trimmed, []byte(": warning: ")) {
		level = "WARN"
	}
	rec, err := json.Marshal(struct {
		Time  string `json:"time"`
		Level string `json:"level"`
		Msg   string `json:"msg"`
	}{j.now().Format(time.RFC3339Nano), level, string(bytes.TrimRight(line, " \r\t"))})
	if err != nil {
		return err
	}
	_, err = j.w.Write(append(rec, '\n'))
	return err
}
