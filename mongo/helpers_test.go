package mongo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/mongo"
	"github.com/atomicsession/atomicsession/session"
)

// dbName is this test binary's database; each test has its own collection.
var dbName = "atomicsession_test_" + randomHex(4)

// server describes the MongoDB-wire server the tests run against.
type server struct {
	uri    string
	ferret bool
}

func testServer(t testing.TB) server {
	t.Helper()
	uri, ferret := testenv.MongoURI(t)
	return server{uri: uri, ferret: ferret}
}

// connect returns a client of srv that records the commands it sends in
// rec (if not nil) and is disconnected when t ends. On FerretDB the pool
// holds one connection, unless pool says otherwise: FerretDB 1.x applies
// update operators as read-modify-write without a lock, so concurrent
// updates of one document from several connections can lose writes.
func connect(t testing.TB, srv server, rec *recorder, pool uint64) *mongodriver.Client {
	t.Helper()
	opts := options.Client().ApplyURI(srv.uri).SetServerSelectionTimeout(20 * time.Second)
	if pool > 0 {
		opts.SetMaxPoolSize(pool)
	} else if srv.ferret {
		opts.SetMaxPoolSize(1)
		t.Logf("FerretDB: client pool of 1 connection, as FerretDB 1.x applies update operators without a lock across connections")
	}
	if rec != nil {
		opts.SetMonitor(rec.monitor())
	}
	client, err := mongodriver.Connect(opts)
	if err != nil {
		t.Fatalf("connect to %s: %v", srv.uri, err)
	}
	t.Cleanup(func() {
		if err := client.Disconnect(context.Background()); err != nil {
			t.Errorf("disconnect: %v", err)
		}
	})
	return client
}

var collSeq atomic.Int64

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// newCollection returns an empty collection of its own for t, dropped when
// t ends.
func newCollection(t testing.TB, client *mongodriver.Client) *mongodriver.Collection {
	t.Helper()
	name := unsafeName.ReplaceAllString(t.Name(), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = name + "_" + time.Now().Format("150405") + "_" + strconv.FormatInt(collSeq.Add(1), 10)
	coll := client.Database(dbName).Collection(name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := coll.Drop(ctx); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return coll
}

// fixture is one test's store on its own collection.
type fixture struct {
	srv   server
	coll  *mongodriver.Collection
	store *mongo.Store
	clock *clock
	rec   *recorder
}

func newFixture(t testing.TB, opts ...mongo.Option) *fixture {
	t.Helper()
	srv := testServer(t)
	rec := &recorder{}
	client := connect(t, srv, rec, 0)
	f := &fixture{srv: srv, coll: newCollection(t, client), clock: newClock(), rec: rec}
	f.store = mongo.NewStore(f.coll, append([]mongo.Option{mongo.WithClock(f.clock.Now)}, opts...)...)
	t.Cleanup(func() { _ = f.store.Close() })
	warmUp(t, f.store)
	rec.reset()
	return f
}

// warmUp creates and deletes one session, so that the store has learnt
// whether the server's findAndModify takes a projection (FerretDB 1.x
// answers NotImplemented, once per Store) before a test counts round trips.
func warmUp(t testing.TB, store *mongo.Store) {
	t.Helper()
	m := (&fixture{clock: newClock()}).meta()
	if _, err := store.Create(context.Background(), m, session.Update{Commands: []session.Command{set("warm", true)}}); err != nil {
		t.Fatalf("warm-up Create: %v", err)
	}
	if err := store.Delete(context.Background(), m.ID); err != nil {
		t.Fatalf("warm-up Delete: %v", err)
	}
}

// meta returns the reserved fields of a new session that lives for an
// hour from the fixture's clock.
func (f *fixture) meta() session.Meta {
	now := f.clock.Now()
	return session.Meta{
		ID:      randomHex(32),
		Expires: now.Add(time.Hour),
		MaxAge:  time.Hour,
		Created: now,
	}
}

// create stores a new session with cmds, failing t on error.
func (f *fixture) create(t testing.TB, cmds ...session.Command) (session.Meta, session.Doc) {
	t.Helper()
	m := f.meta()
	doc, err := f.store.Create(context.Background(), m, session.Update{Commands: cmds})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return m, doc
}

// count returns the number of documents in the fixture's collection.
func (f *fixture) count(t testing.TB) int64 {
	t.Helper()
	n, err := f.coll.CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}

// raw reads document id as stored, expired or not, or nil if absent.
func (f *fixture) raw(t testing.TB, id string) bson.M {
	t.Helper()
	var m bson.M
	err := f.coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&m)
	if err == mongodriver.ErrNoDocuments {
		return nil
	}
	if err != nil {
		t.Fatalf("read raw %s: %v", id, err)
	}
	return m
}

// clock is a settable clock, so tests move past expiry without sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().UTC().Truncate(time.Millisecond)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// recorder records the data commands a client sends, and the size of
// each reply.
type recorder struct {
	mu       sync.Mutex
	commands []recorded
	pending  map[int64]int // request id to index in commands
}

// recorded is one round trip: the command's name, the bytes of the command
// sent and of the reply received (0 until the reply arrives).
type recorded struct {
	name  string
	bytes int
	reply int
	body  bson.Raw // the command sent
}

// String describes r for messages: its name and bytes sent and received.
func (r recorded) String() string {
	return fmt.Sprintf("%s (%d B sent, %d B received)", r.name, r.bytes, r.reply)
}

// sent and received sum the command and reply bytes of rs.
func sent(rs []recorded) (n int) {
	for _, r := range rs {
		n += r.bytes
	}
	return n
}

func received(rs []recorded) (n int) {
	for _, r := range rs {
		n += r.reply
	}
	return n
}

// controlCommands are sent by the driver itself, not by a store call.
var controlCommands = map[string]bool{
	"hello": true, "isMaster": true, "ismaster": true, "endSessions": true,
	"ping": true, "buildInfo": true, "saslStart": true, "saslContinue": true,
}

func (r *recorder) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if controlCommands[e.CommandName] {
				return
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.pending == nil {
				r.pending = map[int64]int{}
			}
			r.pending[e.RequestID] = len(r.commands)
			r.commands = append(r.commands, recorded{name: e.CommandName, bytes: len(e.Command), body: slices.Clone(e.Command)})
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if i, ok := r.pending[e.RequestID]; ok {
				delete(r.pending, e.RequestID)
				r.commands[i].reply = len(e.Reply)
			}
		},
		Failed: func(_ context.Context, e *event.CommandFailedEvent) {
			r.mu.Lock()
			defer r.mu.Unlock()
			delete(r.pending, e.RequestID)
		},
	}
}

