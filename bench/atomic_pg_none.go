//go:build benchv1 || !atomicpg

package main

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atomicsession/atomicsession/session"
)

// errNoAtomicPG says why the atomicsession rows on PostgreSQL are missing.
var errNoAtomicPG = errors.New("this build of the library has no postgres package")

// newAtomicPG returns atomicsession's PostgreSQL store on pool, with its
// tables in schema.
func newAtomicPG(context.Context, *pgxpool.Pool, string) (session.Store, error) {
	return nil, notRun{errNoAtomicPG}
}
