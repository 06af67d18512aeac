-- The web app: staff and LA-lead accounts, their sessions, and login attempts (for rate
-- limiting and the audit of who tried to get in).

CREATE TABLE staff (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,          -- lower case
    role          TEXT NOT NULL CHECK (role IN ('admin', 'staff', 'la-lead')),
    council       TEXT,                          -- la-lead: the council whose referrals they see
    password_hash TEXT NOT NULL,                 -- argon2id, PHC string
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    disabled_at   TIMESTAMPTZ,
    CHECK (role <> 'la-lead' OR council IS NOT NULL)
);

-- A session is known by the SHA-256 of its cookie token: a database leak gives no session.
CREATE TABLE sessions (
    token_sha256 BYTEA PRIMARY KEY,
    staff_id     BIGINT NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_staff ON sessions (staff_id);

CREATE TABLE login_attempts (
    id         BIGSERIAL PRIMARY KEY,
    email      TEXT NOT NULL,
    client     TEXT NOT NULL,
    succeeded  BOOLEAN NOT NULL,
    at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email ON login_attempts (email, at);
CREATE INDEX login_attempts_client ON login_attempts (client, at);
