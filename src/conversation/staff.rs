//! What people decide about a case in the web app, as plans like the bot's own: corrected
//! facts, an approved or changed route, an outcome from a council lead, closing and
//! reopening. Pure: `casework` applies each plan in one transaction. A decision that
//! cannot be taken now is refused with the reason, in words for the person who asked.

use super::*;

/// Where staff send the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteChoice {
    /// Where the facts say the worker lives (approving a route the bot was unsure of).
    Proposed,
    /// A council of the home region: its International Recruitment lead.
    Council(String),
    /// Another region: its hub.
    Region(String),
}

/// How staff close a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    Employed,
    NoFurtherAction,
    /// Another region's hub has taken the worker on.
    ReferredElsewhere,
}

impl Closing {
    pub fn parse(text: &str) -> Option<Closing> {
        match text {
            "employed" => Some(Closing::Employed),
            "nfa" => Some(Closing::NoFurtherAction),
            "referred_elsewhere" => Some(Closing::ReferredElsewhere),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Closing::Employed => "employed",
            Closing::NoFurtherAction => "nfa",
            Closing::ReferredElsewhere => "referred_elsewhere",
        }
    }
}

fn staff_plan(case: &CaseSnapshot) -> Plan {
    Plan {
        case: CaseTarget::Existing(case.id),
        held: case.facts.clone(),
        link_message: true,
        ..Plan::default()
    }
}

fn open(case: &CaseSnapshot) -> Result<(), String> {
    if case.state.is_closed() {
        return Err(format!(
            "{} is {}: reopen it first.",
            case.reference,
            case.state.as_str().replace('_', " ")
        ));
    }
    Ok(())
}

/// Facts corrected by staff are recorded over the bot's (which are kept), readiness is
/// assessed again, and, with consent standing, the conversation goes on as if the worker
/// had said them: a referral once the location is known, or the question still missing.
/// A referred case only records them: changing where it went is a route decision.
pub fn on_correction(case: &CaseSnapshot, corrected: &Facts, rules: &Rules) -> Plan {
    let mut plan = staff_plan(case);
    let held = note_facts(corrected, true, rules, case.facts.clone(), &mut plan);
    plan.events.push(NewEvent {
        action: "facts_corrected",
        detail: json!({ "fields": plan.facts.iter().map(|f| f.field).collect::<Vec<_>>() }),
    });
    let goes_on = !case.state.is_closed()
        && !case.state.is_referred()
        && case.consent == Some(Consent::Given);
    if goes_on && !plan.facts.is_empty() {
        progress(
            &held,
            &case.asked,
            case.safeguarding_hold,
            case.addresses.first(),
            rules,
            &mut plan,
        );
    }
    plan
}

