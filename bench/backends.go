package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	scsredisstore "github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	redigo "github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/atomicsession/atomicsession/memory"
	mongostore "github.com/atomicsession/atomicsession/mongo"
	redisstore "github.com/atomicsession/atomicsession/redis"
	"github.com/atomicsession/atomicsession/session"
)

// backend is a session database that the libraries share: Redis, the
// MongoDB-wire server, or process memory.
type backend struct {
	Name string // as printed, such as "Redis 7.0.15"
	Key  string // short name: "redis", "mongo", "memory"
	// SharedConn says that app instances in one process must share one
	// client (one connection) to stay correct; see sharedInstances.
	SharedConn bool
	// connect returns a new client of the backend with its own traffic
	// counter, on the collections or key prefix of namespace ns: clients
	// of one namespace see the same sessions.
	connect func(ctx context.Context, ns string) (*storeConn, error)
}

// storeConn is one client of a backend and the stores of the store-backed
// libraries and the raw store over it; a scenario uses one of them.
type storeConn struct {
	traffic *traffic // nil when the backend is process memory
	atomic  session.Store
	// atomicErr says why atomic is nil: the library has no store for
	// this backend in this build.
	atomicErr error
	scs       scs.Store
	raw       rawStore // nil for process memory
	// wal returns the server's WAL insert position in bytes (PostgreSQL
	// only; nil elsewhere).
	wal func(ctx context.Context) (int64, error)
	// commands returns the commands the server has run so far (Redis
	// only; nil elsewhere), read on a connection of its own.
	commands func(ctx context.Context) (serverCommands, error)
	close    func() error
}

// Close disconnects the client.
func (c *storeConn) Close() error {
	if c.close == nil {
		return nil
	}
	return c.close()
}

// namespaceSeq numbers namespaces, so that scenarios do not see each
// other's sessions.
var namespaceSeq atomic.Int64

// newNamespace returns a namespace no other client of this run uses.
func newNamespace() string { return "ns" + strconv.FormatInt(namespaceSeq.Add(1), 10) }

// mongoPoolSize is the connection pool of every benchmark client of the
// MongoDB-wire server. FerretDB 1.x applies update operators as
// read-modify-write without a lock across connections, so concurrent
// updates of one document from two connections can lose writes; with one
// connection per client the server serializes them. Both libraries get the
// same pool, for fairness.
const mongoPoolSize = 1

// mongoBackend returns the backend of the MongoDB-wire server at uri.
// Every connect gives a client with a pool of mongoPoolSize connections.
func mongoBackend(uri, name string) backend {
	return backend{Name: name, Key: "mongo", SharedConn: true, connect: func(ctx context.Context, ns string) (*storeConn, error) {
		return connectMongo(ctx, uri, ns)
	}}
}

func connectMongo(ctx context.Context, uri, ns string) (*storeConn, error) {
	t := &traffic{}
	opts := options.Client().ApplyURI(uri).
		SetMaxPoolSize(mongoPoolSize).
		SetServerSelectionTimeout(20 * time.Second).
		SetMonitor(mongoMonitor(t))
	client, err := driver.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", uri, err)
	}
	if err := client.Ping(ctx, nil); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("ping %s: %w", uri, err)
	}
	db := client.Database("atomicsession_bench")
	return &storeConn{
		traffic: t,
		atomic:  mongostore.NewStore(db.Collection(ns + "_atomicsession")),
		scs:     &scsMongoStore{coll: db.Collection(ns + "_scs")},
		raw:     &rawMongo{coll: db.Collection(ns + "_raw")},
		close:   func() error { return client.Disconnect(context.Background()) },
	}, nil
}

// redisBackend returns the backend of the Redis server at addr. Every
// connect gives a client with go-redis' default pool.
func redisBackend(addr, name string) backend {
	return backend{Name: name, Key: "redis", connect: func(ctx context.Context, ns string) (*storeConn, error) {
		return connectRedis(ctx, addr, "bench:"+ns+":")
	}}
}

