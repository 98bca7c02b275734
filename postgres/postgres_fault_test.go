package postgres_test

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atomicsession/atomicsession/internal/faultapp"
	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/postgres"
)

// TestOutagePostgresImmediateShutdown stops PostgreSQL with SIGQUIT (an
// immediate shutdown: crash recovery on restart) under load from 8
// clients and starts it again on the same port and data directory: 503
// while it is down, served again after, nothing acknowledged lost
// (testenv.Outage checks it all).
func TestOutagePostgresImmediateShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("an outage under load takes seconds")
	}
	srv := testenv.RestartablePostgres(t)
	cfg, err := pgxpool.ParseConfig(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := postgres.NewStore(pool)
	t.Cleanup(func() { _ = store.Close() })
	if err := store.EnsureSchema(context.Background()); err != nil {
		t.Fatal(err)
	}
	const timeout, slack = time.Second, 500 * time.Millisecond
	testenv.Outage(t, faultapp.App(t, store, middleware.Options{Timeout: timeout}), testenv.OutageOptions{
		Timeout:     timeout,
		Slack:       slack,
		Down:        4 * time.Second,
		StartOutage: func() error { return srv.Stop(syscall.SIGQUIT) },
		EndOutage:   srv.Start,
	})
	if out := srv.Output(); !strings.Contains(out, "automatic recovery in progress") {
		t.Errorf("PostgreSQL ran no crash recovery after the immediate shutdown; its output:\n%s", out)
	}
}
