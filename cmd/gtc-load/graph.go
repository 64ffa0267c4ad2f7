package main

import (
	"errors"
	"net"
	"net/http"

	"github.com/greentic/gtc/pkg/graphfake"
)

// Graph is graphfake served on a local port, with every message sent to it recorded.
type Graph struct {
	URL      string
	Recorder *ReplyRecorder
	fake     *graphfake.Server
	hs       *http.Server
}

// StartGraph starts graphfake for the load bundle's phone number and token.
func StartGraph() (*Graph, error) {
	fake := graphfake.New(graphfake.Options{Token: LoadToken, PhoneNumberID: LoadPhoneNumberID, BusinessAccountID: LoadWABAID})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fake.Close()
		return nil, err
	}
	rec := NewReplyRecorder(fake.Handler())
	g := &Graph{URL: "http://" + ln.Addr().String(), Recorder: rec, fake: fake, hs: &http.Server{Handler: rec}}
	go func() {
		if err := g.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return g, nil
}

// Close stops the listener and graphfake.
func (g *Graph) Close() {
	_ = g.hs.Close()
	g.fake.Close()
}
