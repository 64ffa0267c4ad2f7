package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/greentic/gtc/pkg/cli"
	"github.com/greentic/gtc/pkg/events/eventstest"
	"github.com/greentic/gtc/pkg/store/storetest"
)

// The .txtar scripts under testdata/script run the real command tree in-process as "gtc".
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"gtc": func() { os.Exit(cli.Main()) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "../../testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exit":       cmdExit,
			"eventually": cmdEventually,
			"webhook":    cmdWebhook,
			"graphfake":  cmdGraphfake,
			"eventsink":  eventstest.ScriptCmd,
		},
		Setup: func(env *testscript.Env) error {
			// Scripts find shared fixtures (answers, flows, webhook payloads) here.
			env.Setenv("GTC_TESTDATA", mustAbs("../../testdata"))
			env.Setenv("GTC_SHARED", mustAbs("../../../shared"))
			env.Setenv("NO_COLOR", "1")
			// Scripts that need PostgreSQL start with [!postgres] skip; they get a schema of
			// their own in $GTC_PG_URL.
			if base := os.Getenv(storetest.EnvPostgres); base != "" {
				dsn, drop, err := storetest.NewSchema(base)
				if err != nil {
					return err
				}
				env.Defer(func() {
					if err := drop(); err != nil {
						env.T().Log(err)
					}
				})
				env.Setenv("GTC_PG_URL", dsn)
				// The same with a password (trust auth ignores it): it must never be printed.
				if u, err := url.Parse(dsn); err == nil {
					u.User = url.UserPassword(u.User.Username(), "pg-s3cret-pw")
					env.Setenv("GTC_PG_URL_PW", u.String())
				}
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "postgres" {
				return os.Getenv(storetest.EnvPostgres) != "", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}

func mustAbs(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return wd + "/" + p
}

// cmdExit runs a program and checks its exit code: "exit 2 gtc setup ...". Its stdout and
// stderr are kept for the stdout/stderr commands that follow.
func cmdExit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exit CODE program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exit: bad code %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exit: %v", err)
	}
	if got != want {
		ts.Logf("[stdout]\n%s[stderr]\n%s", ts.ReadFile("stdout"), ts.ReadFile("stderr"))
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// cmdEventually runs a program until its stdout matches REGEXP, for up to 30 s: "eventually
// '"status": "sent"' gtc messages DIR --json" waits for state another process writes.
func cmdEventually(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: eventually REGEXP program [args...]")
	}
	re, err := regexp.Compile(args[0])
	if err != nil {
		ts.Fatalf("eventually: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ts.Exec(args[1], args[2:]...)
		if err == nil && re.MatchString(ts.ReadFile("stdout")) {
			return
		}
		if time.Now().After(deadline) {
			ts.Logf("[stdout]\n%s[stderr]\n%s", ts.ReadFile("stdout"), ts.ReadFile("stderr"))
			ts.Fatalf("eventually: %s never printed a match for %q (last error: %v)", args[1], args[0], err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
