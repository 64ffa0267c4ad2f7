package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Load-test bundle settings. The secrets are throwaway values for a local bundle.
const (
	LoadPhoneNumberID = "100000000000001"
	LoadWABAID        = "200000000000002"
	LoadToken         = "LOAD-TEST-ACCESS-TOKEN"
	LoadVerifyToken   = "load-verify-token"
	LoadAppSecret     = "load-app-secret"
	LoadTenant        = "default"
	LoadTeam          = "default"
	// LoadAPIKey is the send API's bearer key (tenant LoadTenant).
	LoadAPIKey = "load-api-key-0123456789abcdef"
)

// EchoFlow answers every text with "echo <text>", so each reply names its inbound message.
const EchoFlow = `name: echo
version: "1.0"
nodes:
  - id: echo
    type: reply
    config:
      message: "echo {{message.text}}"
triggers:
  - type: text
    target: echo
`

// BuildGTC compiles cmd/gtc into dir and returns the binary's path.
func BuildGTC(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "gtc")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/greentic/gtc/cmd/gtc")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build gtc: %w\n%s", err, out)
	}
	return bin, nil
}

// Number is one phone number of the load bundle: the tenant it is set up as (team
// LoadTeam) and its phone_number_id.
type Number struct {
	Tenant, PhoneNumberID string
}

// Numbers returns the k phone numbers of a load bundle. One number is the tenant
// "default" with LoadPhoneNumberID; k numbers are the tenants "num1" … "numk", each with a
// phone_number_id of its own (the first is LoadPhoneNumberID).
func Numbers(k int) []Number {
	if k <= 1 {
		return []Number{{Tenant: LoadTenant, PhoneNumberID: LoadPhoneNumberID}}
	}
	out := make([]Number, k)
	for i := range out {
		out[i] = Number{Tenant: fmt.Sprintf("num%d", i+1), PhoneNumberID: fmt.Sprintf("1000000000%05d", i+1)}
	}
	return out
}

// LoadReconcileWindow is the load bundle's reconcile_window, the shortest gtc accepts.
const LoadReconcileWindow = "10s"

// MakeBundle runs `gtc setup` for a bundle whose Graph API is graphURL, with pacing opened
// up to the Cloud API's maximum (1,000 msg/s) and only the echo flow.
func MakeBundle(ctx context.Context, gtc, dir, graphURL string) (string, error) {
	return MakeBundleNumbers(ctx, gtc, dir, graphURL, Numbers(1))
}

// MakeBundleNumbers is MakeBundle with one tenant per number (gtc setup once per number
// on the same bundle), each paced on its own at the Cloud API's maximum of 1,000 msg/s
// (rate_per_second is per phone number). Every tenant shares the app secret and the
// access token, as the numbers of one Meta app do.
func MakeBundleNumbers(ctx context.Context, gtc, dir, graphURL string, numbers []Number) (string, error) {
	bundle := filepath.Join(dir, "bundle")
	for _, n := range numbers {
		answers := map[string]any{"messaging-whatsapp": map[string]any{
			"enabled": true, "public_base_url": "http://127.0.0.1:8080",
			"tenant": n.Tenant, "team": LoadTeam,
			"phone_number_id": n.PhoneNumberID, "business_account_id": LoadWABAID,
			"access_token": LoadToken, "verify_token": LoadVerifyToken, "app_secret": LoadAppSecret,
			"api_base_url": graphURL, "rate_per_second": 1000, "recipient_interval": "1ms",
			"recipient_burst": 1000, "mark_read": false, "api_key": LoadAPIKey,
			// Most rigs post no status webhooks: a send left unclear by a kill waits this
			// long (not the default 3m) before it goes again.
			"reconcile_window": LoadReconcileWindow,
		}}
		data, _ := json.MarshalIndent(answers, "", "  ")
		af := filepath.Join(dir, "answers-"+n.Tenant+".json")
		if err := os.WriteFile(af, data, 0o600); err != nil {
			return "", err
		}
		cmd := exec.CommandContext(ctx, gtc, "setup", "--answers", af, bundle)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("gtc setup (tenant %s): %w\n%s", n.Tenant, err, out)
		}
	}
	flows := filepath.Join(bundle, "flows")
	old, _ := filepath.Glob(filepath.Join(flows, "*.ygtc"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(flows, "echo.ygtc"), []byte(EchoFlow), 0o644); err != nil {
		return "", err
	}
	return bundle, nil
}