// connectRedis returns a go-redis client for atomicsession and the raw
// store, counted by a go-redis hook, and a redigo pool for SCS's own
// redisstore, counted on its connections; both on prefix.
func connectRedis(ctx context.Context, addr, prefix string) (*storeConn, error) {
	t := &traffic{}
	client := goredis.NewClient(&goredis.Options{Addr: addr, ContextTimeoutEnabled: true})
	client.AddHook(redisHook{t})
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("ping redis at %s: %w", addr, err)
	}
	admin := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: 1})
	dial := wireDialer(t)
	pool := &redigo.Pool{
		// As many idle connections as go-redis keeps, so that neither
		// library dials per request.
		MaxIdle: 10 * runtime.GOMAXPROCS(0),
		Dial: func() (redigo.Conn, error) {
			c, err := redigo.Dial("tcp", addr, redigo.DialNetDial(func(network, addr string) (net.Conn, error) {
				return dial(context.Background(), network, addr)
			}))
			if err != nil {
				return nil, err
			}
			return redigoConn{Conn: c, t: t}, nil
		},
	}
	return &storeConn{
		traffic: t,
		atomic:  redisstore.NewStore(client, redisstore.WithPrefix(prefix+"atomicsession:")),
		scs:     scsredisstore.NewWithPrefix(pool, prefix+"scs:"),
		raw:     &rawRedis{client: client, prefix: prefix + "raw:"},
		commands: func(ctx context.Context) (serverCommands, error) {
			return redisServerCommands(ctx, admin)
		},
		close: func() error { return errors.Join(client.Close(), pool.Close(), admin.Close()) },
	}, nil
}

// pgBackend returns the backend of the PostgreSQL server at url. Every
// connect gives a pgxpool with its default size, its tables in a schema of
// the namespace; admin is a pool of its own for set-up and WAL positions,
// not counted.
func pgBackend(admin *pgxpool.Pool, url, name string) backend {
	return backend{Name: name, Key: "postgres", connect: func(ctx context.Context, ns string) (*storeConn, error) {
		return connectPG(ctx, admin, url, ns)
	}}
}

// scsPGSchema is the table SCS's pgxstore README asks for.
const scsPGSchema = `CREATE TABLE IF NOT EXISTS sessions (
	token TEXT PRIMARY KEY,
	data BYTEA NOT NULL,
	expiry TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expiry)`

func connectPG(ctx context.Context, admin *pgxpool.Pool, url, ns string) (*storeConn, error) {
	if _, err := admin.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+ns); err != nil {
		return nil, fmt.Errorf("postgres: create schema %s: %w", ns, err)
	}
	t := &traffic{}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = ns
	cfg.ConnConfig.DialFunc = wireDialer(t)
	cfg.ConnConfig.Tracer = pgTracer{t}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	for _, ddl := range []string{scsPGSchema, rawPGSchema} {
		if _, err := pool.Exec(ctx, ddl); err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres: schema: %w", err)
		}
	}
	atomic, atomicErr := newAtomicPG(ctx, pool, ns)
	return &storeConn{
		traffic:   t,
		atomic:    atomic,
		atomicErr: atomicErr,
		scs:       pgxstore.NewWithCleanupInterval(pool, 0),
		raw:       &rawPG{pool: pool},
		wal:       func(ctx context.Context) (int64, error) { return walPosition(ctx, admin) },
		close:     func() error { pool.Close(); return nil },
	}, nil
}

// walPosition returns the server's current WAL insert position in bytes.
func walPosition(ctx context.Context, admin *pgxpool.Pool) (int64, error) {
	var n int64
	err := admin.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: WAL position: %w", err)
	}
	return n, nil
}

// memoryBackend returns a backend in process memory: every connect gives
// the same two stores, as two app instances of one process would share.
// It serves the tests; it counts no traffic.
func memoryBackend() (backend, func()) {
	conn := &storeConn{
		atomic: memory.NewStore(memory.WithSweepInterval(0)),
		scs:    memstore.NewWithCleanupInterval(0),
	}
	b := backend{Name: "memory", Key: "memory", connect: func(context.Context, string) (*storeConn, error) {
		return &storeConn{atomic: conn.atomic, scs: conn.scs}, nil
	}}
	return b, func() { _ = conn.atomic.(*memory.Store).Close() }
}

// connectPair returns the store clients of two app instances on b that see
// the same sessions: two clients of their own, or one client for both when
// shared is true.
func connectPair(ctx context.Context, b backend, shared bool) ([2]*storeConn, func(), error) {
	ns := newNamespace()
	first, err := b.connect(ctx, ns)
	if err != nil {
		return [2]*storeConn{}, nil, err
	}
	if shared {
		return [2]*storeConn{first, first}, func() { _ = first.Close() }, nil
	}
	second, err := b.connect(ctx, ns)
	if err != nil {
		_ = first.Close()
		return [2]*storeConn{}, nil, err
	}
	return [2]*storeConn{first, second}, func() { _ = errors.Join(first.Close(), second.Close()) }, nil
}
