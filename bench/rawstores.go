package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A raw store is the limit of a row: the least work the database can do
// for the benchmark's request, with no session library around it. It
// knows the keys of the benchmark's sessions (user, n, blob, seen) and
// keeps them the cheapest way the database allows: fields of a Redis hash,
// columns of a PostgreSQL row, fields of a MongoDB document. A read + write
// request is one command: it reads one key, increments "seen" and renews
// the expiry in the same round trip.
type rawStore interface {
	// Create stores a new session id: user "alice", n 0, and a blob of
	// size bytes when size > 0.
	Create(ctx context.Context, id string, size int) error
	// ReadWrite reads key (rawKeys) of session id, increments its "seen"
	// and renews its expiry, in one round trip. found is false when the
	// session does not exist or has expired.
	ReadWrite(ctx context.Context, id, key string) (v any, found bool, err error)
	// Values returns every key of session id (nil if it does not exist).
	Values(ctx context.Context, id string) (map[string]any, error)
}

// rawKeys are the keys a raw store's ReadWrite reads.
var rawKeys = map[string]bool{"user": true, "blob": true}

func checkRawKey(key string) error {
	if !rawKeys[key] {
		return fmt.Errorf("raw store: unknown key %q", key)
	}
	return nil
}

// --- Redis: a hash per session ---

type rawRedis struct {
	client goredis.UniversalClient
	prefix string
}

func (s *rawRedis) Create(ctx context.Context, id string, size int) error {
	fields := []any{"user", "alice", "n", 0}
	if size > 0 {
		fields = append(fields, "blob", blob(size))
	}
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, s.prefix+id, fields...)
		p.PExpire(ctx, s.prefix+id, sessionLifetime)
		return nil
	})
	if err != nil {
		return fmt.Errorf("raw redis: create: %w", err)
	}
	return nil
}

// ReadWrite sends one pipeline: HMGET key, HINCRBY seen 1, PEXPIRE. Like
// any plain pipeline it would bring back a session that expired in
// between (HINCRBY creates the hash); a session library must not.
func (s *rawRedis) ReadWrite(ctx context.Context, id, key string) (any, bool, error) {
	if err := checkRawKey(key); err != nil {
		return nil, false, err
	}
	k := s.prefix + id
	var get *goredis.SliceCmd
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		get = p.HMGet(ctx, k, key)
		p.HIncrBy(ctx, k, "seen", 1)
		p.PExpire(ctx, k, sessionLifetime)
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("raw redis: read + write: %w", err)
	}
	v := get.Val()
	if len(v) != 1 || v[0] == nil {
		return nil, false, nil
	}
	return v[0], true, nil
}

