package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

func sameKey(given []byte, want string) bool {
	a, b := sha256.Sum256(given), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// authorized returns the tenants whose API key the request's bearer token is; empty when
// the header is missing or matches none. Every key is compared, in constant time.
func (s *Server) authorized(r *http.Request) map[*Tenant]bool {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil
	}
	given := []byte(strings.TrimSpace(token))
	out := map[*Tenant]bool{}
	for _, t := range s.tenants {
		if !t.APIKey.IsZero() && t.APIKey.Raw() != "" && sameKey(given, t.APIKey.Raw()) {
			out[t] = true
		}
	}
	return out
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="gtc"`)
	writeJSON(w, http.StatusUnauthorized, apiError{Error: "missing or wrong API key: send Authorization: Bearer <GTC_API_KEY from the bundle's secrets.env>"})
}

// apiTenant picks the request's tenant/team: the one named, else the only one served.
func (s *Server) apiTenant(w http.ResponseWriter, req *apiRequest, auth map[*Tenant]bool) (*Tenant, bool) {
	var t *Tenant
	switch {
	case req.Tenant != "" || req.Team != "":
		var ok bool
		if t, ok = s.tenants[req.Tenant+"/"+req.Team]; !ok {
			writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no enabled provider for tenant %q team %q", req.Tenant, req.Team), Path: "tenant"})
			return nil, false
		}
	case len(s.tenants) == 1:
		for _, only := range s.tenants {
			t = only
		}
	default:
		names := make([]string, 0, len(s.tenants))
		for k := range s.tenants {
			names = append(names, k)
		}
		sort.Strings(names)
		badRequest(w, "tenant", "this server serves several tenant/teams (%s): give tenant and team", strings.Join(names, ", "))
		return nil, false
	}
	if !auth[t] {
		unauthorized(w)
		return nil, false
	}
	return t, true
}
