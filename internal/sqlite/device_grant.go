package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

var _ auth.DeviceGrantStore = (*DB)(nil)

const deviceColumns = `device_code_hash, user_code_hash, client_id, scopes, audiences, status,
	user_id, auth_time, session_id, family_id, interval_ns, last_poll_at,
	created_at, expires_at, decided_at, used_at, amr`

func scanDeviceGrant(row scanner) (*auth.DeviceGrant, error) {
	var (
		g                                                   auth.DeviceGrant
		scopes, audiences, status, amr                      string
		interval                                            int64
		authTime, lastPoll, created, expires, decided, used sql.NullInt64
	)
	if err := row.Scan(&g.DeviceCodeHash, &g.UserCodeHash, &g.ClientID, &scopes, &audiences, &status,
		&g.UserID, &authTime, &g.SessionID, &g.FamilyID, &interval, &lastPoll,
		&created, &expires, &decided, &used, &amr); err != nil {
		return nil, err
	}
	if err := listsFrom([]string{scopes, audiences, amr}, &g.Scopes, &g.Audiences, &g.AMR); err != nil {
		return nil, err
	}
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
	lists, err := listsJSON(g.Scopes, g.Audiences, g.AMR)
	if err != nil {
		return translate("create device grant", err)
	}
	return db.inTx(ctx, "create device grant", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_device_grants (`+deviceColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			g.DeviceCodeHash, g.UserCodeHash, g.ClientID, lists[0], lists[1], string(g.Status),
			g.UserID, timeValue(g.AuthTime), g.SessionID, g.FamilyID, int64(g.Interval), timeValue(g.LastPollAt),
			timeValue(g.CreatedAt), timeValue(g.ExpiresAt), timeValue(g.DecidedAt), timeValue(g.UsedAt), lists[2])
		return err
	})
}

// GetDeviceGrantByUserCode returns the grant of the user code hash, or
// ENOTFOUND.
func (db *DB) GetDeviceGrantByUserCode(ctx context.Context, userCodeHash []byte) (*auth.DeviceGrant, error) {
	if len(userCodeHash) == 0 {
		return nil, auth.Errorf(auth.ENOTFOUND, "Device grant not found.")
	}
	g, err := scanDeviceGrant(db.read.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM oauth_device_grants WHERE user_code_hash = ?`, userCodeHash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auth.Errorf(auth.ENOTFOUND, "Device grant not found.")
	}
	if err != nil {
		return nil, translate("get device grant", err)
	}
	return g, nil
}

// DecideDeviceGrant applies auth.DeviceGrant.Decide to the grant of the
// user code hash and returns it as stored. ENOTFOUND if there is none;
// Decide's ECONFLICT or EINVALID leave it unchanged.
func (db *DB) DecideDeviceGrant(ctx context.Context, userCodeHash []byte, d auth.DeviceDecision, at time.Time) (*auth.DeviceGrant, error) {
	if len(userCodeHash) == 0 {
		return nil, auth.Errorf(auth.ENOTFOUND, "Device grant not found.")
	}
	if err := auth.CheckText("Device decision", append([]string{d.UserID, d.SessionID, d.FamilyID}, d.AMR...)...); err != nil {
		return nil, err
	}
	var out *auth.DeviceGrant
	err := db.inTx(ctx, "decide device grant", func(tx *sql.Tx) error {
		g, err := scanDeviceGrant(tx.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM oauth_device_grants WHERE user_code_hash = ?`, userCodeHash))
		if errors.Is(err, sql.ErrNoRows) {
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
		amr, err := scopesJSON(next.AMR)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE oauth_device_grants SET status = ?, user_id = ?, auth_time = ?,
			session_id = ?, family_id = ?, decided_at = ?, amr = ? WHERE device_code_hash = ?`,
			string(next.Status), next.UserID, timeValue(next.AuthTime), next.SessionID, next.FamilyID,
			timeValue(next.DecidedAt), amr, next.DeviceCodeHash)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PollDeviceGrant applies auth.DeviceGrant.Poll to the grant of the
// device code hash and returns it as stored with what the poll found.
// ENOTFOUND if there is none. The single writer connection makes
// concurrent polls take turns.
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
	err := db.inTx(ctx, "poll device grant", func(tx *sql.Tx) error {
		g, err := scanDeviceGrant(tx.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM oauth_device_grants WHERE device_code_hash = ?`, deviceCodeHash))
		if errors.Is(err, sql.ErrNoRows) {
			return auth.Errorf(auth.ENOTFOUND, "Device grant not found.")
		}
		if err != nil {
			return err
		}
		var next auth.DeviceGrant
		next, poll = g.Poll(at, clientID)
		out = &next
		_, err = tx.ExecContext(ctx, `UPDATE oauth_device_grants SET status = ?, interval_ns = ?, last_poll_at = ?, used_at = ?
			WHERE device_code_hash = ?`,
			string(next.Status), int64(next.Interval), timeValue(next.LastPollAt), timeValue(next.UsedAt), deviceCodeHash)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, poll, nil
}
