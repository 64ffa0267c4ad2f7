package chat

import (
	"net/http"
	"net/url"
	"strings"
)

// redirectTransport sends the flows' calls under the prefix from (the bundle's
// order_api_url) to the same path under to (the order API double), and every other call
// to the network. A flow written for the real order API then talks to the double unchanged.
type redirectTransport struct {
	from string
	to   *url.URL
	next http.RoundTripper
}

func (t *redirectTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	u := r.URL.String()
	if t.from == "" || !strings.HasPrefix(u, t.from) {
		return t.next.RoundTrip(r)
	}
	rest := strings.TrimPrefix(u, t.from)
	if rest != "" && !strings.HasPrefix(rest, "/") && !strings.HasPrefix(rest, "?") {
		return t.next.RoundTrip(r) // https://shop.example.com/api/orders2 is not under …/orders
	}
	nu, err := url.Parse(strings.TrimSuffix(t.to.String(), "/") + rest)
	if err != nil {
		return nil, err
	}
	r2 := r.Clone(r.Context())
	r2.URL, r2.Host = nu, nu.Host
	return t.next.RoundTrip(r2)
}
