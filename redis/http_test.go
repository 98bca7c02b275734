package redis_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/atomicsession/atomicsession/internal/testenv"
	"github.com/atomicsession/atomicsession/middleware"
	"github.com/atomicsession/atomicsession/redis"
)

// TestHTTPIncAcrossTwoInstances: 32 clients share one session and send 50
// increments each over HTTP, alternating between two app instances (two
// servers, two Stores, two Redis clients, one Redis). No update is lost.
func TestHTTPIncAcrossTwoInstances(t *testing.T) {
	const clients, each = 32, 50
	prefix := testenv.RedisPrefix(t)
	key := []byte("0123456789abcdef0123456789abcdef-test-key")
	var urls []string
	for range 2 {
		m, err := middleware.New(redis.NewStore(client(t), redis.WithPrefix(prefix)), middleware.Options{Keys: [][]byte{key}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(m.Handler(counter()))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: clients}
	t.Cleanup(transport.CloseIdleConnections)
	hc := &http.Client{Transport: transport}

	// The first request makes the session; everyone then sends its cookie.
	resp, body := do(t, hc, "POST", urls[0]+"/inc", nil)
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusOK || len(cookies) != 1 {
		t.Fatalf("first request: %s %q, cookies %v", resp.Status, body, cookies)
	}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if c == 0 && i == 0 {
					continue // the first request counted already
				}
				req, _ := http.NewRequest("POST", urls[(c+i)%2]+"/inc", nil)
				req.AddCookie(cookies[0])
				resp, err := hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("POST /inc: %s %q", resp.Status, body)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, url := range urls {
		_, got := do(t, hc, "GET", url+"/n", cookies[0])
		if want := fmt.Sprint(clients * each); got != want {
			t.Errorf("GET %s/n = %q, want %s", url, got, want)
		}
	}
}

// counter serves POST /inc, which increments the session's n, and GET /n.
func counter() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /inc", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err == nil {
			_, err = sess.Inc("n", 1).Await(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET /n", func(w http.ResponseWriter, r *http.Request) {
		sess, err := middleware.Session(r).Await(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		n, _ := sess.Get("n")
		fmt.Fprint(w, n)
	})
	return mux
}

// do sends one request, with cookie if it is not nil, and returns the
// response and its body.
func do(t *testing.T, hc *http.Client, method, url string, cookie *http.Cookie) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, strings.TrimSpace(string(body))
}
