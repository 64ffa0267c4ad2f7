package answers

import (
	"strconv"
	"strings"
	"time"
)

// GraphVersion is one Graph API version with the dates Meta publishes in its changelog
// (developers.facebook.com/docs/graph-api/changelog/versions). Expires is zero while Meta
// has not set it.
type GraphVersion struct {
	Version  string
	Released time.Time
	Expires  time.Time
}

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// GraphVersions are the Graph API versions from v10.0 to the newest Meta documents, newest
// first, as listed in Meta's changelog in November 2026. DefaultAPIVersion is the first.
var GraphVersions = []GraphVersion{
	{"v26.0", day("2026-07-29"), time.Time{}},
	{"v25.0", day("2026-02-18"), day("2028-07-29")},
	{"v24.0", day("2025-10-08"), day("2028-02-18")},
	{"v23.0", day("2025-05-29"), day("2027-10-08")},
	{"v22.0", day("2025-01-21"), day("2027-05-20")},
	{"v21.0", day("2024-10-02"), day("2027-01-21")},
	{"v20.0", day("2024-05-21"), day("2026-09-24")},
	{"v19.0", day("2024-01-23"), day("2026-05-21")},
	{"v18.0", day("2023-09-12"), day("2026-01-26")},
	{"v17.0", day("2023-05-23"), day("2025-09-12")},
	{"v16.0", day("2023-02-02"), day("2025-05-14")},
	{"v15.0", day("2022-09-15"), day("2024-11-20")},
	{"v14.0", day("2022-05-25"), day("2024-09-17")},
	{"v13.0", day("2022-02-08"), day("2024-05-28")},
	{"v12.0", day("2021-09-14"), day("2024-02-08")},
	{"v11.0", day("2021-06-08"), day("2023-09-14")},
	{"v10.0", day("2021-02-23"), day("2023-06-08")},
}

// LookupGraphVersion returns what gtc knows of an api_version like "v18.0".
func LookupGraphVersion(v string) (GraphVersion, bool) {
	for _, g := range GraphVersions {
		if g.Version == v {
			return g, true
		}
	}
	return GraphVersion{}, false
}

// CompareGraphVersions orders two api_version values like "v9.0" and "v18.0" numerically:
// -1, 0 or 1. A value that does not look like vN.M sorts before every version.
func CompareGraphVersions(a, b string) int {
	pa, oka := graphVersionParts(a)
	pb, okb := graphVersionParts(b)
	switch {
	case !oka && !okb:
		return 0
	case !oka:
		return -1
	case !okb:
		return 1
	}
	for i := range pa {
		if pa[i] != pb[i] {
			if pa[i] < pb[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func graphVersionParts(v string) ([2]int, bool) {
	if !apiVersionRE.MatchString(v) {
		return [2]int{}, false
	}
	major, minor, _ := strings.Cut(v[1:], ".")
	x, err1 := strconv.Atoi(major)
	y, err2 := strconv.Atoi(minor)
	return [2]int{x, y}, err1 == nil && err2 == nil
}
