//! The read side of the programme's figures: each figure of the DHSC return counted from the
//! audit trail (events) of one mailbox's cases in a period of UK dates, so any period can be
//! computed again later and an erased case (its events kept, anonymous) still counts. A
//! merged duplicate counts as the case it joined.

use chrono::NaiveDate;
use sqlx::PgConnection;

/// The figures by key (see `report::FIGURES` for what each means).
pub async fn dhsc(
    conn: &mut PgConnection,
    mailbox: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "WITH kept AS (
             SELECT id FROM cases WHERE mailbox = $1 AND state <> 'merged'
         ),
         during AS (
             SELECT e.* FROM events e JOIN kept k ON k.id = e.case_id
             WHERE (e.created_at AT TIME ZONE 'Europe/London')::date BETWEEN $2 AND $3
         ),
         opened AS (
             SELECT d.case_id, m.kind,
                    (SELECT r.detail ->> 'source' FROM events r
                     WHERE r.message_id = d.message_id AND r.action = 'referral_received'
                     LIMIT 1) AS source
             FROM during d LEFT JOIN messages m ON m.id = d.message_id
             WHERE d.action = 'case_opened'
         ),
         state_at_end AS (
             SELECT k.id,
                    coalesce(
                        (SELECT s.detail ->> 'to' FROM events s
                         WHERE s.case_id = k.id AND s.action = 'state_changed'
                           AND (s.created_at AT TIME ZONE 'Europe/London')::date <= $3
                         ORDER BY s.created_at DESC, s.id DESC LIMIT 1),
                        (SELECT o.detail ->> 'state' FROM events o
                         WHERE o.case_id = k.id AND o.action = 'case_opened'
                           AND (o.created_at AT TIME ZONE 'Europe/London')::date <= $3
                         LIMIT 1)
                    ) AS state
             FROM kept k
         ),
         providers AS (
             SELECT e.* FROM events e JOIN messages m ON m.id = e.message_id
             WHERE m.mailbox = $1 AND e.action = 'provider_enquiry'
               AND (e.created_at AT TIME ZONE 'Europe/London')::date BETWEEN $2 AND $3
         )
         SELECT key, value FROM (VALUES
             ('new_from_ukvi', (SELECT count(DISTINCT case_id) FROM opened
                                WHERE kind IS DISTINCT FROM 'referral_in')),
             ('from_other_regions', (SELECT count(DISTINCT case_id) FROM opened
                                     WHERE kind = 'referral_in' AND source = 'other_region')),
             ('from_other_sources', (SELECT count(DISTINCT case_id) FROM opened
                                     WHERE kind = 'referral_in' AND source IS DISTINCT FROM 'other_region')),
             ('signposted_self_help', (SELECT count(DISTINCT case_id) FROM during
                                       WHERE action = 'signposted'
                                         AND detail -> 'links' ?| ARRAY['self_help', 'job_matching'])),
             ('signposted_legal', (SELECT count(DISTINCT case_id) FROM during
                                   WHERE action = 'signposted' AND detail -> 'links' ? 'legal')),
             ('referred_to_councils', (SELECT count(DISTINCT case_id) FROM during
                                       WHERE action = 'referred' AND detail ->> 'kind' = 'council')),
             ('referred_to_home_region', (SELECT count(DISTINCT case_id) FROM during
                                          WHERE action = 'referred' AND detail ->> 'kind' = 'region')),
             ('providers_enquired', (SELECT count(DISTINCT lower(detail ->> 'domain')) FROM providers)),
             ('providers_supported', (SELECT count(DISTINCT lower(trim(detail ->> 'employer'))) FROM during
                                      WHERE action = 'outcome_reported' AND detail ->> 'outcome' = 'employed'
                                        AND coalesce(detail ->> 'employer', '') <> '')),
             ('employed', (SELECT count(DISTINCT case_id) FROM during
                           WHERE action = 'state_changed' AND detail ->> 'to' = 'closed_employed')),
             ('closed_nfa', (SELECT count(DISTINCT case_id) FROM during
                             WHERE action = 'state_changed' AND detail ->> 'to' = 'closed_nfa')),
             ('closed_referred_region', (SELECT count(DISTINCT case_id) FROM during
                                         WHERE action = 'state_changed' AND detail ->> 'to' = 'closed_referred_region')),
             ('active', (SELECT count(*) FROM state_at_end
                         WHERE state IS NOT NULL AND state NOT IN (
                             'closed_employed', 'closed_nfa', 'closed_referred_region',
                             'closed_no_consent', 'withdrawn', 'erased', 'merged')))
         ) AS figures (key, value)",
    )
    .bind(mailbox)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}
