package session_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/session"
)

// The typed getters read the local view. GetInt accepts any integral
// number a store may hand back (MongoDB returns small integers as int32,
// JSON-based tools return float64); each getter answers false for a
// missing key or a value of another type, never panics.
func ExampleSession_GetString() {
	ctx := context.Background()
	store := memory.NewStore()
	defer store.Close()
	sess, err := session.New(ctx, store, session.Options{})
	if err != nil {
		log.Fatal(err)
	}

	sess.Set("name", "ada")
	sess.Inc("visits", 3)
	sess.Set("admin", true)
	sess.Set("ratio", 0.25)
	sess.Set("since", time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC))
	if err := sess.Flush(ctx); err != nil { // one atomic update
		log.Fatal(err)
	}

	name, _ := sess.GetString("name")
	visits, _ := sess.GetInt("visits")
	admin, _ := sess.GetBool("admin")
	ratio, _ := sess.GetFloat("ratio")
	since, _ := sess.GetTime("since")
	fmt.Println(name, visits, admin, ratio, since.Format(time.RFC3339))

	_, ok := sess.GetInt("name") // a string is not an integer
	_, found := sess.GetString("missing")
	fmt.Println(ok, found)
	// Output:
	// ada 3 true 0.25 2026-03-01T09:30:00Z
	// false false
}

// Cart is an application type stored in a session as a whole.
type Cart struct {
	Items []string `json:"items"`
	Total int      `json:"total"`
}

// Set accepts any value encoding/json can marshal: a struct is stored as a
// nested document (json tags name its keys), and GetAs decodes it back.
// A dotted path changes one field of it atomically.
func ExampleGetAs() {
	ctx := context.Background()
	store := memory.NewStore()
	defer store.Close()
	sess, err := session.New(ctx, store, session.Options{})
	if err != nil {
		log.Fatal(err)
	}

	if _, err := sess.Set("cart", Cart{Items: []string{"apple"}, Total: 3}).Await(ctx); err != nil {
		log.Fatal(err)
	}
	// One field of the stored struct, without rewriting the rest of it.
	sess.Push("cart.items", "pear")
	if _, err := sess.Inc("cart.total", 2).Await(ctx); err != nil {
		log.Fatal(err)
	}

	cart, err := session.GetAs[Cart](sess, "cart")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", cart)
	raw, _ := sess.Get("cart") // what the stores hold: a nested document
	fmt.Println(raw)

	_, err = session.GetAs[Cart](sess, "wishlist") // absent
	fmt.Println(errors.Is(err, session.ErrNotFound))
	// Output:
	// {Items:[apple pear] Total:5}
	// map[items:[apple pear] total:5]
	// true
}

// A flash message shown exactly once: Take atomically reads and removes
// the key, so of two tabs that load the next page at the same time,
// exactly one gets the message. (Get followed by Unset would show it in
// both.)
func ExampleSession_Take() {
	ctx := context.Background()
	store := memory.NewStore()
	defer store.Close()

	// Request 1: a form was saved; leave a message for the next page.
	sess, err := session.New(ctx, store, session.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := sess.Set("flash", "Saved.").Await(ctx); err != nil {
		log.Fatal(err)
	}
	token := sess.Token() // what the cookie carries

	// Requests 2 to 5: four tabs open the next page at once.
	var wg sync.WaitGroup
	var shown atomic.Int32
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tab, err := session.Attach(ctx, store, token, session.Options{}) // no load needed
			if err != nil {
				log.Fatal(err)
			}
			msg, err := tab.Take("flash").Await(ctx)
			if err != nil {
				log.Fatal(err)
			}
			if msg != nil {
				shown.Add(1)
				fmt.Println("flash:", msg)
			}
		}()
	}
	wg.Wait()
	fmt.Println("shown", shown.Load(), "time")
	// Output:
	// flash: Saved.
	// shown 1 time
}

