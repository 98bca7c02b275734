// Package ferretdb starts an embedded FerretDB v1.24.0 MongoDB-wire server
// with the SQLite backend, for development and tests only.
package ferretdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	fdb "github.com/FerretDB/FerretDB/ferretdb"
)

// Version is the FerretDB version this package embeds.
const Version = "v1.24.0"

// DefaultAddr is the TCP address a Server listens on when Options.Addr is
// empty: the loopback interface on a free port chosen by the kernel.
const DefaultAddr = "127.0.0.1:0"

// Options configures Start. The zero value is ready to use.
type Options struct {
	// Dir is the directory that holds the SQLite databases. It is created if
	// missing and kept by Close. If Dir is empty then Start creates a
	// temporary directory and Close removes it.
	Dir string

	// Addr is the TCP address to listen on, such as "127.0.0.1:27017". The
	// default value is DefaultAddr (a free port on 127.0.0.1).
	Addr string

	// Fsync makes SQLite wait for the disk on every commit. If Fsync is
	// false (the default) then SQLite runs with PRAGMA synchronous=OFF:
	// writes are several times faster, and a crash of the machine (not of
	// the server) may lose the latest ones, which suits tests.
	Fsync bool

	// Logger receives FerretDB's log. If Logger is nil then the log is
	// discarded: FerretDB logs every connection, which buries test output.
	Logger *slog.Logger
}

// Server is a running embedded FerretDB. Close stops it.
type Server struct {
	uri     string
	dir     string
	tempDir bool
	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
	err     error
}

// Start starts a FerretDB server and returns once it accepts connections.
// The server runs until Close is called or ctx is done; in both cases its
// listener and connections are closed. Start returns an error if the data
// directory cannot be made or the address cannot be listened on.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start ferretdb: %w", err)
	}
	s := &Server{dir: opts.Dir, done: make(chan error, 1)}
	if err := s.prepareDir(); err != nil {
		return nil, err
	}
	db, err := fdb.New(config(opts, s.dir))
	if err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("start ferretdb on %s: %w", addrOr(opts.Addr), err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	go func() { s.done <- db.Run(runCtx) }()
	s.uri = db.MongoDBURI()
	return s, nil
}

func config(opts Options, dir string) *fdb.Config {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	sqlite := url.URL{Scheme: "file", Path: filepath.ToSlash(dir) + "/"}
	if !opts.Fsync {
		sqlite.RawQuery = url.Values{"_pragma": {"synchronous(off)"}}.Encode()
	}
	return &fdb.Config{
		Listener:  fdb.ListenerConfig{TCP: addrOr(opts.Addr)},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqlite.String(),
	}
}

func addrOr(addr string) string {
	if addr == "" {
		return DefaultAddr
	}
	return addr
}

func (s *Server) prepareDir() error {
	if s.dir == "" {
		dir, err := os.MkdirTemp("", "mongodev-")
		if err != nil {
			return fmt.Errorf("start ferretdb: data directory: %w", err)
		}
		s.dir, s.tempDir = dir, true
		return nil
	}
	dir, err := filepath.Abs(s.dir)
	if err != nil {
		return fmt.Errorf("start ferretdb: data directory %q: %w", s.dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("start ferretdb: data directory: %w", err)
	}
	s.dir = dir
	return nil
}

func (s *Server) removeTemp() {
	if s.tempDir {
		_ = os.RemoveAll(s.dir)
	}
}

// URI returns the connection string of the server, such as
// "mongodb://127.0.0.1:40123/".
func (s *Server) URI() string { return s.uri }

// Dir returns the directory that holds the server's SQLite databases.
func (s *Server) Dir() string { return s.dir }

// Close stops the server, waits until its listener and connections are
// closed, and removes its data directory if Start created it. Calling Close
// more than once returns the first call's result.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.cancel()
		err := <-s.done
		s.removeTemp()
		if err != nil && !errors.Is(err, context.Canceled) {
			s.err = fmt.Errorf("stop ferretdb: %w", err)
		}
	})
	return s.err
}
