package redis

// Two alternatives to the Store's general path, kept only to measure the
// choice of layout (docs/redis-layout.md, the benchmarks in bench_test.go):
//
//   - hash-nocache: the Store without its field cache, so that its Go
//     path reads the touched fields before every compare-and-set;
//   - watchStore: the same hash, but the general path is WATCH key, HMGET
//     the touched fields, session.ApplyCommands, MULTI HSET/HDEL/HSET
//     expires/PEXPIREAT/HGETALL EXEC, retried on redis.TxFailedErr;
//   - wholeDocStore: the whole document as one Go-encoded string, every
//     batch WATCH, GET, session.ApplyCommands, MULTI SET PXAT EXEC.

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/session"
)

// layout makes a session.Store on a client for the benchmarks and tests
// that compare layouts, and reads its retry count.
type layout struct {
	name    string
	make    func(c goredis.UniversalClient, prefix string) session.Store
	retries func(session.Store) uint64
}

var layouts = []layout{
	{"hash", func(c goredis.UniversalClient, p string) session.Store { return NewStore(c, WithPrefix(p)) },
		func(s session.Store) uint64 { return s.(*Store).Stats().Retries }},
	{"hash-nocache", func(c goredis.UniversalClient, p string) session.Store {
		return NewStore(c, WithPrefix(p), WithCacheBytes(0))
	}, func(s session.Store) uint64 { return s.(*Store).Stats().Retries }},
	{"hash-watch", func(c goredis.UniversalClient, p string) session.Store {
		return &watchStore{Store: NewStore(c, WithPrefix(p))}
	}, func(s session.Store) uint64 { return s.(*watchStore).retries.Load() }},
	{"wholedoc", func(c goredis.UniversalClient, p string) session.Store {
		return &wholeDocStore{c: c, prefix: p}
	}, func(s session.Store) uint64 { return s.(*wholeDocStore).retries.Load() }},
}

// watchStore is Store with a WATCH/MULTI/EXEC general path.
type watchStore struct {
	*Store
	retries atomic.Uint64
}

func (w *watchStore) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	if _, native, err := nativeOps(u.Commands); err != nil || native {
		return w.Store.Apply(ctx, id, u)
	}
	key := w.Key(id)
	fields := session.TouchedKeys(u.Commands)
	read := readList(fields, nil)
	expires := u.Expires
	for attempt := 0; ; attempt++ {
		var doc session.Doc
		err := w.client.Watch(ctx, func(tx *goredis.Tx) error {
			vals, err := tx.HMGet(ctx, key, read...).Result()
			if err != nil {
				return err
			}
			if vals[posExpires] == nil {
				return session.ErrNotFound
			}
			partial, err := decodeValues(id, read, vals, true)
			if err != nil {
				return err
			}
			if !live(partial, w.now()) {
				return session.ErrNotFound
			}
			after, err := session.ApplyCommands(partial, u.Commands)
			if err != nil {
				return err
			}
			_, ops, err := changes(fields, vals[nReserved:], after)
			if err != nil {
				return err
			}
			var res *goredis.SliceCmd
			_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
				for i := 0; i < len(ops); i += 3 {
					if ops[i] == "s" {
						p.HSet(ctx, key, ops[i+1], ops[i+2])
					} else {
						p.HDel(ctx, key, ops[i+1].(string))
					}
				}
				p.HSet(ctx, key, hashExpires, expires.UnixMilli())
				res = p.HMGet(ctx, key, read...)
				p.PExpireAt(ctx, key, expires)
				return nil
			})
			if err != nil {
				return err
			}
			out, err := decodeValues(id, read, res.Val(), true)
			if err == nil {
				doc = u.Result(partial, out)
			}
			return err
		}, key)
		if !errors.Is(err, goredis.TxFailedErr) {
			return doc, err
		}
		w.retries.Add(1)
		if err := sleep(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// wholeDocStore keeps each session as one encoded document.
type wholeDocStore struct {
	c       goredis.UniversalClient
	prefix  string
	retries atomic.Uint64
}

func (w *wholeDocStore) key(id string) string { return w.prefix + "{" + id + "}" }

func (w *wholeDocStore) decode(id, data string) (session.Doc, error) {
	v, err := decodeValue(string(data))
	if err != nil {
		return nil, err
	}
	doc := session.Doc(v.(map[string]any))
	doc[session.FieldID] = id
	return doc, nil
}

func (w *wholeDocStore) encode(doc session.Doc) (string, error) {
	doc = doc.Clone()
	delete(doc, session.FieldID)
	enc, err := encodeValue(map[string]any(doc))
	return string(enc), err
}

func liveNow(doc session.Doc) bool { return live(doc, time.Now()) }

func (w *wholeDocStore) Load(ctx context.Context, id string, keys []string) (session.Doc, error) {
	data, err := w.c.Get(ctx, w.key(id)).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, session.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	doc, err := w.decode(id, data)
	if err == nil && !liveNow(doc) {
		return nil, session.ErrNotFound
	}
	return session.LoadResult(doc, keys), err
}

func (w *wholeDocStore) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	m.Expires, m.Created = toMillis(m.Expires), toMillis(m.Created)
	doc, err := session.ApplyCommands(m.Doc(), u.Commands)
	if err != nil {
		return nil, err
	}
	enc, err := w.encode(doc)
	if err != nil {
		return nil, err
	}
	ok, err := w.c.SetArgs(ctx, w.key(m.ID), enc, goredis.SetArgs{Mode: "NX", ExpireAt: m.Expires.Add(time.Second)}).Result()
	if errors.Is(err, goredis.Nil) || (err == nil && ok != "OK") {
		return nil, session.ErrConflict
	}
	if err != nil {
		return nil, err
	}
	after, err := w.decode(m.ID, enc)
	if err != nil {
		return nil, err
	}
	return u.Result(m.Doc(), after), nil
}

func (w *wholeDocStore) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	key := w.key(id)
	expires := u.Expires
	for attempt := 0; ; attempt++ {
		var out session.Doc
		err := w.c.Watch(ctx, func(tx *goredis.Tx) error {
			data, err := tx.Get(ctx, key).Result()
			if errors.Is(err, goredis.Nil) {
				return session.ErrNotFound
			}
			if err != nil {
				return err
			}
			doc, err := w.decode(id, data)
			if err != nil {
				return err
			}
			if !liveNow(doc) {
				return session.ErrNotFound
			}
			after, err := session.ApplyCommands(doc, u.Commands)
			if err != nil {
				return err
			}
			after[session.FieldExpires] = toMillis(expires)
			enc, err := w.encode(after)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
				p.Set(ctx, key, enc, 0)
				p.PExpireAt(ctx, key, expires)
				return nil
			})
			if err == nil {
				out, err = w.decode(id, enc)
			}
			if err == nil {
				out = u.Result(doc, out)
			}
			return err
		}, key)
		if !errors.Is(err, goredis.TxFailedErr) {
			return out, err
		}
		w.retries.Add(1)
		if err := sleep(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

func (w *wholeDocStore) Delete(ctx context.Context, id string) error {
	return w.c.Del(ctx, w.key(id)).Err()
}
