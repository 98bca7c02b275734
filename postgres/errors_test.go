package postgres

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/atomicsession/atomicsession/session"
)

func TestClassify(t *testing.T) {
	for _, err := range []error{
		io.ErrUnexpectedEOF,
		&pgconn.PgError{Code: "57P01"},
		&pgconn.PgError{Code: "08006"},
		fmt.Errorf("acquire: %w", errors.New("closed pool")),
	} {
		if !errors.Is(classify(err), session.ErrUnavailable) {
			t.Errorf("classify(%v) does not wrap ErrUnavailable", err)
		}
	}
	for _, err := range []error{&pgconn.PgError{Code: "23505"}, errors.New("bad input")} {
		if errors.Is(classify(err), session.ErrUnavailable) {
			t.Errorf("classify(%v) wraps ErrUnavailable", err)
		}
	}
}
