package middleware_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"

	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/middleware"
)

// A handler counts the visits of each visitor. The session is loaded only
// because the handler awaits it; the increment is one atomic update.
func Example() {
	store := memory.NewStore()
	defer store.Close()
	m, err := middleware.New(store, middleware.Options{
		Keys: [][]byte{[]byte("a 32-byte secret key, at least!!")}, // use 32 random bytes
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
			return
		}
		doc, err := sess.Inc("views", 1).Then(sess.Update).Await(r.Context())
		if err != nil {
			http.Error(w, "session update failed", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "views: %v", doc["views"])
	})
	srv := httptest.NewServer(m.Handler(m.CSRF(mux)))
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	for range 3 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	// Output:
	// views: 1
	// views: 2
	// views: 3
}
