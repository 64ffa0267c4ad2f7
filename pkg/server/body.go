package server

// Webhook bodies held in memory at once are bounded: a POST is refused before its body is
// read when its signature header cannot be right or its Content-Length is over the limit,
// and a read waits for room in a byte budget (two lanes, so big slow bodies cannot hold up
// the usual small webhooks). Bodies are read into pooled buffers of a few size classes.
// See docs/benchmarks.md (slow clients) for the measured bound.

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/greentic/gtc/pkg/whatsapp"
)

// Defaults for Config.BodyBudget and Config.BodyWait.
const (
	// DefaultBodyBudget bounds the bytes of webhook bodies held at once.
	DefaultBodyBudget = 64 << 20
	// DefaultBodyWait is how long a POST waits for room in the budget before a 503.
	DefaultBodyWait = 10 * time.Second
)

// smallBody is the largest body (buffer class) read in the small lane, which gets a
// quarter of the budget; bigger ones share the rest.
const smallBody = 64 << 10

// errBusy is a POST that found no room in the body budget within Config.BodyWait.
var errBusy = errors.New("too many webhook bodies are being read at once; retry later")

// bodies reads webhook bodies within a byte budget into pooled buffers.
type bodies struct {
	limit int64 // largest body accepted
	wait  time.Duration
	small *semaphore.Weighted // buffers of at most smallBody bytes
	large *semaphore.Weighted // the rest
	// classes are the buffer sizes, ascending: powers of two from 1 KiB, then limit.
	classes []int64
	pools   []sync.Pool // one per class, of *[]byte
}

func newBodies(limit, budget int64, wait time.Duration) *bodies {
	if budget <= 0 {
		budget = DefaultBodyBudget
	}
	if wait <= 0 {
		wait = DefaultBodyWait
	}
	b := &bodies{limit: limit, wait: wait}
	for c := int64(1 << 10); c < limit; c <<= 1 {
		b.classes = append(b.classes, c)
	}
	b.classes = append(b.classes, limit)
	b.pools = make([]sync.Pool, len(b.classes))
	smallBudget := budget / 4
	smallBudget = max(smallBudget, min(smallBody, b.classes[len(b.classes)-1]))
	b.small = semaphore.NewWeighted(smallBudget)
	// The large lane must fit at least one body of the limit.
	b.large = semaphore.NewWeighted(max(budget-smallBudget, limit))
	return b
}

// class returns the index of the smallest class holding n bytes (n ≤ limit).
func (b *bodies) class(n int64) int {
	for i, c := range b.classes {
		if n <= c {
			return i
		}
	}
	return len(b.classes) - 1
}

// body is one request's body in a pooled buffer; release returns it (and its room in the
// budget) once nothing refers to Bytes any more.
type body struct {
	Bytes []byte
	b     *bodies
	buf   *[]byte
	class int
	lane  *semaphore.Weighted
}

func (x *body) release() {
	if x == nil || x.lane == nil {
		return
	}
	x.b.pools[x.class].Put(x.buf)
	x.lane.Release(x.b.classes[x.class])
	x.lane = nil
}

// read waits for room for r's body (by its Content-Length; an unknown length counts as the
// limit), then reads it into a pooled buffer. Errors: *http.MaxBytesError over the limit
// (before any read when Content-Length says so), errBusy when no room came within the
// wait, else the read error.
func (b *bodies) read(ctx context.Context, r *http.Request) (*body, error) {
	n := r.ContentLength
	if n > b.limit {
		return nil, &http.MaxBytesError{Limit: b.limit}
	}
	if n < 0 {
		n = b.limit
	}
	x := &body{b: b, class: b.class(n)}
	size := b.classes[x.class]
	lane := b.large
	if size <= smallBody {
		lane = b.small
	}
	if !lane.TryAcquire(size) {
		wctx, cancel := context.WithTimeout(ctx, b.wait)
		err := lane.Acquire(wctx, size)
		cancel()
		if err != nil {
			return nil, errBusy
		}
	}
	x.lane = lane
	if p, ok := b.pools[x.class].Get().(*[]byte); ok {
		x.buf = p
	} else {
		buf := make([]byte, size)
		x.buf = &buf
	}
	buf := (*x.buf)[:size]
	if r.ContentLength >= 0 {
		if _, err := io.ReadFull(r.Body, buf[:r.ContentLength]); err != nil {
			x.release()
			return nil, err
		}
		x.Bytes = buf[:r.ContentLength]
		return x, nil
	}
	// Unknown length (chunked): read up to the limit, and one byte more means too large.
	got, err := io.ReadFull(r.Body, buf)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
	case err != nil:
		x.release()
		return nil, err
	default:
		var one [1]byte
		if m, _ := io.ReadFull(r.Body, one[:]); m > 0 {
			x.release()
			return nil, &http.MaxBytesError{Limit: b.limit}
		}
	}
	x.Bytes = buf[:got]
	return x, nil
}

// checkSignatureHeader refuses, before the body is read, a POST whose signature cannot
// verify: no app secret to check it with, or a header that is not sha256=<64 hex digits>.
// (whatsapp.VerifySignature makes the same checks, and the MAC, after the read.)
func checkSignatureHeader(header string, haveSecret bool) error {
	if !haveSecret {
		return whatsapp.ErrNoAppSecret
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return whatsapp.ErrSignatureMissing
	}
	hexMAC, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexMAC) != sha256.Size*2 {
		return whatsapp.ErrSignatureMalformed
	}
	for i := 0; i < len(hexMAC); i++ {
		switch c := hexMAC[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return whatsapp.ErrSignatureMalformed
		}
	}
	return nil
}