/// Refers the worker where staff decide (the bot's proposal approved, or another council
/// or region). Needs the worker's consent and no safeguarding concern waiting.
pub fn on_route(case: &CaseSnapshot, choice: &RouteChoice, rules: &Rules) -> Result<Plan, String> {
    open(case)?;
    if case.consent != Some(Consent::Given) {
        return Err(
            "The worker has not given consent, so their details cannot be shared yet.".into(),
        );
    }
    if case.safeguarding_hold {
        return Err("Record the safeguarding decision first: nothing is shared until then.".into());
    }
    let home = rules.routing.home_region.as_str();
    let target = match choice {
        RouteChoice::Proposed => {
            if let Some(country) = case.fact("country").filter(|c| *c != "England") {
                return Err(format!(
                    "The worker lives in {country}, outside the English regions: signpost them instead."
                ));
            }
            let Some(region) = case.fact("region") else {
                return Err(
                    "Where the worker lives is not known: correct the location first, or choose a council or region.".into(),
                );
            };
            contact_for(region, case.fact("council"), rules)
        }
        RouteChoice::Council(council) => contact_for(home, Some(council), rules),
        RouteChoice::Region(region) if region == home => {
            return Err(format!(
                "{home} is our own region: choose the council instead."
            ));
        }
        RouteChoice::Region(region) => contact_for(region, None, rules),
    }
    .map_err(|(_, detail)| detail)?;
    if case.route.as_deref() == Some(route_of(&target).as_str()) && case.state.is_referred() {
        return Err(format!(
            "The worker is already referred to {}.",
            target.name()
        ));
    }
    let mut plan = staff_plan(case);
    // The referral says where the worker lives as staff decided it.
    let (council, region) = match &target {
        Target::Council { name, .. } => (Some(name.clone()), home.to_string()),
        Target::Region { name, .. } => (None, name.clone()),
    };
    let decided = |field: &'static str, value: String, plan: &mut Plan| {
        let quote = Some("route chosen by staff".to_string());
        hold(&mut plan.held, &mut plan.facts, field, value, quote, 1.0);
    };
    if *choice != RouteChoice::Proposed {
        if let Some(council) = &council {
            decided("council", council.clone(), &mut plan);
            plan.updates.council = Some(council.clone());
        }
        decided("region", region.clone(), &mut plan);
        decided("country", "England".into(), &mut plan);
        plan.updates.region = Some(region);
    }
    decided("location_confidence", "1.00".into(), &mut plan);
    plan.events.push(NewEvent {
        action: "route_decided",
        detail: json!({
            "choice": match choice {
                RouteChoice::Proposed => "proposed",
                RouteChoice::Council(_) => "council",
                RouteChoice::Region(_) => "region",
            },
            "target": target.name(),
            "was": case.route,
        }),
    });
    refer(target, case.addresses.first(), &mut plan);
    Ok(plan)
}

fn route_of(target: &Target) -> String {
    match target {
        Target::Council { name, .. } => format!("la:{name}"),
        Target::Region { name, .. } => format!("region:{name}"),
    }
}

/// An outcome reported in the web app by the council lead (or staff): employed closes the
/// case, no further action closes it, in progress is noted, moved goes to staff to re-route.
pub fn on_outcome(
    case: &CaseSnapshot,
    outcome: Outcome,
    employer: Option<&str>,
) -> Result<Plan, String> {
    open(case)?;
    if !case.state.is_referred() {
        return Err(format!(
            "{} has not been referred, so there is no referral to report on.",
            case.reference
        ));
    }
    let mut plan = staff_plan(case);
    let employer = employer.map(|name| (name, "reported in the web app"));
    reported_outcome(case, Some(outcome), employer, &mut plan);
    Ok(plan)
}

/// Closes the case with its outcome; mail still queued for it is cancelled. With
/// `tell_worker`, a case closed for no further action sends the worker the closing email
/// (how to come back).
pub fn on_close(case: &CaseSnapshot, closing: Closing, tell_worker: bool) -> Result<Plan, String> {
    open(case)?;
    let mut plan = staff_plan(case);
    let (state, outcome) = match closing {
        Closing::Employed => (CaseState::ClosedEmployed, Some(Outcome::Employed)),
        Closing::NoFurtherAction => (CaseState::ClosedNfa, Some(Outcome::Nfa)),
        Closing::ReferredElsewhere => (CaseState::ClosedReferredRegion, None),
    };
    plan.state = Some(state);
    plan.updates.outcome = outcome;
    plan.outcome = outcome;
    plan.cancel_queued = true;
    if tell_worker
        && closing == Closing::NoFurtherAction
        && let Some(worker) = case.addresses.first()
    {
        plan.mail
            .push(Outgoing::new(Reply::Closing, vec![worker.clone()], false));
    }
    plan.events.push(NewEvent {
        action: "case_closed",
        detail: json!({ "as": closing.as_str() }),
    });
    Ok(plan)
}

