package events_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/greentic/gtc/pkg/events"
)

// A receiver checks the signature over the raw body before it reads the event, answers
// 2xx quickly, and dedupes on the event id (events come at least once).
func ExampleVerify() {
	const secret = "the events_secret"
	seen := map[string]bool{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := events.Verify(body, r.Header.Get(events.SignatureHeader), secret); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(events.DeliveryHeader)
		if !seen[id] {
			seen[id] = true
			fmt.Println("got", r.Header.Get(events.EventHeader), id)
		}
		w.WriteHeader(http.StatusNoContent)
	})

	body := []byte(`{"id":"evt_42","type":"handoff.requested"}`)
	for _, sig := range []string{events.Sign(body, secret), events.Sign(body, secret), "sha256=00"} {
		req := httptest.NewRequest(http.MethodPost, "/hooks/gtc", strings.NewReader(string(body)))
		req.Header.Set(events.SignatureHeader, sig)
		req.Header.Set(events.EventHeader, "handoff.requested")
		req.Header.Set(events.DeliveryHeader, "evt_42")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// got handoff.requested evt_42
	// 204
	// 204
	// 401
}

// The delivery job's loop for one outbox row: deliver, then either mark it delivered or
// reschedule it, or give it up after a day.
func ExampleNextAttempt() {
	created := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	now := created
	for attempt := 1; attempt <= 4; attempt++ {
		next, ok := events.NextAttempt(attempt, created, now)
		fmt.Println(attempt, next.Sub(created), ok)
		now = next
	}
	_, ok := events.NextAttempt(31, created, created.Add(24*time.Hour))
	fmt.Println("after a day:", ok)
	// Output:
	// 1 30s true
	// 2 1m30s true
	// 3 3m30s true
	// 4 7m30s true
	// after a day: false
}
