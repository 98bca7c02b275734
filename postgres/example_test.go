package postgres_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/postgres"
)

// An application on PostgreSQL: a pool, the store with a background
// sweeper, EnsureSchema at every start, and the middleware.
func ExampleNewStore() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store := postgres.NewStore(pool, postgres.WithSweepInterval(time.Minute))
	defer store.Close() // stops the sweeper; the pool stays open
	if err := store.EnsureSchema(ctx); err != nil {
		log.Fatal(err)
	}
	manager, err := middleware.New(store, middleware.Options{Keys: [][]byte{[]byte(os.Getenv("SESSION_KEY"))}})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /visit", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Attach(r) // no load: the write alone is one round trip
		if err == nil {
			_, err = sess.Inc("visits", 1).Await(r.Context()) // atomic across instances
		}
		if err != nil {
			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
		}
	})
	// The CSRF guard refuses POST /visit without a token from CreateCSRF.
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", manager.Handler(manager.CSRF(mux))))
}
