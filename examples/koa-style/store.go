package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/atomicsession/atomicsession/devtools/ferretdb"
	"github.com/atomicsession/atomicsession/mongo"
	"github.com/atomicsession/atomicsession/postgres"
	"github.com/atomicsession/atomicsession/redis"
	"github.com/atomicsession/atomicsession/session"
)

// sweepInterval is how often expired sessions are deleted on servers
// without TTL indexes.
const sweepInterval = time.Minute

// connectTimeout bounds connecting to the store at startup.
const connectTimeout = 20 * time.Second

// backend is the session store the app runs on and how to shut it down.
type backend struct {
	store  session.Store
	closer []func() error // run in reverse order by close
}

// close releases what the backend holds, last opened first.
func (b *backend) close() error {
	var errs []error
	for i := len(b.closer) - 1; i >= 0; i-- {
		errs = append(errs, b.closer[i]())
	}
	return errors.Join(errs...)
}

// openBackend picks the store: MongoDB if MONGODB_URI is set, Redis if
// REDIS_URL is, PostgreSQL if DATABASE_URL is, else the embedded FerretDB
// in the data directory. It logs
// which store it uses and where its data lives, and returns a short name
// of the store for the page's footer.
func openBackend(ctx context.Context, c config, log *slog.Logger) (*backend, string, error) {
	b := &backend{}
	var name string
	var err error
	switch {
	case c.mongoURI != "":
		log.Info("session store: MongoDB (MONGODB_URI)")
		name, err = b.openMongo(ctx, c.mongoURI, c.mongoDB, log)
	case c.redisURL != "":
		name, err = b.openRedis(ctx, c.redisURL, c.prefix, log)
	case c.pgURL != "":
		name, err = b.openPostgres(ctx, c.pgURL, c.pgPrefix, log)
	default:
		name, err = b.openEmbedded(ctx, c, log)
	}
	if err != nil {
		return nil, "", errors.Join(err, b.close())
	}
	return b, name, nil
}

// openEmbedded starts FerretDB on SQLite in the data directory and opens
// the MongoDB store on it.
func (b *backend) openEmbedded(ctx context.Context, c config, log *slog.Logger) (string, error) {
	dir := filepath.Join(c.dataDir, "ferretdb")
	srv, err := ferretdb.Start(context.WithoutCancel(ctx), ferretdb.Options{Dir: dir})
	if err != nil {
		return "", fmt.Errorf("embedded store: %w", err)
	}
	b.closer = append(b.closer, srv.Close)
	log.Info("session store: embedded FerretDB "+ferretdb.Version+" (MongoDB wire protocol on SQLite); set MONGODB_URI, REDIS_URL or DATABASE_URL to use a server",
		"data", srv.Dir(), "uri", srv.URI())
	if _, err := b.openMongo(ctx, srv.URI(), c.mongoDB, log); err != nil {
		return "", err
	}
	return "embedded FerretDB (SQLite)", nil
}

// openMongo connects to uri and opens the store on the collection
// sessions of database db, with the TTL index that expires sessions, or
// with the background sweeper where the server has no TTL indexes.
func (b *backend) openMongo(ctx context.Context, uri, db string, log *slog.Logger) (string, error) {
	client, hosts, err := connectMongo(ctx, uri, log)
	if err != nil {
		return "", err
	}
	b.closer = append(b.closer, func() error { return client.Disconnect(context.Background()) })
	coll := client.Database(db).Collection("sessions")
	store := mongo.NewStore(coll)
	ictx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	err = store.EnsureIndex(ictx)
	switch {
	case errors.Is(err, mongo.ErrNoTTLIndex):
		store = mongo.NewStore(coll, mongo.WithSweepInterval(sweepInterval), mongo.WithLogger(log))
		log.Info("the server has no TTL indexes: a background sweeper deletes expired sessions", "every", sweepInterval)
	case err != nil:
		return "", fmt.Errorf("mongodb: %w", err)
	default:
		log.Info("TTL index on expires is in place: the server deletes expired sessions")
	}
	b.closer = append(b.closer, store.Close)
	b.store = store
	log.Info("sessions are kept in a MongoDB collection", "hosts", hosts, "database", db, "collection", coll.Name())
	return "MongoDB (" + db + "." + coll.Name() + ")", nil
}

