package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var _ auth.DeviceGrantStore = (*DB)(nil)

const deviceColumns = `device_code_hash, user_code_hash, client_id, scopes, audiences, status,
	user_id, auth_time, session_id, family_id, interval_ns, last_poll_at,
	created_at, expires_at, decided_at, used_at, amr`

func scanDeviceGrant(row pgx.Row) (*auth.DeviceGrant, error) {
	var (
		g                                                   auth.DeviceGrant
		status                                              string
		interval                                            int64
		authTime, lastPoll, created, expires, decided, used pgtype.Timestamptz
	)
	if err := row.Scan(&g.DeviceCodeHash, &g.UserCodeHash, &g.ClientID, &g.Scopes, &g.Audiences, &status,
		&g.UserID, &authTime, &g.SessionID, &g.FamilyID, &interval, &lastPoll,
		&created, &expires, &decided, &used, &g.AMR); err != nil {
		return nil, err
	}
	nonNil(&g.Scopes, &g.Audiences, &g.AMR)
	g.Status = auth.DeviceStatus(status)
	g.Interval = time.Duration(interval)
	g.AuthTime = timeFrom(authTime)
	g.LastPollAt = timeFrom(lastPoll)
	g.CreatedAt = timeFrom(created)
	g.ExpiresAt = timeFrom(expires)
	g.DecidedAt = timeFrom(decided)
	g.UsedAt = timeFrom(used)
	return &g, nil
}

// CreateDeviceGrant inserts g. ECONFLICT if either hash exists; EINVALID
// if auth.CheckNewDeviceGrant refuses it.
func (db *DB) CreateDeviceGrant(ctx context.Context, g *auth.DeviceGrant) error {
	if err := auth.CheckNewDeviceGrant(g); err != nil {
		return err
	}
	return db.inTx(ctx, "create device grant", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO oauth_device_grants (`+deviceColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
			g.DeviceCodeHash, g.UserCodeHash, g.ClientID, list(g.Scopes), list(g.Audiences), string(g.Status),
			g.UserID, timeValue(g.AuthTime), g.SessionID, g.FamilyID, int64(g.Interval), timeValue(g.LastPollAt),
			timeValue(g.CreatedAt), timeValue(g.ExpiresAt), timeValue(g.DecidedAt), timeValue(g.UsedAt), list(g.AMR))
		return err
	})
}

// GetDeviceGrantByUserCode returns the grant of the user code hash, or
// ENOTFOUND.
func (db *DB) GetDeviceGrantByUserCode(ctx context.Context, userCodeHash []byte) (*auth.DeviceGrant, error) {
	if len(userCodeHash) == 0 {
		return nil, auth.Errorf(auth.ENOTFOUND, "Device grant not found.")
	}
	g, err := scanDeviceGrant(db.pool.QueryRow(ctx, `SELECT `+deviceColumns+` FROM oauth_device_grants WHERE user_code_hash = $1`, userCodeHash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Device grant not found.")
	}
	if err != nil {
		return nil, translate("get device grant", err)
	}
	return g, nil
}

// DecideDeviceGrant applies auth.DeviceGrant.Decide to the grant of the
// user code hash and returns it as stored. ENOTFOUND if there is none;
// Decide's ECONFLICT or EINVALID leave it unchanged. The row lock makes
// concurrent decisions (on any node) take turns, so one wins.
func (db *DB) DecideDeviceGrant(ctx context.Context, userCodeHash []byte, d auth.DeviceDecision, at time.Time) (*auth.DeviceGrant, error) {
	if len(userCodeHash) == 0 {
		return nil, auth.Errorf(auth.ENOTFOUND, "Device grant not found.")
	}
	if err := auth.CheckText("Device decision", append([]string{d.UserID, d.SessionID, d.FamilyID}, d.AMR...)...); err != nil {
		return nil, err
	}
	var out *auth.DeviceGrant
	err := db.inTx(ctx, "decide device grant", func(tx pgx.Tx) error {
		g, err := scanDeviceGrant(tx.QueryRow(ctx, `SELECT `+deviceColumns+` FROM oauth_device_grants WHERE user_code_hash = $1 FOR UPDATE`, userCodeHash))
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.Errorf(auth.ENOTFOUND, "Device grant not found.")
		}
		if err != nil {
			return err
		}
		next, err := g.Decide(d, at)
		if err != nil {
			return err
		}
		out = &next
		_, err = tx.Exec(ctx, `UPDATE oauth_device_grants SET status = $1, user_id = $2, auth_time = $3,
			session_id = $4, family_id = $5, decided_at = $6, amr = $7 WHERE device_code_hash = $8`,
			string(next.Status), next.UserID, timeValue(next.AuthTime), next.SessionID, next.FamilyID,
			timeValue(next.DecidedAt), list(next.AMR), next.DeviceCodeHash)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PollDeviceGrant applies auth.DeviceGrant.Poll to the grant of the
// device code hash and returns it as stored with what the poll found.
// ENOTFOUND if there is none. The row lock makes concurrent polls (on any
// node) take turns: of two at once, the second is slow_down.
func (db *DB) PollDeviceGrant(ctx context.Context, deviceCodeHash []byte, clientID string, at time.Time) (*auth.DeviceGrant, auth.DevicePoll, error) {
	if len(deviceCodeHash) == 0 {
		return nil, "", auth.Errorf(auth.ENOTFOUND, "Device grant not found.")
	}
	if at.IsZero() {
		return nil, "", auth.Errorf(auth.EINVALID, "Time of the poll is required.")
	}
	var (
		out  *auth.DeviceGrant
		poll auth.DevicePoll
	)
	err := db.inTx(ctx, "poll device grant", func(tx pgx.Tx) error {
		g, err := scanDeviceGrant(tx.QueryRow(ctx, `SELECT `+deviceColumns+` FROM oauth_device_grants WHERE device_code_hash = $1 FOR UPDATE`, deviceCodeHash))
		if errors.Is(err, pgx.ErrNoRows) {
			return auth.Errorf(auth.ENOTFOUND, "Device grant not found.")
		}
		if err != nil {
			return err
		}
		var next auth.DeviceGrant
		next, poll = g.Poll(at, clientID)
		out = &next
		_, err = tx.Exec(ctx, `UPDATE oauth_device_grants SET status = $1, interval_ns = $2, last_poll_at = $3, used_at = $4
			WHERE device_code_hash = $5`,
			string(next.Status), int64(next.Interval), timeValue(next.LastPollAt), timeValue(next.UsedAt), deviceCodeHash)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, poll, nil
}
