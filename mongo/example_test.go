package mongo_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/atomicsession/atomicsession/mongo"
	"github.com/atomicsession/atomicsession/session"
)

// A store can be built before the application has connected to MongoDB:
// until SetCollection gives it a collection, every call fails with an
// error wrapping session.ErrUnavailable, which the middleware answers with
// 503, and nothing panics. In an application:
//
//	client, err := mongodriver.Connect(options.Client().ApplyURI(uri))
//	...
//	store.SetCollection(client.Database("app").Collection("sessions"))
//	err = store.EnsureIndex(ctx) // the TTL index that expires sessions
func ExampleNewStore() {
	store := mongo.NewStore(nil)
	defer store.Close()

	_, err := store.Load(context.Background(), "some-session-id", nil)
	fmt.Println(errors.Is(err, session.ErrUnavailable))
	// Output: true
}
