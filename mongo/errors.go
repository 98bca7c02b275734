package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	mongodriver "go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/atomicsession/atomicsession/session"
)

// Server error codes that map to session's sentinel errors.
const (
	codeInternalError             = 1
	codeBadValue                  = 2
	codeTypeMismatch              = 14
	codePathNotViable             = 28
	codeConflictingUpdateOperator = 40
	codeImmutableField            = 66
	codeDollarPrefixedFieldName   = 52
	codeEmptyFieldName            = 56
	codeBSONObjectTooLarge        = 10334
	codeDocumentTooLarge          = 17419
	codeNotImplemented            = 238
	codeCommandNotSupported       = 115
)

// mapError wraps err, a driver error, with the session sentinel a caller can
// act on:
//   - no document: session.ErrNotFound;
//   - an operator that does not apply to the stored value (TypeMismatch,
//     BadValue, PathNotViable, and FerretDB's InternalError "Cannot create
//     field"): session.ErrTypeMismatch;
//   - conflicting paths in one update: session.ErrConflict;
//   - a key or value the server refuses (and FerretDB's "nested arrays are
//     not supported"): session.ErrInvalidValue;
//   - a document over 16 MiB: session.ErrTooLarge;
//   - a server that cannot be reached: session.ErrUnavailable.
//
// If ctx is done then the context's error is kept, so that errors.Is(err,
// context.Canceled) holds, and no sentinel is added.
func mapError(ctx context.Context, err error) error {
	if errors.Is(err, mongodriver.ErrNoDocuments) {
		return fmt.Errorf("%w (or expired)", session.ErrNotFound)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(err, ctxErr) {
			return err
		}
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	if sentinel := sentinelOf(err); sentinel != nil {
		return fmt.Errorf("%w: %w", sentinel, err)
	}
	return err
}

func sentinelOf(err error) error {
	var se mongodriver.ServerError
	if errors.As(err, &se) {
		switch {
		case se.HasErrorCode(codeBadValue) && strings.Contains(err.Error(), "nested arrays are not supported"):
			// FerretDB 1.x refuses arrays inside arrays: the value, not
			// the stored document, is the problem.
			return session.ErrInvalidValue
		case se.HasErrorCode(codeInternalError) && strings.Contains(err.Error(), "Cannot create field"):
			// FerretDB 1.x answers InternalError where MongoDB answers
			// PathNotViable: a $rename target below a non-document.
			return session.ErrTypeMismatch
		case se.HasErrorCode(codeTypeMismatch), se.HasErrorCode(codeBadValue), se.HasErrorCode(codePathNotViable):
			return session.ErrTypeMismatch
		case se.HasErrorCode(codeConflictingUpdateOperator):
			return session.ErrConflict
		case se.HasErrorCode(codeDollarPrefixedFieldName), se.HasErrorCode(codeEmptyFieldName), se.HasErrorCode(codeImmutableField):
			return session.ErrInvalidValue
		case se.HasErrorCode(codeBSONObjectTooLarge), se.HasErrorCode(codeDocumentTooLarge):
			return session.ErrTooLarge
		}
	}
	if mongodriver.IsNetworkError(err) || mongodriver.IsTimeout(err) || errors.Is(err, mongodriver.ErrClientDisconnected) {
		return session.ErrUnavailable
	}
	return nil
}

// isNotImplemented reports whether the server answered that it does not
// implement what was asked.
func isNotImplemented(err error) bool {
	var se mongodriver.ServerError
	return errors.As(err, &se) && (se.HasErrorCode(codeNotImplemented) || se.HasErrorCode(codeCommandNotSupported))
}

// isProjectionNotImplemented reports whether the server answered that its
// findAndModify does not take a projection ("fields"), as FerretDB 1.x
// does.
func isProjectionNotImplemented(err error) bool {
	var se mongodriver.ServerError
	return errors.As(err, &se) && se.HasErrorCode(codeNotImplemented) && strings.Contains(err.Error(), `"fields"`)
}
