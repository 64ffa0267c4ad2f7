package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The peer of the comparison: whatsapp-api-js on node:http, from ../shared/bench/peer. Its
// code is installed from npm into a temporary folder at run time, never kept in this
// repository.
const (
	PeerScript  = "wa-api-js-server.mjs"
	PeerPackage = "whatsapp-api-js@6"
)

// defaultPeerHarness is ../shared/bench/peer beside the repository root (the folder
// holding go.mod, found upwards from the working directory), or relative to the working
// directory when there is none.
func defaultPeerHarness() string {
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Join("..", "shared", "bench", "peer")
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "..", "shared", "bench", "peer")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, "..", "shared", "bench", "peer")
		}
	}
}

// InstallPeer copies the harness script from harness into dir and installs whatsapp-api-js
// there with npm (`npm init -y && npm install whatsapp-api-js@6`), unless dir already has
// it.
func InstallPeer(ctx context.Context, harness, dir string) error {
	src, err := os.ReadFile(filepath.Join(harness, PeerScript))
	if err != nil {
		return fmt.Errorf("peer harness: %w (set -peer-harness to the folder holding %s)", err, PeerScript)
	}
	if err := os.WriteFile(filepath.Join(dir, PeerScript), src, 0o644); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "whatsapp-api-js", "package.json")); err == nil {
		return nil
	}
	for _, args := range [][]string{{"init", "-y"}, {"install", "--no-audit", "--no-fund", PeerPackage}} {
		cmd := exec.CommandContext(ctx, "npm", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("npm %s in %s: %w\n%s", strings.Join(args, " "), dir, err, out)
		}
	}
	return nil
}

// StartPeer starts `node wa-api-js-server.mjs PORT APP_SECRET` in dir (installed by
// InstallPeer) on a free local port and waits until it accepts connections.
func StartPeer(ctx context.Context, dir, appSecret string) (*ServeProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command("node", PeerScript, strconv.Itoa(port), appSecret)
	cmd.Dir = dir
	return startProcReady(ctx, cmd, filepath.Join(dir, "peer.log"), func() (string, bool) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return "", false
		}
		c.Close()
		return addr, true
	})
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// PeerCount asks the peer at base (http://host:port) how many messages it has handled
// (GET /count).
func PeerCount(ctx context.Context, base string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/count", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("peer count: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return 0, fmt.Errorf("peer count: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if resp.StatusCode != http.StatusOK || err != nil {
		return 0, fmt.Errorf("peer count: GET /count answered %d %q, want 200 and a number", resp.StatusCode, b)
	}
	return n, nil
}

// drivePeer drives the peer at base with batches (their own URLs ignored) and returns how
// many messages its GET /count went up by. That must be every message posted, except that
// whatsapp-api-js 6 handles only the first message of a webhook
// (entry[0].changes[0].value.messages[0]): with several messages per POST, one per
// acknowledged POST is what it counts, and drivePeer accepts that (the caller says so).
func drivePeer(ctx context.Context, cfg LoadConfig, batches []Batch, base string) (r *LoadResult, counted int, err error) {
	before, err := PeerCount(ctx, base)
	if err != nil {
		return nil, 0, err
	}
	cfg.URL, cfg.URLs = base+"/", nil
	r = Drive(ctx, cfg, withoutURLs(batches))
	after, err := PeerCount(ctx, base)
	if err != nil {
		return r, 0, err
	}
	posted := 0
	for _, b := range batches {
		posted += len(b.IDs)
	}
	counted = after - before
	if counted != posted && (counted != r.Acked || r.Failed > 0) {
		return r, counted, fmt.Errorf("the peer counted %d messages, %d were posted (%d POSTs failed; first failure: %s)", counted, posted, r.Failed, r.FirstError)
	}
	return r, counted, nil
}

// runPeer installs the peer (into -peer-dir, or a temporary folder removed afterwards),
// starts it, drives it with batches and reports.
func runPeer(ctx context.Context, o options, out io.Writer, batches []Batch) (*LoadResult, error) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("-peer needs %s on PATH: %w", tool, err)
		}
	}
	dir := o.peerDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "gtc-load-peer-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	harness := o.peerHarness
	if harness == "" {
		harness = defaultPeerHarness()
	}
	if err := InstallPeer(ctx, harness, dir); err != nil {
		return nil, err
	}
	p, err := StartPeer(ctx, dir, LoadAppSecret)
	if err != nil {
		return nil, err
	}
	defer p.Stop(10 * time.Second)
	time.Sleep(time.Second) // as for gtc serve: let it settle before reading its idle RSS
	idle, _, _ := p.Memory()
	fmt.Fprintf(out, "machine before the peer: %s\n", machineLoad())
	cpu0, self0 := procCPU(p), selfCPU()
	r, counted, err := drivePeer(ctx, o.loadConfig("", LoadAppSecret, LoadPhoneNumberID), batches, "http://"+p.Addr)
	if r != nil {
		report(out, "peer (whatsapp-api-js 6 on node:http)", r)
		printCPU(out, "peer", procCPU(p)-cpu0, selfCPU()-self0, r.Elapsed)
	}
	if err != nil {
		return r, err
	}
	if counted == len(r.AckedIDs) {
		fmt.Fprintf(out, "  peer counted every message posted (%d)\n", counted)
	} else {
		fmt.Fprintf(out, "  peer counted %d of %d messages: whatsapp-api-js handles only the first message of each webhook\n", counted, len(r.AckedIDs))
	}
	_, peak, _ := p.Memory()
	fmt.Fprintf(out, "  peer RSS: idle %s, peak %s\n", mib(idle), mib(peak))
	return r, nil
}

// withoutURLs returns a copy of batches that go to the driver's URL.
func withoutURLs(batches []Batch) []Batch {
	out := make([]Batch, len(batches))
	for i, b := range batches {
		b.URL = ""
		out[i] = b
	}
	return out
}
