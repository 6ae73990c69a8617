package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// userColumns lists the oauth_users columns in the order scanUser reads
// them; username_key is derived from username and never read.
const userColumns = `id, username, password_hash, email, email_verified, name,
	created_at, updated_at, password_changed_at, disabled_at, role, owners`

func scanUser(row scanner) (*auth.User, error) {
	var (
		u                                 auth.User
		created, updated, pwd, disabledAt sql.NullInt64
		owners                            string
	)
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Email, &u.EmailVerified, &u.Name,
		&created, &updated, &pwd, &disabledAt, &u.Role, &owners)
	if err != nil {
		return nil, err
	}
	if u.Owners, err = scopesFrom(owners); err != nil {
		return nil, err
	}
	u.CreatedAt = timeFrom(created)
	u.UpdatedAt = timeFrom(updated)
	u.PasswordChangedAt = timeFrom(pwd)
	u.DisabledAt = timeFrom(disabledAt)
	return &u, nil
}

func getUser(ctx context.Context, q querier, where string, arg any) (*auth.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM oauth_users WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auth.Errorf(auth.ENOTFOUND, "User not found.")
	}
	return u, err
}

// CreateUser inserts u and appends the events in one transaction.
// ECONFLICT if the ID or the username (in lower case) exists; EINVALID if u
// has no ID or username, or holds text no backend can store.
func (db *DB) CreateUser(ctx context.Context, u *auth.User, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(u, events); err != nil {
		return err
	}
	owners, err := scopesJSON(u.Owners)
	if err != nil {
		return err
	}
	err = db.inTx(ctx, "create user", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO oauth_users (`+userColumns+`, username_key)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Username, u.PasswordHash, u.Email, u.EmailVerified, u.Name,
			timeValue(u.CreatedAt), timeValue(u.UpdatedAt), timeValue(u.PasswordChangedAt), timeValue(u.DisabledAt),
			u.Role, owners, auth.NormalizeUsername(u.Username)); err != nil {
			return err
		}
		return insertEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "A user with this ID or username already exists.")
}

// GetUser returns the user with that ID, or ENOTFOUND.
func (db *DB) GetUser(ctx context.Context, id string) (*auth.User, error) {
	u, err := getUser(ctx, db.read, "id = ?", id)
	if err != nil {
		return nil, translate("get user", err)
	}
	return u, nil
}

// GetUserByUsername returns the user whose username equals username in
// lower case, or ENOTFOUND.
func (db *DB) GetUserByUsername(ctx context.Context, username string) (*auth.User, error) {
	u, err := getUser(ctx, db.read, "username_key = ?", auth.NormalizeUsername(username))
	if err != nil {
		return nil, translate("get user by username", err)
	}
	return u, nil
}

// ListUsers returns one page of users in ascending ID order (bytewise) and
// the cursor of the next page, "" on the last page. A Limit of zero or less
// means 100; Limit is capped at auth.MaxPageSize.
func (db *DB) ListUsers(ctx context.Context, f auth.UserFilter) ([]*auth.User, string, error) {
	limit := auth.PageSize(f.Limit)
	rows, err := db.read.QueryContext(ctx, `SELECT `+userColumns+` FROM oauth_users
		WHERE id > ? ORDER BY id LIMIT ?`, f.After, limit+1)
	if err != nil {
		return nil, "", translate("list users", err)
	}
	defer rows.Close()
	users := make([]*auth.User, 0, min(limit, 64))
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, "", translate("list users", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, "", translate("list users", err)
	}
	users, next := auth.Page(users, limit, func(x *auth.User) string { return x.ID })
	return users, next, nil
}

// UpdateUser replaces every field of the stored user with u's and appends
// the events in one transaction. ENOTFOUND if it does not exist; ECONFLICT
// if the new username (in lower case) belongs to another user; EINVALID as
// for CreateUser.
func (db *DB) UpdateUser(ctx context.Context, u *auth.User, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(u, events); err != nil {
		return err
	}
	owners, err := scopesJSON(u.Owners)
	if err != nil {
		return err
	}
	err = db.inTx(ctx, "update user", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oauth_users SET
			username = ?, username_key = ?, password_hash = ?, email = ?, email_verified = ?, name = ?,
			created_at = ?, updated_at = ?, password_changed_at = ?, disabled_at = ?, role = ?, owners = ?
			WHERE id = ?`,
			u.Username, auth.NormalizeUsername(u.Username), u.PasswordHash, u.Email, u.EmailVerified, u.Name,
			timeValue(u.CreatedAt), timeValue(u.UpdatedAt), timeValue(u.PasswordChangedAt), timeValue(u.DisabledAt),
			u.Role, owners, u.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return auth.Errorf(auth.ENOTFOUND, "User not found.")
		}
		return insertEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "The username is taken by another user.")
}
