-- Data-protection rights and the programme's figures.

-- Who erased which case, when, and what was removed (counts, never content). The case row
-- itself stays as an anonymous tombstone so the figures still add up.
CREATE TABLE erasures (
    id         BIGSERIAL PRIMARY KEY,
    case_id    BIGINT NOT NULL REFERENCES cases (id),
    reference  TEXT NOT NULL,
    erased_by  TEXT NOT NULL,                    -- staff:<email>, operator:<user>, retention
    erased_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    what       JSONB NOT NULL
);

-- The figures join events to the message that caused them; retention finds closed cases.
CREATE INDEX events_message ON events (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX cases_closed ON cases (mailbox, closed_at) WHERE closed_at IS NOT NULL;
