-- Cases, their messages and everything the mailbox does about them.
-- Exactly once is enforced here: unique keys on where a message came from, its
-- Message-ID and its hash; outbound mail is written in the same transaction as the
-- case change that caused it.

CREATE TABLE cases (
    id               BIGSERIAL PRIMARY KEY,
    reference        TEXT NOT NULL UNIQUE,
    -- The regional mailbox the worker wrote to (one deployment may serve several).
    mailbox          TEXT NOT NULL,
    state            TEXT NOT NULL,
    language         TEXT NOT NULL DEFAULT 'en',
    worker_name      TEXT,
    council          TEXT,
    region           TEXT,
    route            TEXT,
    readiness        TEXT,
    consent          TEXT,
    safeguarding     BOOLEAN NOT NULL DEFAULT FALSE,
    -- Nothing is shared externally while a safeguarding concern waits for staff.
    safeguarding_hold BOOLEAN NOT NULL DEFAULT FALSE,
    revocation_date  DATE,
    deadline         DATE,
    outcome          TEXT,
    -- Fields asked for, and when: a field is asked at most twice (request, reminder).
    asked            JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_inbound_at  TIMESTAMPTZ,
    last_outbound_at TIMESTAMPTZ,
    reminder_sent_at TIMESTAMPTZ,
    closed_at        TIMESTAMPTZ
);
CREATE INDEX cases_open_timers ON cases (state, last_outbound_at) WHERE closed_at IS NULL;
CREATE INDEX cases_deadline ON cases (deadline) WHERE closed_at IS NULL;

-- Every address that speaks for the worker on a case (their own, a relative's).
CREATE TABLE case_addresses (
    case_id    BIGINT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    address    TEXT NOT NULL,
    added_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, address)
);
CREATE INDEX case_addresses_address ON case_addresses (lower(address));

CREATE TABLE messages (
    id                BIGSERIAL PRIMARY KEY,
    received_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    mailbox           TEXT NOT NULL,
    -- Where it came from: an IMAP folder with UIDVALIDITY and UID, or a local folder and file.
    source            TEXT NOT NULL,
    uidvalidity       BIGINT,
    uid               BIGINT,
    file_path         TEXT,
    message_id        TEXT,
    sha256            BYTEA NOT NULL,
    raw               BYTEA NOT NULL,
    -- received (stored, not yet processed) | processed | quarantined
    status            TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,
    quarantine_reason TEXT,
    processed_at      TIMESTAMPTZ,
    kind              TEXT,
    from_address      TEXT,
    subject           TEXT,
    case_id           BIGINT REFERENCES cases (id) ON DELETE SET NULL,
    triage            JSONB
);
CREATE UNIQUE INDEX messages_imap_position ON messages (mailbox, source, uidvalidity, uid) WHERE uid IS NOT NULL;
CREATE UNIQUE INDEX messages_file_position ON messages (mailbox, source, file_path) WHERE file_path IS NOT NULL;
CREATE UNIQUE INDEX messages_message_id ON messages (mailbox, message_id) WHERE message_id IS NOT NULL;
CREATE UNIQUE INDEX messages_sha256 ON messages (mailbox, sha256);
CREATE INDEX messages_unprocessed ON messages (id) WHERE status = 'received';
CREATE INDEX messages_case ON messages (case_id, received_at);

-- What the worker told us. A newer statement of a field supersedes the older one.
CREATE TABLE facts (
    id            BIGSERIAL PRIMARY KEY,
    case_id       BIGINT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    field         TEXT NOT NULL,
    value         TEXT NOT NULL,
    message_id    BIGINT REFERENCES messages (id) ON DELETE SET NULL,
    quote         TEXT,
    confidence    REAL NOT NULL,
    actor         TEXT NOT NULL DEFAULT 'bot',
    recorded_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    superseded_at TIMESTAMPTZ
);
CREATE INDEX facts_current ON facts (case_id, field) WHERE superseded_at IS NULL;

CREATE TABLE consents (
    id              BIGSERIAL PRIMARY KEY,
    case_id         BIGINT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    status          TEXT NOT NULL,              -- given | refused | withdrawn
    -- The consent request wording the worker answered (template and version), or who relayed it.
    wording_version TEXT NOT NULL,
    message_id      BIGINT REFERENCES messages (id) ON DELETE SET NULL,
    quote           TEXT,
    actor           TEXT NOT NULL DEFAULT 'bot',
    recorded_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX consents_case ON consents (case_id, recorded_at);

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    mailbox         TEXT NOT NULL,
    case_id         BIGINT REFERENCES cases (id) ON DELETE SET NULL,
    -- The inbound message this answers, if any.
    reply_to        BIGINT REFERENCES messages (id) ON DELETE SET NULL,
    kind            TEXT NOT NULL,              -- the template name
    template_version TEXT NOT NULL,
    message_id      TEXT NOT NULL UNIQUE,
    recipients      TEXT[] NOT NULL,
    subject         TEXT NOT NULL,
    raw             BYTEA NOT NULL,
    -- Sent without a person deciding: carries Auto-Submitted.
    automatic       BOOLEAN NOT NULL,
    -- queued | sent | failed (permanently) | cancelled (withdrawal) | held (loop guard: staff decide)
    status          TEXT NOT NULL DEFAULT 'queued',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at         TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'queued';
CREATE INDEX outbox_recipient ON outbox USING GIN (recipients);
CREATE INDEX outbox_case ON outbox (case_id, created_at);

CREATE TABLE referrals (
    id          BIGSERIAL PRIMARY KEY,
    case_id     BIGINT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    target_kind TEXT NOT NULL,                  -- council | region
    target      TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    outbox_id   BIGINT REFERENCES outbox (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    outcome     TEXT,
    outcome_at  TIMESTAMPTZ
);
CREATE INDEX referrals_case ON referrals (case_id);

-- Who received which of the worker's details, when, and under which consent.
CREATE TABLE disclosures (
    id           BIGSERIAL PRIMARY KEY,
    case_id      BIGINT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    recipient    TEXT NOT NULL,
    fields       TEXT[] NOT NULL,
    purpose      TEXT NOT NULL,
    consent_id   BIGINT REFERENCES consents (id) ON DELETE SET NULL,
    outbox_id    BIGINT REFERENCES outbox (id) ON DELETE SET NULL,
    disclosed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX disclosures_case ON disclosures (case_id);

-- What a person must look at. Resolved by staff in the web app.
CREATE TABLE exceptions (
    id          BIGSERIAL PRIMARY KEY,
    case_id     BIGINT REFERENCES cases (id) ON DELETE CASCADE,
    message_id  BIGINT REFERENCES messages (id) ON DELETE SET NULL,
    reason      TEXT NOT NULL,                  -- safeguarding | no_location | ... (see README)
    detail      TEXT NOT NULL,
    priority    SMALLINT NOT NULL,              -- 0 is most urgent
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at TIMESTAMPTZ,
    resolved_by TEXT
);
CREATE INDEX exceptions_open ON exceptions (priority, created_at) WHERE resolved_at IS NULL;

-- The audit trail: every transition and action, by the bot or a staff member, with evidence.
CREATE TABLE events (
    id         BIGSERIAL PRIMARY KEY,
    case_id    BIGINT REFERENCES cases (id) ON DELETE CASCADE,
    message_id BIGINT REFERENCES messages (id) ON DELETE SET NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    detail     JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX events_case ON events (case_id, created_at);
CREATE INDEX events_action ON events (action, created_at);