// PushLast keeps a bounded list, such as recently viewed items, in one
// atomic update ($push with $each and $slice: -n). Checking the length and
// then pushing would let concurrent requests exceed the bound; PushLast
// cannot.
func ExampleSession_PushLast() {
	ctx := context.Background()
	store := memory.NewStore()
	defer store.Close()
	sess, err := session.New(ctx, store, session.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := sess.PushLast("recent", 3, "a", "b").Await(ctx); err != nil {
		log.Fatal(err)
	}
	doc, err := sess.PushLast("recent", 3, "c", "d").Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(doc["recent"])

	// 33 requests on the same session at once: exactly 3 items remain.
	token := sess.Token()
	var wg sync.WaitGroup
	for i := range 33 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := session.Attach(ctx, store, token, session.Options{})
			if err != nil {
				log.Fatal(err)
			}
			if _, err := s.PushLast("recent", 3, fmt.Sprint("item", i)).Await(ctx); err != nil {
				log.Fatal(err)
			}
		}()
	}
	wg.Wait()
	after, err := session.Open(ctx, store, token, session.Options{}, "recent")
	if err != nil {
		log.Fatal(err)
	}
	recent, _ := session.GetAs[[]string](after, "recent")
	fmt.Println(len(recent))
	// Output:
	// [b c d]
	// 3
}

// countingStore counts the calls that reach the store: round trips.
type countingStore struct {
	session.Store
	calls atomic.Int32
}

func (c *countingStore) Load(ctx context.Context, id string, keys []string) (session.Doc, error) {
	c.calls.Add(1)
	return c.Store.Load(ctx, id, keys)
}

func (c *countingStore) Apply(ctx context.Context, id string, u session.Update) (session.Doc, error) {
	c.calls.Add(1)
	return c.Store.Apply(ctx, id, u)
}

func (c *countingStore) Create(ctx context.Context, m session.Meta, u session.Update) (session.Doc, error) {
	c.calls.Add(1)
	return c.Store.Create(ctx, m, u)
}

// Partial loads: Open (and middleware.Session(r, keys...)) reads only the
// keys named, so a handler that needs a small key does not receive a big
// one. A key that was not loaded reads as absent: Loaded tells the
// difference, and Fetch loads it later.
func ExampleSession_Fetch() {
	ctx := context.Background()
	mem := memory.NewStore()
	defer mem.Close()
	store := &countingStore{Store: mem}

	// A session holding a large key and a small one.
	first, err := session.New(ctx, store, session.Options{})
	if err != nil {
		log.Fatal(err)
	}
	first.Set("blob", strings.Repeat("x", 64<<10))
	first.Set("theme", "dark")
	if err := first.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	token := first.Token()

	// The next request reads the theme only.
	sess, err := session.Open(ctx, store, token, session.Options{}, "theme")
	if err != nil {
		log.Fatal(err)
	}
	theme, _ := sess.GetString("theme")
	_, found := sess.Get("blob") // not loaded: reads as absent
	fmt.Println(theme, found, sess.Loaded("blob"))

	if _, err := sess.Fetch("blob").Await(ctx); err != nil { // one more round trip
		log.Fatal(err)
	}
	blob, _ := sess.GetString("blob")
	fmt.Println(len(blob), sess.Loaded("blob"))

	// The fast path: Attach loads nothing; a Fetch queued with commands
	// joins their batch, so reading one key and writing others is one
	// round trip (middleware.Attach(r) does the same in a handler).
	store.calls.Store(0)
	fast, err := session.Attach(ctx, store, token, session.Options{})
	if err != nil {
		log.Fatal(err)
	}
	read := fast.Fetch("theme")
	fast.Inc("views", 1)
	fast.PushLast("recent", 10, "/pricing")
	doc, err := read.Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(doc["theme"], doc["views"], doc["recent"], "round trips:", store.calls.Load())
	// Output:
	// dark false false
	// 65536 true
	// dark 1 [/pricing] round trips: 1
}
