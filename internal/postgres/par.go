package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.PushedRequestStore = (*DB)(nil)

const pushedColumns = `hash, client_id, params, created_at, expires_at, started_at, used_at`

func scanPushed(row pgx.Row) (*auth.PushedRequest, error) {
	var (
		p                                 auth.PushedRequest
		created, expires, started, usedAt pgtype.Timestamptz
	)
	if err := row.Scan(&p.Hash, &p.ClientID, &p.Params, &created, &expires, &started, &usedAt); err != nil {
		return nil, err
	}
	p.CreatedAt = timeFrom(created)
	p.ExpiresAt = timeFrom(expires)
	p.StartedAt = timeFrom(started)
	p.UsedAt = timeFrom(usedAt)
	return &p, nil
}

// CreatePushedRequest inserts p. ECONFLICT if the hash exists; EINVALID if
// p has no hash, client or expiry, or holds text no backend can store.
func (db *DB) CreatePushedRequest(ctx context.Context, p *auth.PushedRequest) error {
	if err := p.CheckStorable(); err != nil {
		return err
	}
	return db.inTx(ctx, "create pushed request", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO pushed_requests (`+pushedColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			p.Hash, p.ClientID, p.Params, timeValue(p.CreatedAt), timeValue(p.ExpiresAt),
			timeValue(p.StartedAt), timeValue(p.UsedAt))
		return err
	})
}

// GetPushedRequest returns the request with that hash, or ENOTFOUND.
func (db *DB) GetPushedRequest(ctx context.Context, hash []byte) (*auth.PushedRequest, error) {
	p, err := scanPushed(db.pool.QueryRow(ctx, `SELECT `+pushedColumns+` FROM pushed_requests WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errPushedNotFound()
	}
	if err != nil {
		return nil, translate("get pushed request", err)
	}
	return p, nil
}

// StartPushedRequest applies auth.PushedRequest.Start. The row lock makes
// concurrent calls (on any node) take turns, so exactly one succeeds.
func (db *DB) StartPushedRequest(ctx context.Context, hash []byte, clientID string, now, until time.Time) (*auth.PushedRequest, error) {
	return db.changePushed(ctx, "start pushed request", hash, func(p auth.PushedRequest) (auth.PushedRequest, error) {
		return p.Start(clientID, now, until)
	})
}

// ConsumePushedRequest applies auth.PushedRequest.Consume, serialised by
// the row lock as StartPushedRequest is.
func (db *DB) ConsumePushedRequest(ctx context.Context, hash []byte, now time.Time) (*auth.PushedRequest, error) {
	return db.changePushed(ctx, "consume pushed request", hash, func(p auth.PushedRequest) (auth.PushedRequest, error) {
		return p.Consume(now)
	})
}

// changePushed locks the request's row, applies a transition and writes
// its result, in one transaction; a refused transition changes nothing.
func (db *DB) changePushed(ctx context.Context, op string, hash []byte, transition func(auth.PushedRequest) (auth.PushedRequest, error)) (*auth.PushedRequest, error) {
	if len(hash) == 0 {
		return nil, errPushedNotFound()
	}
	var out *auth.PushedRequest
	err := db.inTx(ctx, op, func(tx pgx.Tx) error {
		p, err := scanPushed(tx.QueryRow(ctx, `SELECT `+pushedColumns+` FROM pushed_requests WHERE hash = $1 FOR UPDATE`, hash))
		if errors.Is(err, pgx.ErrNoRows) {
			return errPushedNotFound()
		}
		if err != nil {
			return err
		}
		next, err := transition(*p)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE pushed_requests SET expires_at = $1, started_at = $2, used_at = $3 WHERE hash = $4`,
			timeValue(next.ExpiresAt), timeValue(next.StartedAt), timeValue(next.UsedAt), hash); err != nil {
			return err
		}
		out = &next
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func errPushedNotFound() error { return auth.Errorf(auth.ENOTFOUND, "Pushed request not found.") }