func (s *rawRedis) Values(ctx context.Context, id string) (map[string]any, error) {
	m, err := s.client.HGetAll(ctx, s.prefix+id).Result()
	if err != nil {
		return nil, fmt.Errorf("raw redis: values: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	out := map[string]any{}
	for k, v := range m {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[k] = n
		} else {
			out[k] = v
		}
	}
	return out, nil
}

// --- PostgreSQL: a row per session, a column per key ---

// rawPGSchema creates the raw store's table in the connection's
// search_path. Unchanged TOASTed columns (the blob) are not rewritten by
// an UPDATE of the others.
const rawPGSchema = `CREATE TABLE IF NOT EXISTS raw_sessions (
	id text PRIMARY KEY,
	expires timestamptz NOT NULL,
	"user" text,
	n bigint,
	seen bigint,
	blob text
)`

type rawPG struct {
	pool *pgxpool.Pool
}

func (s *rawPG) Create(ctx context.Context, id string, size int) error {
	var b *string
	if size > 0 {
		v := blob(size)
		b = &v
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO raw_sessions (id, expires, "user", n, blob) VALUES ($1, $2, 'alice', 0, $3)`,
		id, time.Now().Add(sessionLifetime), b)
	if err != nil {
		return fmt.Errorf("raw postgres: create: %w", err)
	}
	return nil
}

// rawPGUpdate is the one statement of a read + write, per key read.
var rawPGUpdate = map[string]string{
	"user": `UPDATE raw_sessions SET seen = coalesce(seen, 0) + 1, expires = $2 WHERE id = $1 AND expires > now() RETURNING "user"`,
	"blob": `UPDATE raw_sessions SET seen = coalesce(seen, 0) + 1, expires = $2 WHERE id = $1 AND expires > now() RETURNING blob`,
}

// ReadWrite runs one UPDATE … RETURNING on the session's row.
func (s *rawPG) ReadWrite(ctx context.Context, id, key string) (any, bool, error) {
	if err := checkRawKey(key); err != nil {
		return nil, false, err
	}
	var v *string
	err := s.pool.QueryRow(ctx, rawPGUpdate[key], id, time.Now().Add(sessionLifetime)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("raw postgres: read + write: %w", err)
	}
	if v == nil {
		return nil, true, nil
	}
	return *v, true, nil
}

func (s *rawPG) Values(ctx context.Context, id string) (map[string]any, error) {
	var user, b *string
	var n, seen *int64
	err := s.pool.QueryRow(ctx, `SELECT "user", n, seen, blob FROM raw_sessions WHERE id = $1 AND expires > now()`, id).Scan(&user, &n, &seen, &b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("raw postgres: values: %w", err)
	}
	out := map[string]any{}
	if user != nil {
		out["user"] = *user
	}
	if n != nil {
		out["n"] = *n
	}
	if seen != nil {
		out["seen"] = *seen
	}
	if b != nil {
		out["blob"] = *b
	}
	return out, nil
}

// --- MongoDB: a document per session ---

type rawMongo struct {
	coll *driver.Collection
}

// mongoNoProjection is set once the server has refused a projection in
// findAndModify (FerretDB 1.x does not implement it); every raw MongoDB
// store's ReadWrite then gets the whole document back. The benchmark runs
// one MongoDB-wire server.
var mongoNoProjection atomic.Bool

// rawMongoNoProjection notes the raw row of a server without
// findAndModify projections.
const rawMongoNoProjection = "FerretDB 1.24 does not implement findAndModify's projection (NotImplemented), so the raw row there gets the whole document back from its one findOneAndUpdate."

func (s *rawMongo) Create(ctx context.Context, id string, size int) error {
	doc := bson.D{{Key: "_id", Value: id}, {Key: "expires", Value: time.Now().Add(sessionLifetime)}, {Key: "user", Value: "alice"}, {Key: "n", Value: int64(0)}}
	if size > 0 {
		doc = append(doc, bson.E{Key: "blob", Value: blob(size)})
	}
	if _, err := s.coll.InsertOne(ctx, doc); err != nil {
		return fmt.Errorf("raw mongo: create: %w", err)
	}
	return nil
}

// ReadWrite runs one findOneAndUpdate on {_id} with a projection of the
// key read, and checks the expiry in Go (as atomicsession's and the SCS
// stand-in's finds do on FerretDB, which scans for any filter but _id).
func (s *rawMongo) ReadWrite(ctx context.Context, id, key string) (any, bool, error) {
	if err := checkRawKey(key); err != nil {
		return nil, false, err
	}
	update := bson.D{
		{Key: "$inc", Value: bson.D{{Key: "seen", Value: int64(1)}}},
		{Key: "$set", Value: bson.D{{Key: "expires", Value: time.Now().Add(sessionLifetime)}}},
	}
	find := func(project bool) (bson.M, error) {
		opts := options.FindOneAndUpdate().SetReturnDocument(options.Before)
		if project {
			opts.SetProjection(bson.D{{Key: key, Value: 1}, {Key: "expires", Value: 1}})
		}
		var doc bson.M
		err := s.coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: id}}, update, opts).Decode(&doc)
		return doc, err
	}
	project := !mongoNoProjection.Load()
	doc, err := find(project)
	var cmdErr driver.CommandError
	if project && errors.As(err, &cmdErr) && cmdErr.Name == "NotImplemented" {
		mongoNoProjection.Store(true)
		doc, err = find(false)
	}
	if errors.Is(err, driver.ErrNoDocuments) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("raw mongo: read + write: %w", err)
	}
	if exp, ok := doc["expires"].(bson.DateTime); !ok || !exp.Time().After(time.Now()) {
		return nil, false, nil
	}
	return doc[key], true, nil
}

func (s *rawMongo) Values(ctx context.Context, id string) (map[string]any, error) {
	var doc bson.M
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	if errors.Is(err, driver.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("raw mongo: values: %w", err)
	}
	delete(doc, "_id")
	delete(doc, "expires")
	return doc, nil
}
