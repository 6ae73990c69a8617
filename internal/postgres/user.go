package postgres

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// userColumns lists the oauth_users columns in the order scanUser reads
// them; username_key is derived from username and never read.
const userColumns = `id, username, password_hash, email, email_verified, name,
	created_at, updated_at, password_changed_at, disabled_at, role, owners`

func scanUser(row pgx.Row) (*auth.User, error) {
	var (
		u                                 auth.User
		created, updated, pwd, disabledAt pgtype.Timestamptz
	)
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Email, &u.EmailVerified, &u.Name,
		&created, &updated, &pwd, &disabledAt, &u.Role, &u.Owners)
	if err != nil {
		return nil, err
	}
	nonNil(&u.Owners)
	u.CreatedAt = timeFrom(created)
	u.UpdatedAt = timeFrom(updated)
	u.PasswordChangedAt = timeFrom(pwd)
	u.DisabledAt = timeFrom(disabledAt)
	return &u, nil
}

func getUser(ctx context.Context, q querier, where string, arg any) (*auth.User, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM oauth_users WHERE `+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auth.Errorf(auth.ENOTFOUND, "User not found.")
	}
	return u, err
}

// userValues returns u's column values in userColumns order, then its
// username key.
func userValues(u *auth.User) []any {
	return []any{u.ID, u.Username, u.PasswordHash, u.Email, u.EmailVerified, u.Name,
		timeValue(u.CreatedAt), timeValue(u.UpdatedAt), timeValue(u.PasswordChangedAt), timeValue(u.DisabledAt),
		u.Role, list(u.Owners), auth.NormalizeUsername(u.Username)}
}

// CreateUser inserts u and appends the events in one transaction.
// ECONFLICT if the ID or the username (in lower case) exists; EINVALID if u
// has no ID or username, or holds text no backend can store.
func (db *DB) CreateUser(ctx context.Context, u *auth.User, events ...auth.AuditEvent) error {
	if err := auth.CheckWrite(u, events); err != nil {
		return err
	}
	err := db.inTx(ctx, "create user", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO oauth_users (`+userColumns+`, username_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, userValues(u)...); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "A user with this ID or username already exists.")
}

// GetUser returns the user with that ID, or ENOTFOUND.
func (db *DB) GetUser(ctx context.Context, id string) (*auth.User, error) {
	u, err := getUser(ctx, db.pool, "id = $1", id)
	if err != nil {
		return nil, translate("get user", err)
	}
	return u, nil
}

// GetUserByUsername returns the user whose username equals username in
// lower case, or ENOTFOUND.
func (db *DB) GetUserByUsername(ctx context.Context, username string) (*auth.User, error) {
	u, err := getUser(ctx, db.pool, "username_key = $1", auth.NormalizeUsername(username))
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
	rows, err := db.pool.Query(ctx, `SELECT `+userColumns+` FROM oauth_users
		WHERE id > $1 ORDER BY id LIMIT $2`, f.After, limit+1)
	if err != nil {
		return nil, "", translate("list users", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*auth.User, error) { return scanUser(r) })
	if err != nil {
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
	err := db.inTx(ctx, "update user", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE oauth_users SET
			username = $2, password_hash = $3, email = $4, email_verified = $5, name = $6,
			created_at = $7, updated_at = $8, password_changed_at = $9, disabled_at = $10,
			role = $11, owners = $12, username_key = $13
			WHERE id = $1`, userValues(u)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return auth.Errorf(auth.ENOTFOUND, "User not found.")
		}
		if err := notifyChange(ctx, tx, auth.ChangeUser, u.ID); err != nil {
			return err
		}
		return appendEvents(ctx, tx, events)
	})
	return auth.ConflictAs(err, "The username is taken by another user.")
}