// ServeProc is a `gtc serve` subprocess.
type ServeProc struct {
	Cmd  *exec.Cmd
	Addr string // host:port it listens on
	Log  string // path of its combined stdout/stderr
	done chan error
}

// StartServe starts `gtc serve bundle` on a random port and waits until it is listening.
func StartServe(ctx context.Context, gtc, bundle, logPath string, extra ...string) (*ServeProc, error) {
	readyFile := logPath + ".addr"
	args := append([]string{"serve", bundle, "--addr", "127.0.0.1:0", "--ready-file", readyFile, "--log-level", "warn"}, extra...)
	return startProc(ctx, gtc, readyFile, logPath, args...)
}

// startProc starts bin with args and waits until it has written its address to readyFile.
func startProc(ctx context.Context, bin, readyFile, logPath string, args ...string) (*ServeProc, error) {
	_ = os.Remove(readyFile)
	ready := func() (string, bool) {
		b, err := os.ReadFile(readyFile)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b)), true
		}
		return "", false
	}
	return startProcReady(ctx, exec.Command(bin, args...), logPath, ready)
}

// startProcReady starts cmd, its output appended to logPath, and waits until ready reports
// the address it listens on.
func startProcReady(ctx context.Context, cmd *exec.Cmd, logPath string, ready func() (string, bool)) (*ServeProc, error) {
	bin := cmd.Path
	// A load tool that dies (Ctrl+C, a closed pipe) takes its servers with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	p := &ServeProc{Cmd: cmd, Log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if addr, ok := ready(); ok {
			p.Addr = addr
			return p, nil
		}
		select {
		case err := <-p.done:
			p.done <- err
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s exited before listening: %v\n%s", filepath.Base(bin), err, out)
		case <-ctx.Done():
			p.Kill()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("%s was not ready within 60s (log: %s)", filepath.Base(bin), logPath)
		}
	}
}

// Kill sends SIGKILL and reaps the process.
func (p *ServeProc) Kill() {
	_ = p.Cmd.Process.Kill()
	err := <-p.done
	p.done <- err
}

// Stop sends SIGTERM and waits up to timeout for a clean exit; it returns the exit error.
func (p *ServeProc) Stop(timeout time.Duration) error {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("gtc serve did not stop within %s after SIGTERM", timeout)
	}
}

// Memory reads the process's resident set (VmRSS) and its peak (VmHWM), in bytes.
func (p *ServeProc) Memory() (rss, peak int64, err error) { return memoryOf(p.Cmd.Process.Pid) }

// memoryOf reads VmRSS and VmHWM of process pid from /proc (Linux only).
func memoryOf(pid int) (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parse %s: %w", k, err)
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			peak = n << 10
		}
	}
	return rss, peak, sc.Err()
}

// CPU reads the process's user + system CPU time so far.
func (p *ServeProc) CPU() (time.Duration, error) { return cpuOf(p.Cmd.Process.Pid) }

// cpuOf reads utime + stime of process pid from /proc/pid/stat (Linux only; clock ticks of
// 1/100 s, the value of USER_HZ on every Linux architecture Go supports).
func cpuOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces: count after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("read CPU time: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("read CPU time: short /proc/%d/stat", pid)
	}
	var ticks int64
	for _, s := range f[11:13] { // utime, stime (fields 14 and 15)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read CPU time: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// APIURL is the send API's POST /v1/messages on p.
func (p *ServeProc) APIURL() string { return "http://" + p.Addr + "/v1/messages" }

// WebhookURL is the webhook URL of the load bundle on p.
func (p *ServeProc) WebhookURL() string { return p.TenantURL(LoadTenant) }

// TenantURL is the webhook URL of tenant (team LoadTeam) on p.
func (p *ServeProc) TenantURL(tenant string) string {
	return "http://" + p.Addr + "/webhook/whatsapp/" + tenant + "/" + LoadTeam
}
