package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/filelock"
)

// credentials are what `gatehouse login` keeps of a sign-in, in
// credentialsPath: the server signed in to, the endpoints that refresh and
// revoke the tokens, and the tokens. One sign-in at a time: logging in to
// another server replaces it.
type credentials struct {
	Server             string    `json:"server"` // as given to login, without a trailing slash
	ClientID           string    `json:"client_id"`
	TokenEndpoint      string    `json:"token_endpoint"`
	RevocationEndpoint string    `json:"revocation_endpoint"`
	AccessToken        string    `json:"access_token"`
	RefreshToken       string    `json:"refresh_token,omitempty"`
	Expiry             time.Time `json:"expiry,omitzero"` // of the access token; zero: unknown
}

// maxCredentialsFile bounds what is read of the file: a sign-in is a few
// kilobytes.
const maxCredentialsFile = 1 << 20

// expiryMargin refreshes an access token this long before its expiry, so
// that it does not expire on its way to the server.
const expiryMargin = 30 * time.Second

// fresh reports whether the access token may still be sent at now.
func (c *credentials) fresh(now time.Time) bool {
	return c.AccessToken != "" && (c.Expiry.IsZero() || now.Add(expiryMargin).Before(c.Expiry))
}

// userConfigDir is os.UserConfigDir reading the environment through
// getenv, so that tests can point it at a temporary folder.
func userConfigDir(getenv env) (string, error) {
	var dir string
	switch runtime.GOOS {
	case "windows":
		dir = getenv("AppData")
		if dir == "" {
			return "", errors.New("%AppData% is not set")
		}
		return dir, nil
	case "darwin", "ios":
		dir = getenv("HOME")
		if dir == "" {
			return "", errors.New("$HOME is not set")
		}
		return filepath.Join(dir, "Library", "Application Support"), nil
	case "plan9":
		dir = getenv("home")
		if dir == "" {
			return "", errors.New("$home is not set")
		}
		return filepath.Join(dir, "lib"), nil
	}
	// Unix: $XDG_CONFIG_HOME when absolute, else ~/.config (XDG Base
	// Directory Specification).
	if dir = getenv("XDG_CONFIG_HOME"); filepath.IsAbs(dir) {
		return dir, nil
	}
	dir = getenv("HOME")
	if dir == "" {
		return "", errors.New("neither $XDG_CONFIG_HOME nor $HOME is set")
	}
	return filepath.Join(dir, ".config"), nil
}

// credentialsPath is where the sign-in is kept: gatehouse/credentials.json
// in the user's configuration folder.
func credentialsPath(getenv env) (string, error) {
	dir, err := userConfigDir(getenv)
	if err != nil {
		return "", fmt.Errorf("find the folder for the sign-in: %w", err)
	}
	return filepath.Join(dir, "gatehouse", "credentials.json"), nil
}

// loadCredentials reads the sign-in at path; nil, nil when there is none.
// A file others may read is refused (as ssh refuses such a key): the
// tokens in it may have been read, and are not used.
func loadCredentials(path string) (*credentials, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the sign-in: %w", err)
	}
	defer f.Close()
	if runtime.GOOS != "windows" {
		st, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("read the sign-in: %w", err)
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			return nil, fmt.Errorf("%s is open to other users (mode %04o): its tokens are not used; run `gatehouse logout` and `gatehouse login` again", path, perm)
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCredentialsFile+1))
	if err != nil {
		return nil, fmt.Errorf("read the sign-in: %w", err)
	}
	var c credentials
	if len(data) > maxCredentialsFile || json.Unmarshal(data, &c) != nil ||
		c.Server == "" || c.ClientID == "" || c.TokenEndpoint == "" || c.AccessToken == "" {
		return nil, fmt.Errorf("%s is not a sign-in of `gatehouse login`; run `gatehouse logout` and `gatehouse login` again", path)
	}
	return &c, nil
}

// save writes c to path atomically (a new file renamed over the old one,
// so a reader sees the old sign-in or the new, never half of one), mode
// 0600 in a folder of mode 0700.
func (c *credentials) save(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save the sign-in: %w", err)
	}
	// The folder is Gatehouse's own: keep it private even if it was made
	// before, with other permissions.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("save the sign-in: %w", err)
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("save the sign-in: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*.json") // mode 0600
	if err != nil {
		return fmt.Errorf("save the sign-in: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails once renamed, as it should
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save the sign-in: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save the sign-in: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save the sign-in: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save the sign-in: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save the sign-in: %w", err)
	}
	return nil
}

