-- Upstream identity providers (issue 15): OpenID Connect and plain OAuth 2.0
-- providers users may sign in through, and the links of local users to
-- upstream identities. The client secret is sealed (AES-256-GCM under a key
-- derived from the server secret, bound to the provider's name), never
-- stored in clear.

-- +goose Up
CREATE TABLE identity_providers (
    name              TEXT    NOT NULL PRIMARY KEY,
    display_name      TEXT    NOT NULL DEFAULT '',
    kind              TEXT    NOT NULL,
    issuer            TEXT    NOT NULL,
    client_id         TEXT    NOT NULL,
    client_secret     BLOB,
    auth_method       TEXT    NOT NULL DEFAULT '',
    scopes            TEXT    NOT NULL DEFAULT '[]',
    claim_mapping     TEXT    NOT NULL DEFAULT '{}',
    authorization_url TEXT    NOT NULL DEFAULT '',
    token_url         TEXT    NOT NULL DEFAULT '',
    userinfo_url      TEXT    NOT NULL DEFAULT '',
    emails_url        TEXT    NOT NULL DEFAULT '',
    username_claim    TEXT    NOT NULL DEFAULT '',
    create_users      INTEGER NOT NULL DEFAULT 0,
    enabled           INTEGER NOT NULL DEFAULT 0,
    trust_email       INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER,
    updated_at        INTEGER
) STRICT;

CREATE TABLE identity_provider_links (
    provider     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    email        TEXT NOT NULL DEFAULT '',
    created_at   INTEGER,
    last_used_at INTEGER,
    PRIMARY KEY (provider, subject)
) STRICT;

CREATE UNIQUE INDEX identity_provider_links_user ON identity_provider_links (user_id, provider);

-- +goose Down
DROP TABLE identity_provider_links;
DROP TABLE identity_providers;
