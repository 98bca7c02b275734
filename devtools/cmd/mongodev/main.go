// Command mongodev runs an embedded FerretDB v1.24.0 (a MongoDB-wire server
// on SQLite) for development and tests of atomicsession. It needs nothing
// installed but Go.
//
// Usage:
//
//	mongodev [-addr 127.0.0.1:0] [-dir DIR] [-fsync] [-log]
//
// The first line it prints on standard output is the server's URI:
//
//	MONGODB_URI=mongodb://127.0.0.1:40123/
//
// It runs until it receives SIGINT or SIGTERM, or until its standard input
// reaches end of file or fails, so that a parent process that dies takes it
// down too. To keep it running from a shell, give it a standard input that
// stays open (a terminal does). The default address picks a free port on
// 127.0.0.1; the default data directory is a temporary one removed on exit.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/atomicsession/atomicsession/devtools/ferretdb"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mongodev:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mongodev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ferretdb.DefaultAddr, "TCP `address` to listen on; port 0 picks a free port")
	dir := fs.String("dir", "", "`directory` of the SQLite databases (default: a temporary directory removed on exit)")
	verbose := fs.Bool("log", false, "write FerretDB's log (warnings and errors) to standard error")
	fsync := fs.Bool("fsync", false, "make SQLite wait for the disk on every commit (slower; the default suits tests)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	opts := ferretdb.Options{Dir: *dir, Addr: *addr, Fsync: *fsync}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := ferretdb.Start(ctx, opts)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "MONGODB_URI=%s\n", srv.URI()); err != nil {
		_ = srv.Close()
		return fmt.Errorf("print URI: %w", err)
	}
	go func() {
		// Any read result other than data means the parent went away.
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()
	<-ctx.Done()
	return srv.Close()
}
