-- The daemon on real mail servers: how far each IMAP folder has been read, and which
-- addresses our mail cannot reach.

-- One row per mailbox and folder. The database, not the server's flags, is what makes
-- ingest exactly-once; this records the position and the connection's health.
CREATE TABLE imap_state (
    mailbox       TEXT NOT NULL,
    folder        TEXT NOT NULL,
    uidvalidity   BIGINT NOT NULL,
    last_uid      BIGINT NOT NULL DEFAULT 0,
    first_ok_at   TIMESTAMPTZ,
    last_ok_at    TIMESTAMPTZ,
    failing_since TIMESTAMPTZ,
    last_error    TEXT,
    PRIMARY KEY (mailbox, folder)
);

-- An address that refused our mail for good (a permanent SMTP error, or a bounce).
CREATE TABLE undeliverable (
    mailbox   TEXT NOT NULL,
    address   TEXT NOT NULL,
    reason    TEXT NOT NULL,
    marked_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (mailbox, address)
);
CREATE INDEX undeliverable_address ON undeliverable (mailbox, lower(address));

-- Alerts about a mailbox itself (the inbox unreachable, nothing arriving) are exceptions
-- without a case; they name their mailbox and are looked up by reason.
ALTER TABLE exceptions ADD COLUMN mailbox TEXT;
CREATE INDEX exceptions_open_reason ON exceptions (mailbox, reason) WHERE resolved_at IS NULL;
