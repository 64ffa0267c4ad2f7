package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/greentic/gtc/pkg/store/storetest"
)

func TestCheckWrite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, be storetest.Backend) {
		dsn := be.DSN(t)
		if dsn == "" {
			dsn = filepath.Join(t.TempDir(), "gtc.db")
		}
		s, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.CheckWrite(ctx); err != nil {
			t.Fatalf("idle database: %v", err)
		}
		if s.Postgres() {
			return
		}
		other, err := sql.Open("sqlite", s.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		conn, err := other.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
		short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel2()
		if err := s.CheckWrite(short); err == nil {
			t.Fatal("write-locked database said writable")
		}
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckWrite(ctx); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
	})
}