// reset forgets the commands recorded so far.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commands = nil
	r.pending = nil
}

// take returns the commands recorded since the last reset, and resets.
func (r *recorder) take() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.commands
	r.commands = nil
	r.pending = nil
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Command constructors, with operands already in canonical form.
func set(path string, v any) session.Command {
	return session.Command{Op: session.OpSet, Path: path, Value: v}
}
func unset(path string) session.Command { return session.Command{Op: session.OpUnset, Path: path} }
func inc(path string, by any) session.Command {
	return session.Command{Op: session.OpInc, Path: path, Value: by}
}
func push(path string, vs ...any) session.Command {
	return session.Command{Op: session.OpPush, Path: path, Values: vs}
}
func pull(path string, v any) session.Command {
	return session.Command{Op: session.OpPull, Path: path, Value: v}
}
func pullAll(path string, vs ...any) session.Command {
	return session.Command{Op: session.OpPullAll, Path: path, Values: vs}
}
func addToSet(path string, vs ...any) session.Command {
	return session.Command{Op: session.OpAddToSet, Path: path, Values: vs}
}
func pop(path string, end int64) session.Command {
	return session.Command{Op: session.OpPop, Path: path, Value: end}
}
func rename(from, to string) session.Command {
	return session.Command{Op: session.OpRename, Path: from, To: to}
}
func take(path string) session.Command { return session.Command{Op: session.OpTake, Path: path} }
func pushLast(path string, n int, vs ...any) session.Command {
	return session.Command{Op: session.OpPush, Path: path, Values: vs, Slice: n}
}

// upd returns the Update of Apply that runs cmds and sets the expiry to
// expires.
func upd(expires time.Time, cmds ...session.Command) session.Update {
	return session.Update{Commands: cmds, Expires: expires}
}
