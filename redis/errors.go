package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atomicsession/atomicsession/session"
)

// redisErr wraps an error of a Redis call made for what. An error that
// means Redis cannot be reached or cannot serve now (a network error, a
// closed client, an exhausted pool, a server that is loading, read-only or
// whose cluster is down) also wraps session.ErrUnavailable. If ctx has
// ended, the error wraps ctx's error too, so that errors.Is finds
// context.Canceled or context.DeadlineExceeded whatever go-redis returned.
func redisErr(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("redis store: %s: %w: %w", what, ctxErr, err)
	}
	if ctx.Err() == nil && unavailable(err) {
		return fmt.Errorf("redis store: %s: %w: %w", what, session.ErrUnavailable, err)
	}
	return fmt.Errorf("redis store: %s: %w", what, err)
}

// unavailable reports whether err means that Redis cannot serve requests
// now, as opposed to rejecting this one.
func unavailable(err error) bool {
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, goredis.ErrClosed), errors.Is(err, goredis.ErrPoolTimeout):
		return true
	}
	for _, prefix := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY "} {
		if goredis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	return false
}