// sameServer reports whether two server URLs name the same server, as
// the CLI spells them.
func sameServer(a, b string) bool {
	return strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

// signInError is a sign-in that can no longer be used: its refresh token
// was refused, or it has none and its access token has expired.
type signInError struct {
	server string
	reason string
}

func (e *signInError) Error() string {
	return fmt.Sprintf("the sign-in to %s has ended: %s", e.server, e.reason)
}

// tokenCredential is the admin.Credential of a sign-in: it sends the access
// token, refreshes it with the refresh token when it has expired (or the
// server said so) and saves the tokens the refresh returned.
type tokenCredential struct {
	path string
	hc   *http.Client
	now  func() time.Time

	mu    sync.Mutex
	creds *credentials
	stale bool // the server refused the access token: refresh before sending it again
}

var _ admin.Credential = (*tokenCredential)(nil)

func (c *tokenCredential) Bearer(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stale && c.creds.fresh(c.now()) {
		return c.creds.AccessToken, nil
	}
	if err := c.refresh(ctx); err != nil {
		return "", err
	}
	return c.creds.AccessToken, nil
}

func (c *tokenCredential) Rejected(_ context.Context, bearer string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.creds.RefreshToken == "" {
		return false
	}
	if bearer == c.creds.AccessToken {
		c.stale = true
	}
	return true
}

// refreshLockWait bounds the wait for another gatehouse process refreshing
// the same sign-in.
const refreshLockWait = 30 * time.Second

// refresh gets a new access token with the refresh token (RFC 6749 6),
// and saves it with the refresh token that replaces the used one. Two
// gatehouse commands of one script may find the token expired at once:
// they take turns under a lock beside the file, and the second uses what
// the first saved rather than present a refresh token already rotated
// (which the server takes for a stolen one, revoking the sign-in).
func (c *tokenCredential) refresh(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, refreshLockWait)
	defer cancel()
	lock, err := filelock.WaitExclusive(lctx, c.path+".lock", 50*time.Millisecond)
	if err != nil {
		return fmt.Errorf("wait for another gatehouse command refreshing the sign-in: %w", err)
	}
	defer lock.Close()
	if saved, err := loadCredentials(c.path); err == nil && saved != nil && sameServer(saved.Server, c.creds.Server) &&
		saved.AccessToken != c.creds.AccessToken && saved.fresh(c.now()) {
		c.creds, c.stale = saved, false
		return nil
	}
	if c.creds.RefreshToken == "" {
		return &signInError{server: c.creds.Server, reason: "its access token has expired, and it has no refresh token"}
	}
	conf := oauth2.Config{
		ClientID: c.creds.ClientID,
		Endpoint: oauth2.Endpoint{TokenURL: c.creds.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
	}
	tok, err := conf.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, c.hc), &oauth2.Token{RefreshToken: c.creds.RefreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode != "" {
			// invalid_grant: revoked, expired, or the user disabled.
			return &signInError{server: c.creds.Server, reason: fmt.Sprintf("the server refused its refresh token (%s)", re.ErrorCode)}
		}
		return fmt.Errorf("refresh the sign-in: %w", err)
	}
	next := *c.creds
	next.AccessToken, next.Expiry = tok.AccessToken, tok.Expiry
	if tok.RefreshToken != "" {
		next.RefreshToken = tok.RefreshToken
	}
	// Saved before use: the old refresh token is spent, and a sign-in
	// whose new one were lost would have to start over.
	if err := next.save(c.path); err != nil {
		return err
	}
	c.creds, c.stale = &next, false
	return nil
}

// failedCredential is a sign-in that could not be read: admin calls fail
// with why, and calls that need no credential (keys verify) still work.
type failedCredential struct{ err error }

func (c failedCredential) Bearer(context.Context) (string, error) { return "", c.err }
func (c failedCredential) Rejected(context.Context, string) bool  { return false }

// storedCredential returns the credential of the saved sign-in, and the
// server it is for, when there is one and it is for server ("" means
// whichever it is for). nil when there is none, or it is for another
// server: a token is never sent to a server it was not issued by.
func storedCredential(getenv env, server string, hc *http.Client) (admin.Credential, string) {
	path, err := credentialsPath(getenv)
	if err != nil {
		return nil, ""
	}
	creds, err := loadCredentials(path)
	if err != nil {
		return failedCredential{err}, server
	}
	if creds == nil || (server != "" && !sameServer(server, creds.Server)) {
		return nil, ""
	}
	return &tokenCredential{path: path, hc: hc, now: time.Now, creds: creds}, creds.Server
}
