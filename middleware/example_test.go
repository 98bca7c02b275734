package middleware_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"

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

// An API client (a mobile app, a single-page app) keeps its session token
// in a header instead of a cookie. It logs in with a plain request, takes
// the token from the response's Authorization header, and sends it back
// as a Bearer token. Requests that carry the header get no cookie and
// pass the CSRF guard (a header is no ambient credential); browsers keep
// using the cookie and the CSRF token.
func Example_headerToken() {
	store := memory.NewStore()
	defer store.Close()
	m, err := middleware.New(store, middleware.Options{
		Keys:   [][]byte{[]byte("a 32-byte secret key, at least!!")}, // use 32 random bytes
		Header: "Authorization",
	})
	if err != nil {
		log.Fatal(err)
	}
	api := http.NewServeMux()
	api.HandleFunc("POST /api/visit", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			http.Error(w, "session unavailable", http.StatusServiceUnavailable)
			return
		}
		doc, err := sess.Inc("visits", 1).Await(r.Context())
		if err != nil {
			http.Error(w, "session update failed", http.StatusInternalServerError)
			return
		}
		user, _ := sess.Get("user")
		fmt.Fprintf(w, "%v: %v visits", user, doc["visits"])
	})
	mux := http.NewServeMux()
	mux.Handle("/", m.CSRF(api))
	// The login checks credentials, not a CSRF token: the client has no
	// session yet.
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err == nil {
			_, err = sess.Regenerate().Await(r.Context()) // a new token at every login
		}
		if err == nil {
			_, err = sess.Set("user", r.FormValue("user")).Await(r.Context())
		}
		if err != nil {
			http.Error(w, "login failed", http.StatusInternalServerError)
		}
	})
	srv := httptest.NewServer(m.Handler(mux))
	defer srv.Close()

	resp, err := http.PostForm(srv.URL+"/login", url.Values{"user": {"ann"}})
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	token := resp.Header.Get("Authorization") // "Bearer <signed token>"
	fmt.Println("login:", resp.StatusCode, strings.HasPrefix(token, "Bearer "))

	for range 2 {
		req, _ := http.NewRequest("POST", srv.URL+"/api/visit", nil)
		req.Header.Set("Authorization", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s (cookies set: %d)\n", body, len(resp.Cookies()))
	}
	// Output:
	// login: 200 true
	// ann: 1 visits (cookies set: 0)
	// ann: 2 visits (cookies set: 0)
}
