package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/greentic/gtc/pkg/store"
	"github.com/greentic/gtc/pkg/whatsapp"
)

// SlowBodySize is the body size of the slow clients: one byte under Meta's 3 MB maximum,
// so a server must read it all and accept it.
const SlowBodySize = whatsapp.MaxWebhookBody - 1

// SlowConfig says how the slow clients behave.
type SlowConfig struct {
	URL, AppSecret, PhoneNumberID, RunID string
	Conns                                int           // connections, all open at once
	Size                                 int           // body bytes each (SlowBodySize)
	Over                                 time.Duration // how long each takes to send its body
	Tick                                 time.Duration // one write per tick (default 100 ms)
}

// SlowResult is what the slow clients saw: HTTP status codes of the answers, and the
// connections that got no answer (write or read errors, by message).
type SlowResult struct {
	Codes   map[int]int
	Errors  map[string]int
	Elapsed time.Duration
}

// SlowBody returns the parts of a signed webhook of exactly size bytes carrying one text
// message with id: head is the JSON up to its last brace, then pad spaces, then "}"
// (whitespace is valid JSON), and the X-Hub-Signature-256 of the whole.
func SlowBody(phoneID, id string, size int, appSecret string) (head []byte, pad int, sig string) {
	b := TextBatch(phoneID, Inbound{ID: id, From: ContactNumber(0), Text: "slow " + id}).Body
	head = b[:len(b)-1]
	pad = max(size-len(b), 0)
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(head)
	_, _ = io.Copy(m, io.LimitReader(spaces{}, int64(pad)))
	m.Write([]byte("}"))
	return head, pad, "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// spaces reads as an endless run of ' '.
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// SlowClients opens cfg.Conns connections to cfg.URL at once; each sends a signed
// cfg.Size-byte webhook spread evenly over cfg.Over, then reads the answer.
func SlowClients(ctx context.Context, cfg SlowConfig) SlowResult {
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	res := SlowResult{Codes: map[int]int{}, Errors: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, err := slowPost(ctx, cfg, MessageID(cfg.RunID+"slow", i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors[err.Error()]++
				return
			}
			res.Codes[code]++
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

func slowPost(ctx context.Context, cfg SlowConfig, id string) (int, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return 0, err
	}
	head, pad, sig := SlowBody(cfg.PhoneNumberID, id, cfg.Size, cfg.AppSecret)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	total := len(head) + pad + 1
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s: %s\r\n\r\n",
		u.RequestURI(), u.Host, total, whatsapp.SignatureHeader, sig)
	body := io.MultiReader(bytes.NewReader(head), io.LimitReader(spaces{}, int64(pad)), strings.NewReader("}"))
	ticks := max(int(cfg.Over/cfg.Tick), 1)
	chunk := int64((total + ticks - 1) / ticks)
	t := time.NewTicker(cfg.Tick)
	defer t.Stop()
	for sent := 0; sent < total; {
		n, err := io.CopyN(conn, body, chunk)
		sent += int(n)
		if err != nil && err != io.EOF {
			return 0, fmt.Errorf("write failed after %d MiB: %s", sent>>20, shortNetErr(err))
		}
		if sent < total {
			select {
			case <-t.C:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, fmt.Errorf("read answer: %s", shortNetErr(err))
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// shortNetErr drops the addresses from a network error so that equal failures count
// together.
func shortNetErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// String summarizes the answers: "100× 200" or "60× 200, 40× write …: connection reset".
func (r SlowResult) String() string {
	var parts []string
	codes := make([]int, 0, len(r.Codes))
	for c := range r.Codes {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d× HTTP %d", r.Codes[c], c))
	}
	errs := make([]string, 0, len(r.Errors))
	for e := range r.Errors {
		errs = append(errs, e)
	}
	sort.Strings(errs)
	for _, e := range errs {
		parts = append(parts, fmt.Sprintf("%d× %s", r.Errors[e], e))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// runSlowloris starts gtc serve (or, with -mode target, uses -url and -pid), opens
// o.slowloris slow clients against it and reports its RSS before, during and after.
func runSlowloris(ctx context.Context, o options, out io.Writer) error {
	cfg := SlowConfig{AppSecret: LoadAppSecret, PhoneNumberID: LoadPhoneNumberID, RunID: o.runID,
		Conns: o.slowloris, Size: SlowBodySize, Over: o.slowlorisTime}
	pid := o.pid
	if o.mode == "target" {
		if o.url == "" {
			return errors.New("-slowloris with -mode target needs -url (and -pid to read the server's memory)")
		}
		cfg.URL, cfg.AppSecret, cfg.PhoneNumberID = o.url, o.secret, o.phoneID
	} else {
		dir, err := os.MkdirTemp("", "gtc-load-slow-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		gtc := o.gtc
		if gtc == "" {
			if gtc, err = BuildGTC(ctx, dir); err != nil {
				return err
			}
		}
		graph, err := StartGraph()
		if err != nil {
			return err
		}
		defer graph.Close()
		bundle, err := MakeBundle(ctx, gtc, dir, graph.URL)
		if err != nil {
			return err
		}
		var extra []string
		if store.IsPostgres(o.database) {
			return errors.New("-slowloris measures the HTTP side on the bundle's SQLite: leave out -database postgres://…")
		}
		if o.database != "" {
			extra = []string{"--database", o.database}
		}
		p, err := StartServe(ctx, gtc, bundle, filepath.Join(dir, "serve.log"), extra...)
		if err != nil {
			return err
		}
		defer p.Stop(30 * time.Second)
		time.Sleep(time.Second)
		cfg.URL, pid = p.WebhookURL(), p.Cmd.Process.Pid
	}
	fmt.Fprintf(out, "slow clients: %d connections at once, each sending a signed %d-byte webhook over %s\n",
		cfg.Conns, cfg.Size, o.slowlorisTime)
	fmt.Fprintf(out, "machine: %s\n", machineLoad())
	var idle int64
	if pid > 0 {
		idle, _, _ = memoryOf(pid)
	}
	// Sample VmRSS while the clients run: VmHWM alone would also hold a peak from before.
	sctx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan int64, 1)
	go func() {
		var top int64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, _, err := memoryOf(pid); err == nil && rss > top {
				top = rss
			}
			select {
			case <-sctx.Done():
				sampled <- top
				return
			case <-t.C:
			}
		}
	}()
	res := SlowClients(ctx, cfg)
	stopSampling()
	top := <-sampled
	fmt.Fprintf(out, "  answers after %s: %s\n", res.Elapsed.Round(time.Millisecond), res)
	if pid > 0 {
		rss, hwm, err := memoryOf(pid)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  server RSS: idle %s before, %s at most while the clients ran (sampled every 50 ms), %s after; peak (VmHWM) %s\n",
			mib(idle), mib(top), mib(rss), mib(hwm))
		if o.maxRSS > 0 && top > o.maxRSS<<20 {
			return fmt.Errorf("the server's RSS reached %s with %d slow clients, above -max-rss %d MiB", mib(top), cfg.Conns, o.maxRSS)
		}
	} else if o.maxRSS > 0 {
		return errors.New("-max-rss needs the server's process: with -mode target give -pid")
	}
	return nil
}
