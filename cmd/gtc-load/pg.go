package main

import (
	"context"
	"fmt"

	"github.com/greentic/gtc/pkg/store/storetest"
)

// freshSchema creates a schema of its own for one load run in base's PostgreSQL database
// and returns its name, a URL whose search_path selects it (for gtc serve --database), and
// a function that drops it.
func freshSchema(ctx context.Context, base string) (schema, dsn string, drop func() error, err error) {
	schema, dsn, drop, err = storetest.CreateSchema(ctx, base, "gtc_load_")
	if err != nil {
		return "", "", nil, fmt.Errorf("-database: %w", err)
	}
	return schema, dsn, drop, nil
}
