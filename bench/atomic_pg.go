package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atomicsession/atomicsession/postgres"
	"github.com/atomicsession/atomicsession/session"
)

// newAtomicPG returns atomicsession's PostgreSQL store on pool, with its
// tables in schema, which it creates.
func newAtomicPG(ctx context.Context, pool *pgxpool.Pool, schema string) (session.Store, error) {
	st := postgres.NewStore(pool, postgres.WithSchema(schema))
	if err := st.EnsureSchema(ctx); err != nil {
		return nil, fmt.Errorf("atomicsession postgres store: %w", err)
	}
	return st, nil
}
