// Package atomicsession is the overview of atomicsession: atomic, lazily
// loaded HTTP sessions for Go, ported from Koa's koa-atomic-session.
//
// A handler changes one key of a session with one atomic database update
// operator ($set, $inc, $push, ...) instead of rewriting the whole session,
// so two requests that change the same session at once never lose each
// other's update. The session is read from the store only when a handler
// asks for it, so a request that does not need it costs no store call.
// Every session operation returns a [future.Future] with Then and Await, so
// a port from Koa reads like the original.
//
// The library is split into small packages:
//
//   - [github.com/atomicsession/atomicsession/future]: Future[T], Then, Await, All, Any.
//   - [github.com/atomicsession/atomicsession/session]: Session, the command model and
//     its reference semantics, the Store interface, tokens, cookie signing, CSRF.
//   - [github.com/atomicsession/atomicsession/middleware]: net/http middleware and CSRF guard.
//   - [github.com/atomicsession/atomicsession/memory]: an in-process store.
//   - [github.com/atomicsession/atomicsession/mongo]: the MongoDB store.
//   - [github.com/atomicsession/atomicsession/redis]: the Redis store.
//   - [github.com/atomicsession/atomicsession/sessiontest]: the conformance suite for stores.
//
// # From Koa to Go
//
//	Koa (koa-atomic-session)                      Go (atomicsession)
//	require('koa-atomic-session')(app, {maxAge})  m, err := middleware.New(store, middleware.Options{MaxAge: d, Keys: keys})
//	app.use(...)                                  http.ListenAndServe(addr, m.Handler(m.CSRF(mux)))
//	MongoDBSession.collection = coll              mongoStore.SetCollection(coll)
//	MongoDBSession.ensureIndex()                  mongoStore.EnsureIndex(ctx)
//	var session = yield this.session()            sess, err := middleware.Session(r).Await(ctx)
//	session.user_id                               v, ok := sess.Get("user_id")
//	yield session.set('k', v).then(session.update) _, err = sess.Set("k", v).Then(sess.Update).Await(ctx)
//	yield session.unset('k')                      _, err = sess.Unset("k").Await(ctx)
//	yield session.touch()                         _, err = sess.Touch().Await(ctx)
//	yield session.destroy()                       _, err = sess.Destroy().Await(ctx)
//	yield session.regenerate()                    _, err = sess.Regenerate().Await(ctx)
//	session.createCSRF()                          token := sess.CreateCSRF()
//	session.assertCSRF(token)                     err = sess.AssertCSRF(token)
//
// # Quick start
//
//	store := memory.NewStore() // or mongo.NewStore(coll), redis.NewStore(client)
//	m, err := middleware.New(store, middleware.Options{Keys: [][]byte{key}}) // key: 32+ random bytes
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux := http.NewServeMux()
//	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
//		sess, err := middleware.Session(r).Await(r.Context())
//		if err != nil {
//			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
//			return
//		}
//		doc, err := sess.Inc("views", 1).Then(sess.Update).Await(r.Context())
//		if err != nil {
//			http.Error(w, "session update failed", http.StatusInternalServerError)
//			return
//		}
//		fmt.Fprintf(w, "views: %v\n", doc["views"])
//	})
//	log.Fatal(http.ListenAndServe("127.0.0.1:8080", m.Handler(m.CSRF(mux))))
//
// Commands are queued and sent when one of their futures is awaited, or
// when the request ends; commands on keys that do not overlap go out as one
// atomic update. See the session package for the semantics and docs/ in
// the repository for the design notes and the porting guide.
package atomicsession
