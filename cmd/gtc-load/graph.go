package main

import (
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/greentic/gtc/pkg/graphfake"
)

// Graph is graphfake served on a local port, with every message sent to it recorded: one
// fake per phone number of the load bundle, behind one address that routes each call to
// the fake of the phone number in its path.
type Graph struct {
	URL      string
	Recorder *ReplyRecorder
	fakes    []*graphfake.Server
	hs       *http.Server
}

// StartGraph starts graphfake for the load bundle's phone number and token.
func StartGraph() (*Graph, error) { return StartGraphNumbers(Numbers(1)) }

// StartGraphNumbers starts one graphfake per number (all accepting LoadToken) behind one
// local address.
func StartGraphNumbers(numbers []Number) (*Graph, error) { return StartGraphWith(numbers, nil) }

// StartGraphWith is StartGraphNumbers with each fake's options changed by opt (nil: none),
// e.g. to post status webhooks.
func StartGraphWith(numbers []Number, opt func(*graphfake.Options)) (*Graph, error) {
	g := &Graph{}
	byID := map[string]http.Handler{}
	for _, n := range numbers {
		o := graphfake.Options{Token: LoadToken, PhoneNumberID: n.PhoneNumberID, BusinessAccountID: LoadWABAID}
		if opt != nil {
			opt(&o)
		}
		fake := graphfake.New(o)
		g.fakes = append(g.fakes, fake)
		byID[n.PhoneNumberID] = fake.Handler()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		g.Close()
		return nil, err
	}
	first := byID[numbers[0].PhoneNumberID]
	route := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := byID[phoneIDOf(r.URL.Path)]; ok {
			h.ServeHTTP(w, r)
			return
		}
		first.ServeHTTP(w, r) // calls that name no phone number (media, templates by WABA)
	})
	g.Recorder = NewReplyRecorder(route)
	g.URL = "http://" + ln.Addr().String()
	g.hs = &http.Server{Handler: g.Recorder}
	go func() {
		if err := g.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return g, nil
}

// phoneIDOf returns the path segment after the Graph version ("/v26.0/{id}/messages" →
// id), or "".
func phoneIDOf(path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) < 2 || !strings.HasPrefix(parts[0], "v") {
		return ""
	}
	return parts[1]
}

// Fake is the double of the i-th number (0 for the load bundle's one), to slow it down
// or make it fail.
func (g *Graph) Fake(i int) *graphfake.Server { return g.fakes[i] }

// Close stops the listener and the fakes.
func (g *Graph) Close() {
	if g.hs != nil {
		_ = g.hs.Close()
	}
	for _, f := range g.fakes {
		f.Close()
	}
}
