-- Upstream identity providers (issue 15): OpenID Connect and plain OAuth 2.0
-- providers users may sign in through, and the links of local users to
-- upstream identities. The client secret is sealed (AES-256-GCM under a key
-- derived from the server secret, bound to the provider's name), never
-- stored in clear.

-- +goose Up
CREATE TABLE identity_providers (
    name              text COLLATE "C" PRIMARY KEY,
    display_name      text    NOT NULL DEFAULT '',
    kind              text    NOT NULL,
    issuer            text    NOT NULL,
    client_id         text    NOT NULL,
    client_secret     bytea,
    auth_method       text    NOT NULL DEFAULT '',
    scopes            text[]  NOT NULL DEFAULT '{}',
    claim_mapping     jsonb   NOT NULL DEFAULT '{}',
    authorization_url text    NOT NULL DEFAULT '',
    token_url         text    NOT NULL DEFAULT '',
    userinfo_url      text    NOT NULL DEFAULT '',
    emails_url        text    NOT NULL DEFAULT '',
    username_claim    text    NOT NULL DEFAULT '',
    create_users      boolean NOT NULL DEFAULT false,
    enabled           boolean NOT NULL DEFAULT false,
    trust_email       boolean NOT NULL DEFAULT false,
    created_at        timestamptz,
    updated_at        timestamptz
);

CREATE TABLE identity_provider_links (
    provider     text COLLATE "C" NOT NULL,
    subject      text COLLATE "C" NOT NULL,
    user_id      text COLLATE "C" NOT NULL,
    email        text NOT NULL DEFAULT '',
    created_at   timestamptz,
    last_used_at timestamptz,
    PRIMARY KEY (provider, subject)
);

CREATE UNIQUE INDEX identity_provider_links_user ON identity_provider_links (user_id, provider);

-- +goose Down
DROP TABLE identity_provider_links;
DROP TABLE identity_providers;
