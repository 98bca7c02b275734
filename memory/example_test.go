package memory_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/atomicsession/atomicsession/memory"
	"github.com/atomicsession/atomicsession/session"
)

func Example() {
	store := memory.NewStore()
	defer store.Close()
	ctx := context.Background()

	now := time.Now()
	meta := session.Meta{ID: "3f2a", Created: now, Expires: now.Add(time.Hour), MaxAge: time.Hour}
	visit, _ := session.PrepareCommand(session.Command{Op: session.OpInc, Path: "visits", Value: 1})

	// Create stores the session and its first batch in one step.
	if _, err := store.Create(ctx, meta, session.Update{Commands: []session.Command{visit}}); err != nil {
		fmt.Println(err)
		return
	}
	// Each Apply is one atomic update, and moves the expiry.
	doc, err := store.Apply(ctx, meta.ID, session.Update{Commands: []session.Command{visit}, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("visits:", doc["visits"])

	_ = store.Delete(ctx, meta.ID)
	_, err = store.Load(ctx, meta.ID, nil)
	fmt.Println(err)
	// Output:
	// visits: 2
	// memory: load session 3f2a: session not found
}

// Login binds a session to a user (after regenerating it: the defence
// against session fixation), and the store's user index lists and revokes
// that user's sessions, looking at that user's sessions only: "log out
// everywhere else".
func ExampleStore_UserSessions() {
	store := memory.NewStore()
	defer store.Close()
	ctx := context.Background()

	// Ann signs in on her laptop and on her phone.
	login := func(device string) *session.Session {
		sess, err := session.New(ctx, store, session.Options{})
		if err != nil {
			log.Fatal(err)
		}
		before := sess.ID()
		if _, err := sess.Login("ann").Await(ctx); err != nil {
			log.Fatal(err)
		}
		// Plain commands after Login go to the new, bound session; it is
		// stored with them in one round trip.
		sess.SetLabel(device)
		if _, err := sess.Set("theme", "dark").Await(ctx); err != nil {
			log.Fatal(err)
		}
		fmt.Println(device, "new id:", sess.ID() != before, "user:", sess.UserID())
		return sess
	}
	laptop := login("laptop")
	phone := login("phone")

	list := func() {
		metas, err := store.UserSessions(ctx, "ann")
		if err != nil {
			log.Fatal(err)
		}
		var labels []string
		for _, m := range metas {
			labels = append(labels, m.Label)
		}
		slices.Sort(labels) // UserSessions lists in no particular order
		fmt.Println("ann's sessions:", labels)
	}
	list()

	// From the laptop: sign out everywhere else.
	n, err := store.DeleteUserSessions(ctx, "ann", laptop.ID())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("revoked:", n)
	list()

	// A request still in flight on the phone cannot bring its session
	// back: its write goes to a new session, bound to nobody.
	revoked := phone.ID()
	if _, err := phone.Inc("views", 1).Await(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("phone: new id %v, user %q\n", phone.ID() != revoked, phone.UserID())
	// Output:
	// laptop new id: true user: ann
	// phone new id: true user: ann
	// ann's sessions: [laptop phone]
	// revoked: 1
	// ann's sessions: [laptop]
	// phone: new id true, user ""
}
