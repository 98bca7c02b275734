package memory_test

import (
	"context"
	"fmt"
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
