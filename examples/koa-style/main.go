// Command koa-style is the usage example of koa-atomic-session's README,
// ported to Go with atomicsession: a small web app that counts visits,
// keeps a message, logs a user in and out and fills a cart, each with
// atomic update operators on a lazily loaded session.
//
// Usage:
//
//	go run . [-addr 127.0.0.1:8080] [-data DIR] [-keys K1,K2] [-max-age 720h]
//
// After a login, the home page lists the user's sessions (one per browser
// that logged in as that user) and can log out all but the current one.
//
// The store is MongoDB when MONGODB_URI is set, Redis when REDIS_URL is,
// PostgreSQL when DATABASE_URL is (a pgx connection string such as
// postgres://user:password@host:5432/db; the tables are created at start),
// and otherwise an embedded FerretDB (the MongoDB wire protocol on SQLite)
// whose files live in DIR/ferretdb, so sessions survive restarts with no
// setup. DIR defaults to atomicsession/koa-style in the user's cache
// directory. The cookie signing keys come from -keys or SESSION_KEYS
// (comma-separated, each at least 32 bytes, the first signs); without them
// a key is generated once and kept in DIR/session-keys.
//
// It stops on SIGINT or SIGTERM, after the requests in flight.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/atomicsession/atomicsession/middleware"
)

// shutdownTimeout bounds the wait for requests in flight at shutdown.
const shutdownTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "koa-style:", err)
		stop()
		os.Exit(1)
	}
}

// run serves the app until ctx is done, then shuts it down: the server
// first, then the store. ready, if not nil, is called with the base URL
// once the server accepts connections.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(url string)) (err error) {
	c, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	keys, err := loadKeys(c.keys, c.dataDir)
	if err != nil {
		return err
	}
	logKeys(log, keys)
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close() // for the early returns; Serve closes it too
	b, name, err := openBackend(ctx, c, log)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := b.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
		}
	}()
	h, err := newHandler(b.store, middleware.Options{Keys: keys.keys, MaxAge: c.maxAge, Logger: log}, name)
	if err != nil {
		return err
	}
	return serve(ctx, ln, h, log, ready)
}

// logKeys says where the signing keys came from.
func logKeys(log *slog.Logger, k keySource) {
	switch {
	case k.generated:
		log.Info("generated a cookie signing key and saved it; set SESSION_KEYS to use your own", "file", k.file)
	case k.file != "":
		log.Info("cookie signing key loaded", "file", k.file)
	default:
		log.Info("cookie signing keys from -keys/SESSION_KEYS", "count", len(k.keys))
	}
}

// serve serves h on ln until ctx is done, then waits for the requests in
// flight.
func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, ready func(string)) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	url := "http://" + ln.Addr().String() + "/"
	log.Info("koa-style is serving: open " + url)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready(url)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-errc // http.ErrServerClosed
	return nil
}
