package session_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/session"
)

// Commands are queued; awaiting one sends the queue. When a command's
// future resolves, the keys it touched are applied to the local view that
// Get reads, so a request sees its own writes; Then(sess.Update), as in
// Koa, stays valid.
func Example() {
	ctx := context.Background()
	store := memory.NewStore()
	defer store.Close()

	sess, err := session.New(ctx, store, session.Options{})
	if err != nil {
		log.Fatal(err)
	}
	// yield session.set('msg', 'hi').then(session.update)
	if _, err := sess.Set("msg", "hi").Then(sess.Update).Await(ctx); err != nil {
		log.Fatal(err)
	}
	msg, _ := sess.GetString("msg")
	fmt.Println(msg)

	// Without Update: the local view has the write all the same.
	if _, err := sess.Set("msg", "hello").Await(ctx); err != nil {
		log.Fatal(err)
	}
	msg, _ = sess.GetString("msg")
	fmt.Println(msg)

	// Three commands on different keys go out as one atomic update, and
	// their futures share one read-only Doc (Clone it before changing it).
	docs, err := future.All(
		sess.Push("cart", "apple"),
		sess.Inc("cartCount", 1),
		sess.Set("lastItem", "apple"),
	).Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	doc := docs[2]
	fmt.Println(doc["cart"], doc["cartCount"], doc["lastItem"])

	// Reserved fields are refused before anything is sent.
	_, err = sess.Set("expires", 0).Await(ctx)
	fmt.Println(errors.Is(err, session.ErrReservedKey))
	// Output:
	// hi
	// hello
	// [apple] 1 apple
	// true
}
