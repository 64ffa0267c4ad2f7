package store

import (
	"context"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store/storetest"
)

// The ingest writer's alias cache never files a message under an identity that has
// changed: when another transaction merges two identities (this process's workers, or
// another process on the same file, as gtc send does when Graph's answer names the wa_id),
// the next group sees it. On PostgreSQL there is no cache and the same holds.
func TestAliasCacheFollowsMerges(t *testing.T) {
	for _, writer := range []string{"this process", "another process"} {
		t.Run(writer, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, b storetest.Backend) {
				ctx := context.Background()
				st, dsn := openTest(t, b, Options{})
				ingest := func(id, from string) string {
					t.Helper()
					if _, err := st.Ingest(ctx, "t", "t", []InboundEvent{msg(id, from, t0)}); err != nil {
						t.Fatal(err)
					}
					var key string
					if err := st.db.QueryRowContext(ctx, `SELECT contact_key FROM gtc_inbound_events WHERE message_id = $1`, id).Scan(&key); err != nil {
						t.Fatal(err)
					}
					return key
				}
				// Two people; the second message of each is read through the cache.
				for i, from := range []string{"4915100000111", "4915100000222", "4915100000111", "4915100000222"} {
					if key := ingest("m"+string(rune('1'+i)), from); key != from {
						t.Fatalf("message from %s filed under %s", from, key)
					}
				}
				// They turn out to be one: 111 becomes an alias of 222.
				other := st
				if writer == "another process" {
					var err error
					if other, err = Open(ctx, dsn, Options{Now: func() time.Time { return t0 }}); err != nil {
						t.Fatal(err)
					}
					defer other.Close()
				}
				key, err := other.LinkAliases(ctx, "t", "t", []Alias{{Value: "4915100000222", Kind: AliasWaID}, {Value: "4915100000111", Kind: AliasWaID}})
				if err != nil || key != "4915100000222" {
					t.Fatalf("LinkAliases = %q, %v", key, err)
				}
				if key := ingest("m5", "4915100000111"); key != "4915100000222" {
					t.Errorf("after the merge by %s, a message from 111 was filed under %s, want the identity 222", writer, key)
				}
			})
		})
	}
}
