package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// cmdWebhook is the serve scripts' HTTP client:
//
//	webhook [-secret S] [-sig VALUE] ADDRFILE METHOD PATH [BODYFILE]
//
// It waits (up to 30 s) for ADDRFILE, which `gtc serve --ready-file` writes, sends the
// request to that address, signs the body with -secret (or sends -sig as given), and writes
// "HTTP <code>" and the response body to stdout. With !, a 2xx answer fails the script.
func cmdWebhook(ts *testscript.TestScript, neg bool, args []string) {
	var secret, sig string
	for len(args) > 1 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-secret":
			secret = args[1]
		case "-sig":
			sig = args[1]
		default:
			ts.Fatalf("webhook: unknown flag %s", args[0])
		}
		args = args[2:]
	}
	if len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: webhook [-secret S] [-sig VALUE] ADDRFILE METHOD PATH [BODYFILE]")
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
		body = []byte(ts.ReadFile(args[3]))
	}
	req, err := http.NewRequest(args[1], "http://"+addr+args[2], bytes.NewReader(body))
	if err != nil {
		ts.Fatalf("webhook: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case sig != "":
		req.Header.Set(whatsapp.SignatureHeader, sig)
	case secret != "":
		req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(body, secret))
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		ts.Fatalf("webhook: %v", err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(ts.Stdout(), "HTTP %d\n%s", resp.StatusCode, rb)
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if ok == neg {
		ts.Fatalf("webhook: %s %s answered %d", args[1], args[2], resp.StatusCode)
	}
}
