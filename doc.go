// Package atomicsession is the overview of atomicsession: atomic, lazily
// loaded HTTP sessions for Go, ported from Koa's koa-atomic-session. This
// package holds no code; the library is in the packages listed below.
//
// A handler changes one key of a session with one atomic database update
// operator ($set, $inc, $push, ...) instead of rewriting the whole session,
// so two requests that change the same session at once never lose each
// other's update. The session is read from the store only when a handler
// asks for it, and then only the keys it names; a write returns only the
// keys it touched, so a change costs about the size of the change, not of
// the session. Every session operation returns a future.Future with Then
// and Await, so a port from Koa reads like the original.
//
// # Packages
//
//   - [github.com/atomicsession/atomicsession/middleware]: the net/http
//     middleware (Manager.Handler, Session, Attach), cookies and header
//     tokens, the CSRF guard.
//   - [github.com/atomicsession/atomicsession/session]: Session (typed
//     getters, commands, Take, PushLast, Login, CSRF tokens), Doc, the
//     command model and its reference semantics, the Store and UserIndex
//     interfaces.
//   - [github.com/atomicsession/atomicsession/future]: Future[T], Then,
//     Await, Map, Chain, All, Any.
//   - Stores, each imported by its own name: [github.com/atomicsession/atomicsession/memory]
//     (in-process), [github.com/atomicsession/atomicsession/mongo] (MongoDB,
//     mongo-driver v2), [github.com/atomicsession/atomicsession/redis]
//     (Redis, go-redis v9: server, Cluster, Ring),
//     [github.com/atomicsession/atomicsession/postgres] (PostgreSQL, pgx v5
//     pgxpool). Each implements session.Store and session.UserIndex.
//   - [github.com/atomicsession/atomicsession/sessiontest]: the conformance
//     suite every store passes, ours and third parties'.
//
// The drivers' own packages clash with the store packages' names, so
// examples import them as
//
//	goredis "github.com/redis/go-redis/v9"
//	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"
//
// and the store packages under their own names (memory, mongo, redis,
// postgres); pgxpool keeps its name.
//
// # From Koa to Go
//
//	Koa (koa-atomic-session)                        Go (atomicsession)
//	require('koa-atomic-session')(app, {maxAge})    m, err := middleware.New(store, middleware.Options{Keys: keys, MaxAge: d})
//	app.keys = ['new', 'old']                       Options.Keys: [][]byte{newKey, oldKey} (32+ random bytes each)
//	app.use(...)                                    http.ListenAndServe(addr, m.Handler(m.CSRF(mux)))
//	MongoDBSession.collection = coll                store := mongo.NewStore(nil); store.SetCollection(coll)
//	MongoDBSession.ensureIndex()                    err := store.EnsureIndex(ctx)
//	var session = yield this.session()              sess, err := middleware.Session(r).Await(ctx)
//	(load only some keys)                           sess, err := middleware.Session(r, "user_id").Await(ctx)
//	session.user_id                                 id, ok := sess.GetString("user_id") // also GetInt, GetBool, GetTime, GetAs
//	yield session.set('k', v).then(session.update)  _, err := sess.Set("k", v).Then(sess.Update).Await(ctx)
//	yield session.set('k', v)                       _, err := sess.Set("k", v).Await(ctx) // Get sees it, Update or not
//	session.set('k', v) (not yielded)               sess.Set("k", v) // sent before the response's headers
//	yield session.unset('k')                        _, err := sess.Unset("k").Await(ctx)
//	yield session.inc / push / pull / addToSet      sess.Inc("n", 1), sess.Push("k", v), sess.Pull("k", v), sess.AddToSet("k", v)
//	yield [session.set(...), session.inc(...)]      _, err := future.All(sess.Set("a", 1), sess.Inc("n", 1)).Await(ctx) // one update
//	yield session.touch()                           _, err := sess.Touch().Await(ctx)
//	yield session.destroy()                         _, err := sess.Destroy().Await(ctx)
//	session = yield session.regenerate()            _, err := sess.Regenerate().Await(ctx) // same *Session, new identity
//	(at login)                                      _, err := sess.Login(userID).Await(ctx) // Regenerate + bind to the user
//	session.createCSRF()                            token := sess.CreateCSRF()
//	session.assertCSRF(token)                       err := sess.AssertCSRF(token) // or let m.CSRF check every unsafe request
//
// New in Go: Take (atomic read-and-delete, for flash messages shown once),
// PushLast (a list that keeps its last n elements, atomically), SetMaxAge
// ("remember me"), Attach with Fetch (read and write in one round trip),
// the user index (list and revoke a user's sessions), and header tokens for
// API clients (middleware.Options.Header).
//
// # Quick start
//
//	store := memory.NewStore() // or mongo.NewStore(coll), redis.NewStore(client), postgres.NewStore(pool)
//	defer store.Close()
//	m, err := middleware.New(store, middleware.Options{Keys: [][]byte{key}}) // key: 32+ secret random bytes
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux := http.NewServeMux()
//	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
//		sess, err := middleware.Session(r, "name", "saves").Await(r.Context()) // loads these keys only
//		if err != nil {
//			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
//			return
//		}
//		name, ok := sess.GetString("name")
//		if !ok {
//			name = "stranger"
//		}
//		saves, _ := sess.GetInt("saves") // 0 when absent
//		fmt.Fprintf(w, `<p>Hello, %s (%d saves)</p>
//	<form method="post" action="/name"><input name="name">
//	<input type="hidden" name="_csrf" value="%s"><button>Save</button></form>`,
//			html.EscapeString(name), saves, sess.CreateCSRF())
//	})
//	mux.HandleFunc("POST /name", func(w http.ResponseWriter, r *http.Request) {
//		sess, err := middleware.Attach(r) // writes only: nothing to load
//		if err != nil {
//			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
//			return
//		}
//		sess.Set("name", r.PostFormValue("name")) // not awaited: both commands go out as
//		sess.Inc("saves", 1)                      // one atomic update before the redirect's headers
//		http.Redirect(w, r, "/", http.StatusSeeOther)
//	})
//	// Handler gives each request its session and sets the cookie; CSRF
//	// answers 403 to a POST without the token from CreateCSRF.
//	log.Fatal(http.ListenAndServe("127.0.0.1:8080", m.Handler(m.CSRF(mux))))
//
// Commands are queued and sent when one of their futures is awaited, on
// Flush, or when the middleware commits the response (before its headers);
// commands on keys that do not overlap go out as one atomic update. If one
// that nobody awaited fails, the response becomes a 5xx instead. A key
// that was not loaded reads as absent (Session.Loaded tells).
//
// # Further reading
//
// In the repository's docs directory
// (https://github.com/atomicsession/atomicsession/tree/main/docs):
// porting-from-koa.md (every Koa and SCS call beside ours, recipes),
// futures-and-batching.md (results, the local view, partial loads, round
// trips and bytes), security.md, design-notes.md, and one page per store:
// mongodb.md, ferretdb.md, redis.md, postgres.md. The example application
// in examples/koa-style is the original README's usage, ported.
package atomicsession
