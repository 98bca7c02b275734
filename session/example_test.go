package session_test

import (
	"context"
	"fmt"
	"log"

	"github.com/atomicsession/atomicsession/future"
	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/session"
)

// Commands are queued; awaiting one sends the queue. Update copies a
// command's result into the local view that Get reads.
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
	msg, _ := sess.Get("msg")
	fmt.Println(msg)

	// Three commands on different keys go out as one atomic update.
	_, err = future.All(
		sess.Push("cart", "apple"),
		sess.Inc("cartCount", 1),
		sess.Set("lastItem", "apple"),
	).Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	doc, err := sess.Touch().Then(sess.Update).Await(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(doc["cart"], doc["cartCount"], doc["lastItem"])

	// Reserved fields are refused before anything is sent.
	_, err = sess.Set("expires", 0).Await(ctx)
	fmt.Println(err != nil)
	// Output:
	// hi
	// [apple] 1 apple
	// true
}