// connectMongo connects to uri and checks that the server answers. It
// returns the client and the server addresses (without credentials), for
// the log. FerretDB 1.x applies update operators as read-modify-write
// without a lock, so on FerretDB the pool is cut to one connection (unless
// uri sets maxPoolSize), which keeps this process's updates atomic.
func connectMongo(ctx context.Context, uri string, log *slog.Logger) (*mongodriver.Client, []string, error) {
	opts := options.Client().ApplyURI(uri).SetServerSelectionTimeout(connectTimeout)
	if err := opts.Validate(); err != nil {
		return nil, nil, fmt.Errorf("MONGODB_URI: %w", err)
	}
	poolSet := opts.MaxPoolSize != nil // read before Connect, which fills in defaults
	client, err := mongodriver.Connect(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("mongodb: connect: %w", err)
	}
	ferret, err := isFerretDB(ctx, client)
	if err != nil {
		_ = client.Disconnect(context.Background())
		return nil, nil, err
	}
	if !ferret || poolSet {
		return client, opts.Hosts, nil
	}
	if err := client.Disconnect(ctx); err != nil {
		return nil, nil, fmt.Errorf("mongodb: reconnect: %w", err)
	}
	log.Info("the server is FerretDB: using one connection, as its update operators are not atomic across connections")
	client, err = mongodriver.Connect(opts.SetMaxPoolSize(1))
	if err != nil {
		return nil, nil, fmt.Errorf("mongodb: connect: %w", err)
	}
	return client, opts.Hosts, nil
}

// isFerretDB asks the server's buildInfo whether it is FerretDB.
func isFerretDB(ctx context.Context, client *mongodriver.Client) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	raw, err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Raw()
	if err != nil {
		return false, fmt.Errorf("mongodb: buildInfo: %w", err)
	}
	_, err = raw.LookupErr("ferretdbVersion")
	return err == nil, nil
}

// openRedis connects to the Redis server of url
// (redis://[user:password@]host:port/db) and opens the store on it.
func (b *backend) openRedis(ctx context.Context, url, prefix string, log *slog.Logger) (string, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return "", fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.ContextTimeoutEnabled = true
	client := goredis.NewClient(opts)
	b.closer = append(b.closer, client.Close)
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		return "", fmt.Errorf("redis: ping %s: %w", opts.Addr, err)
	}
	b.store = redis.NewStore(client, redis.WithPrefix(prefix))
	log.Info("session store: Redis; sessions expire by key expiry", "addr", opts.Addr, "db", opts.DB, "prefix", prefix)
	return fmt.Sprintf("Redis (%s, db %d)", opts.Addr, opts.DB), nil
}

// openPostgres connects a pool to the PostgreSQL of url (a pgx connection
// string: postgres://user:password@host:5432/db?sslmode=...), creates or
// migrates the store's tables (EnsureSchema, safe at every start) and opens
// the store, with a background sweeper of expired sessions.
func (b *backend) openPostgres(ctx context.Context, url, prefix string, log *slog.Logger) (string, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(context.WithoutCancel(ctx), cfg)
	if err != nil {
		return "", fmt.Errorf("postgres: %w", err)
	}
	b.closer = append(b.closer, func() error { pool.Close(); return nil })
	store := postgres.NewStore(pool, postgres.WithTablePrefix(prefix), postgres.WithSweepInterval(sweepInterval), postgres.WithLogger(log))
	b.closer = append(b.closer, store.Close)
	sctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := store.EnsureSchema(sctx); err != nil {
		return "", fmt.Errorf("postgres: %w", err)
	}
	b.store = store
	cc := cfg.ConnConfig
	log.Info("session store: PostgreSQL; tables are in place, a background sweeper deletes expired sessions",
		"host", cc.Host, "port", cc.Port, "database", cc.Database, "prefix", prefix, "every", sweepInterval)
	return fmt.Sprintf("PostgreSQL (%s, %ssessions)", cc.Database, prefix), nil
}
