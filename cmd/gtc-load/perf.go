package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// perfRecord is `perf record` attached to one process, for a CPU profile of gtc serve (it
// serves no /debug/pprof). Read the result with `perf report -i FILE --no-children`.
type perfRecord struct {
	cmd  *exec.Cmd
	file string
}

// startPerf samples pid's call stacks into file until Stop.
func startPerf(pid int, file string) (*perfRecord, error) {
	if _, err := exec.LookPath("perf"); err != nil {
		return nil, fmt.Errorf("-perf needs perf on PATH: %w", err)
	}
	cmd := exec.Command("perf", "record", "-q", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", file)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start perf: %w", err)
	}
	time.Sleep(300 * time.Millisecond) // perf attaches before the phase starts
	return &perfRecord{cmd: cmd, file: file}, nil
}

// Stop ends the recording (SIGINT: perf writes its file and exits).
func (p *perfRecord) Stop() error {
	if p == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		// perf writes its file on SIGINT and then dies of that signal: that is success.
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("perf record: %w", err)
		}
		if _, err := os.Stat(p.file); err != nil {
			return fmt.Errorf("perf record wrote nothing: %w", err)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("perf record did not stop within 30s")
	}
}