/// Reopens a closed case. With consent standing it waits for staff (`triaged`); without,
/// the worker is asked for consent again, afresh.
pub fn on_reopen(case: &CaseSnapshot, rules: &Rules) -> Result<Plan, String> {
    if !case.state.is_closed() {
        return Err(format!("{} is open already.", case.reference));
    }
    if matches!(case.state, CaseState::Erased | CaseState::Merged) {
        return Err(format!(
            "{} is {}: it cannot be reopened.",
            case.reference,
            case.state.as_str()
        ));
    }
    let mut plan = staff_plan(case);
    plan.reset_asked = true;
    plan.events.push(NewEvent {
        action: "case_reopened",
        detail: json!({ "was": case.state.as_str() }),
    });
    if case.consent == Some(Consent::Given) {
        plan.state = Some(CaseState::Triaged);
        return Ok(plan);
    }
    plan.state = Some(CaseState::AwaitingConsent);
    if let Some(worker) = case.addresses.first() {
        let mut request = Outgoing::new(Reply::ConsentRequest, vec![worker.clone()], false);
        request.asks = missing(
            &case.facts,
            &rules.conversation.asked_before_referral,
            &rules.conversation.required_before_referral,
        );
        plan.asked.push(Field::Consent);
        plan.asked.extend(request.asks.iter().copied());
        plan.mail.push(request);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{WALSALL, case, kinds};
    use super::*;
    use crate::domain::Phone;
    use crate::pipeline::extract::{Found, Location};
    use crate::rules::tests::rules;

    fn location(council: &str, region: &str, evidence: &str) -> Location {
        Location {
            postcode: None,
            council: None,
            council_name: Some(council.into()),
            region: Some(region.into()),
            confidence: 1.0,
            evidence: evidence.into(),
            notes: Vec::new(),
            conflict: None,
            considered: Vec::new(),
        }
    }

    #[test]
    fn a_corrected_location_refers_a_consenting_worker() {
        let mut triaged = case(CaseState::Triaged, Some(Consent::Given), &[]);
        triaged.facts.insert(
            "location_confidence".into(),
            HeldFact {
                value: "0.40".into(),
                quote: None,
            },
        );
        let corrected = Facts {
            location: Some(location(
                "Walsall",
                "West Midlands",
                "staff: lives in Bloxwich",
            )),
            ..Facts::default()
        };
        let plan = on_correction(&triaged, &corrected, rules());
        assert_eq!(plan.state, Some(CaseState::ReferredLa));
        assert_eq!(
            kinds(&plan),
            [Reply::ReferralCouncil, Reply::WorkerReferred]
        );
        assert_eq!(plan.updates.council.as_deref(), Some("Walsall"));
        assert!(plan.facts.iter().any(
            |f| f.field == "council" && f.quote.as_deref() == Some("staff: lives in Bloxwich")
        ));
        assert_eq!(plan.events[0].action, "facts_corrected");
    }

    #[test]
    fn a_correction_without_consent_or_after_referral_only_records() {
        let corrected = Facts {
            phone: Some(Found::new(
                Phone::parse("07700 900555").unwrap(),
                "staff",
                1.0,
            )),
            ..Facts::default()
        };
        for state in [CaseState::AwaitingConsent, CaseState::ReferredLa] {
            let consent = (state == CaseState::ReferredLa).then_some(Consent::Given);
            let plan = on_correction(&case(state, consent, &WALSALL), &corrected, rules());
            assert_eq!(plan.state, None, "{state}");
            assert!(plan.mail.is_empty(), "{state}");
            assert_eq!(plan.facts.len(), 1);
        }
    }

    #[test]
    fn routes_need_consent_and_no_safeguarding_hold() {
        let no_consent = case(CaseState::AwaitingConsent, None, &WALSALL);
        assert!(on_route(&no_consent, &RouteChoice::Proposed, rules()).is_err());
        let mut held = case(CaseState::Triaged, Some(Consent::Given), &WALSALL);
        held.safeguarding_hold = true;
        let refused = on_route(&held, &RouteChoice::Proposed, rules()).unwrap_err();
        assert!(refused.contains("safeguarding"), "{refused}");
        let closed = case(CaseState::ClosedNfa, Some(Consent::Given), &WALSALL);
        assert!(on_route(&closed, &RouteChoice::Proposed, rules()).is_err());
    }

    #[test]
    fn staff_approve_the_proposed_route_or_choose_another() {
        let triaged = case(CaseState::Triaged, Some(Consent::Given), &WALSALL);
        let approved = on_route(&triaged, &RouteChoice::Proposed, rules()).unwrap();
        assert_eq!(approved.state, Some(CaseState::ReferredLa));
        assert_eq!(approved.referral.as_ref().unwrap().name(), "Walsall");

        let dudley = on_route(&triaged, &RouteChoice::Council("Dudley".into()), rules()).unwrap();
        assert_eq!(dudley.referral.as_ref().unwrap().name(), "Dudley");
        assert_eq!(
            dudley.held["council"].value, "Dudley",
            "the referral says Dudley"
        );
        assert_eq!(dudley.updates.council.as_deref(), Some("Dudley"));

        let north_west =
            on_route(&triaged, &RouteChoice::Region("North West".into()), rules()).unwrap();
        assert_eq!(north_west.state, Some(CaseState::ReferredRegion));
        assert_eq!(
            kinds(&north_west),
            [Reply::ReferralRegion, Reply::WorkerReferred]
        );

        let home = on_route(
            &triaged,
            &RouteChoice::Region("West Midlands".into()),
            rules(),
        );
        assert!(home.unwrap_err().contains("choose the council"));
        let unknown = on_route(&triaged, &RouteChoice::Council("Atlantis".into()), rules());
        assert!(unknown.is_err());

        let mut referred = case(CaseState::ReferredLa, Some(Consent::Given), &WALSALL);
        referred.route = Some("la:Walsall".into());
        let again = on_route(&referred, &RouteChoice::Proposed, rules()).unwrap_err();
        assert!(again.contains("already referred"), "{again}");
        let moved = on_route(&referred, &RouteChoice::Council("Dudley".into()), rules()).unwrap();
        assert_eq!(moved.referral.unwrap().name(), "Dudley", "re-routed");
    }

    #[test]
    fn outcomes_close_or_note_the_referral() {
        let referred = case(CaseState::ReferredLa, Some(Consent::Given), &WALSALL);
        let employed = on_outcome(&referred, Outcome::Employed, Some("Sunrise Care Ltd")).unwrap();
        assert_eq!(employed.state, Some(CaseState::ClosedEmployed));
        assert_eq!(employed.outcome, Some(Outcome::Employed));
        assert_eq!(employed.facts[0].value, "Sunrise Care Ltd");
        let going = on_outcome(&referred, Outcome::InProgress, None).unwrap();
        assert_eq!(going.state, None);
        let moved = on_outcome(&referred, Outcome::Moved, None).unwrap();
        assert_eq!(moved.exceptions[0].reason, "worker_moved");
        let new = case(CaseState::AwaitingInfo, Some(Consent::Given), &WALSALL);
        assert!(on_outcome(&new, Outcome::Employed, None).is_err());
    }

    #[test]
    fn closing_and_reopening() {
        let open_case = case(CaseState::AwaitingInfo, Some(Consent::Given), &WALSALL);
        let closed = on_close(&open_case, Closing::NoFurtherAction, true).unwrap();
        assert_eq!(closed.state, Some(CaseState::ClosedNfa));
        assert!(closed.cancel_queued);
        assert_eq!(kinds(&closed), [Reply::Closing]);
        let quietly = on_close(&open_case, Closing::Employed, true).unwrap();
        assert!(
            quietly.mail.is_empty(),
            "an employed worker gets no closing email"
        );

        let was_closed = case(CaseState::ClosedNfa, Some(Consent::Given), &WALSALL);
        assert!(on_close(&was_closed, Closing::Employed, false).is_err());
        let reopened = on_reopen(&was_closed, rules()).unwrap();
        assert_eq!(reopened.state, Some(CaseState::Triaged));
        assert!(reopened.reset_asked);
        assert!(reopened.mail.is_empty());

        let refused = case(CaseState::ClosedNoConsent, Some(Consent::Refused), &[]);
        let asked_again = on_reopen(&refused, rules()).unwrap();
        assert_eq!(asked_again.state, Some(CaseState::AwaitingConsent));
        assert_eq!(kinds(&asked_again), [Reply::ConsentRequest]);
        assert!(asked_again.mail[0].asks.contains(&Field::Location));

        assert!(on_reopen(&open_case, rules()).is_err());
        let erased = case(CaseState::Erased, None, &[]);
        assert!(on_reopen(&erased, rules()).is_err());
    }
}
