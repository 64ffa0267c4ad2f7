package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// cmdWebhook is the serve scripts' HTTP client:
//
//	webhook [-secret S] [-sig VALUE] [-wait REGEXP] ADDRFILE METHOD PATH [BODYFILE]
//
// It waits (up to 30 s) for ADDRFILE, which `gtc serve --ready-file` writes, sends the
// request to that address, signs the body with -secret (or sends -sig as given), and writes
// "HTTP <code>" and the response body to stdout. In the body, @NOW@ becomes the current Unix
// time (so messages fall inside the 24-hour window). With -wait, the request is repeated
// (up to 30 s) until the response body matches REGEXP — for waiting on /metrics. With !, a
// 2xx answer fails the script.
func cmdWebhook(ts *testscript.TestScript, neg bool, args []string) {
	var secret, sig, wait, apiKeyOf, idem string
	for len(args) > 1 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-apikey": // bundle dir: send its GTC_API_KEY as the bearer token
			apiKeyOf = args[1]
		case "-idem": // Idempotency-Key header
			idem = args[1]
		case "-secret":
			secret = args[1]
		case "-sig":
			sig = args[1]
		case "-wait":
			wait = args[1]
		default:
			ts.Fatalf("webhook: unknown flag %s", args[0])
		}
		args = args[2:]
	}
	if len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: webhook [-secret S] [-sig VALUE] [-apikey BUNDLEDIR] [-idem KEY] [-wait REGEXP] ADDRFILE METHOD PATH [BODYFILE]")
	}
	addrFile := ts.MkAbs(args[0])
	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			addr = strings.TrimSpace(string(b))
			break
		}
		if time.Now().After(deadline) {
			ts.Fatalf("webhook: %s not written within 30s (did gtc serve start?)", args[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	var body []byte
	if len(args) == 4 {
		body = []byte(strings.ReplaceAll(ts.ReadFile(args[3]), "@NOW@", strconv.FormatInt(time.Now().Unix(), 10)))
	}
	var waitRE *regexp.Regexp
	if wait != "" {
		var err error
		if waitRE, err = regexp.Compile(wait); err != nil {
			ts.Fatalf("webhook: -wait: %v", err)
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	deadline = time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequest(args[1], "http://"+addr+args[2], bytes.NewReader(body))
		if err != nil {
			ts.Fatalf("webhook: %v", err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		if apiKeyOf != "" {
			env := ts.ReadFile(filepath.Join(ts.MkAbs(apiKeyOf), "secrets.env"))
			for _, line := range strings.Split(env, "\n") {
				if k, v, ok := strings.Cut(line, "="); ok && k == "GTC_API_KEY" {
					req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(v))
				}
			}
		}
		switch {
		case sig != "":
			req.Header.Set(whatsapp.SignatureHeader, sig)
		case secret != "":
			req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(body, secret))
		}
		resp, err := client.Do(req)
		if err != nil {
			ts.Fatalf("webhook: %v", err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if waitRE != nil && !waitRE.Match(rb) {
			if time.Now().After(deadline) {
				ts.Fatalf("webhook: %s %s never matched %q; last answer:\n%s", args[1], args[2], wait, rb)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		fmt.Fprintf(ts.Stdout(), "HTTP %d\n%s", resp.StatusCode, rb)
		ok := resp.StatusCode >= 200 && resp.StatusCode < 300
		if ok == neg {
			ts.Fatalf("webhook: %s %s answered %d", args[1], args[2], resp.StatusCode)
		}
		return
	}
}
