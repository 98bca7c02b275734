package redis_test

import (
	"fmt"
	"log"
	"net/http"
	"os"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/redis"
)

// An app whose sessions live in the Redis named by REDIS_URL. Several
// instances of it may share that Redis: every update is atomic across
// them. (This example needs a server, so it is compiled, not run.)
func ExampleNewStore() {
	opt, err := goredis.ParseURL(os.Getenv("REDIS_URL")) // such as redis://localhost:6379/0
	if err != nil {
		log.Fatal(err)
	}
	opt.ContextTimeoutEnabled = true // let request contexts cancel Redis calls
	client := goredis.NewClient(opt)
	defer client.Close()

	store := redis.NewStore(client, redis.WithPrefix("myapp:session:"))
	m, err := middleware.New(store, middleware.Options{
		Keys: [][]byte{[]byte(os.Getenv("SESSION_KEY"))}, // 32 or more random bytes
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r, "cart").Await(r.Context()) // reads the cart only
		if err != nil {
			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
			return
		}
		cart, _ := sess.Get("cart")
		fmt.Fprintf(w, `<p>cart: %v</p><form method="post"><input name="item"><input type="hidden" name="_csrf" value="%s"></form>`,
			cart, sess.CreateCSRF())
	})
	// The CSRF guard (m.CSRF below) refuses a POST without the form's token.
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
			return
		}
		// One script call, no retry: Push of a top-level key runs in Redis,
		// and returns the cart only, not the rest of the session.
		doc, err := sess.Push("cart", r.FormValue("item")).Then(sess.Update).Await(r.Context())
		if err != nil {
			http.Error(w, "session update failed", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "cart: %v", doc["cart"])
	})
	log.Fatal(http.ListenAndServe(":8080", m.Handler(m.CSRF(mux))))
}
