//! Stage 6: work-readiness and the proposed route, each with its reasons.
//! `la:<Council>` in the home region, `region:<Region>` elsewhere in England, `staff` for
//! every exception, `none` for mail that must not be acted on.

use crate::domain::{Consent, Kind, Outcome, Readiness, Route};
use crate::gazetteer::is_english_region;
use crate::pipeline::extract::Facts;
use crate::rules::Rules;

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub readiness: Readiness,
    pub route: Route,
    pub reasons: Vec<String>,
}

pub fn decide(kind: Kind, facts: &Facts, rules: &Rules) -> Decision {
    let mut reasons = Vec::new();
    let (readiness, why) = if kind.is_about_a_worker() && kind != Kind::Withdrawal {
        let licence = facts.driving_licence.as_ref().map(|f| f.value);
        let car = facts.car_access.as_ref().map(|f| f.value);
        let (readiness, why) = rules.readiness.assess(licence, car);
        (readiness, Some(why.to_string()))
    } else {
        (Readiness::Unknown, None)
    };
    if let Some(why) = why.filter(|w| !w.is_empty()) {
        reasons.push(format!("readiness {}: {why}", readiness.as_str()));
    }
    let route = route(kind, facts, rules, &mut reasons);
    Decision {
        readiness,
        route,
        reasons,
    }
}

fn route(kind: Kind, facts: &Facts, rules: &Rules, reasons: &mut Vec<String>) -> Route {
    match kind {
        Kind::AutoReply | Kind::Bounce => {
            reasons.push("route none: automatic mail is recorded, never answered".into());
            return Route::None;
        }
        Kind::Unrelated => {
            reasons.push("route none: not about a worker".into());
            return Route::None;
        }
        Kind::Withdrawal => {
            reasons.push(
                "route none: consent withdrawn, so stop, confirm and tell earlier recipients"
                    .into(),
            );
            return Route::None;
        }
        Kind::ProviderEnquiry => {
            reasons.push(
                "route staff: a care provider's enquiry, for staff to answer and match".into(),
            );
            return Route::Staff;
        }
        _ => {}
    }
    if facts.safeguarding.is_raised() {
        let what: Vec<&str> = facts
            .safeguarding
            .0
            .iter()
            .map(|i| i.indicator.as_str())
            .collect();
        reasons.push(format!(
            "route staff: safeguarding ({}), escalate now, share nothing without a staff decision",
            what.join(", ")
        ));
        return Route::Staff;
    }
    if kind == Kind::OutcomeUpdate {
        return match facts.outcome.as_ref().map(|o| o.value) {
            Some(Outcome::Moved) => {
                reasons.push(
                    "route staff: the lead says the worker lives elsewhere now; staff re-route"
                        .into(),
                );
                Route::Staff
            }
            Some(outcome) => {
                reasons.push(format!(
                    "route none: outcome {} recorded on the case",
                    outcome.as_str()
                ));
                Route::None
            }
            None => {
                reasons.push("route staff: a lead's reply whose outcome is unclear".into());
                Route::Staff
            }
        };
    }
    let Some(location) = &facts.location else {
        reasons.push("route staff: no postcode or town yet (ask the worker)".into());
        return Route::Staff;
    };
    let Some(region) = &location.region else {
        reasons.push("route staff: location without a region".into());
        return Route::Staff;
    };
    for note in &location.notes {
        reasons.push(format!("location: {note}"));
    }
    if !is_english_region(region) {
        reasons.push(format!(
            "route staff: lives in {region}, outside the English regions"
        ));
        return Route::Staff;
    }
    if let Some(conflict) = &location.conflict {
        reasons.push(format!(
            "route staff: conflicting locations (\"{}\" but {conflict})",
            location.evidence
        ));
        return Route::Staff;
    }
    if location.confidence < rules.routing.min_location_confidence {
        reasons.push(format!(
            "route staff: location \"{}\" is uncertain (confidence {:.2} < {:.2})",
            location.evidence, location.confidence, rules.routing.min_location_confidence
        ));
        return Route::Staff;
    }
    if matches!(
        facts.consent.as_ref().map(|c| c.value),
        Some(Consent::Refused)
    ) {
        reasons.push("consent refused: signpost only, share nothing".into());
    }
    if *region == rules.routing.home_region {
        return match &location.council_name {
            Some(council) => {
                reasons.push(format!(
                    "route la:{council}: lives in {council} (\"{}\")",
                    location.evidence
                ));
                Route::LocalAuthority(council.clone())
            }
            None => {
                reasons.push(format!(
                    "route staff: in {region} but the council is not known"
                ));
                Route::Staff
            }
        };
    }
    reasons.push(format!(
        "route region:{region}: lives outside {} (\"{}\")",
        rules.routing.home_region, location.evidence
    ));
    Route::Region(region.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DrivingLicence, Safeguarding, SafeguardingIndicator};
    use crate::pipeline::extract::{Found, Location};
    use crate::rules::tests::rules;

    fn located(council: Option<&str>, region: &str, confidence: f32) -> Location {
        Location {
            postcode: None,
            council: None,
            council_name: council.map(str::to_string),
            region: Some(region.to_string()),
            confidence,
            evidence: "somewhere".into(),
            notes: Vec::new(),
            conflict: None,
            considered: Vec::new(),
        }
    }

    fn facts(location: Option<Location>) -> Facts {
        Facts {
            location,
            language: "en".into(),
            ..Facts::default()
        }
    }

    #[test]
    fn routes_follow_where_the_worker_lives() {
        let r = rules();
        let cases = [
            (
                Kind::SupportRequest,
                Some(located(Some("Coventry"), "West Midlands", 0.9)),
                Route::LocalAuthority("Coventry".into()),
            ),
            (
                Kind::ConsentReply,
                Some(located(Some("Leeds"), "Yorkshire and the Humber", 0.9)),
                Route::Region("Yorkshire and the Humber".into()),
            ),
            (
                Kind::SupportRequest,
                Some(located(Some("Cardiff"), "Wales", 0.9)),
                Route::Staff,
            ),
            (
                Kind::SupportRequest,
                Some(located(Some("Solihull"), "West Midlands", 0.6)),
                Route::Staff,
            ),
            (
                Kind::SupportRequest,
                Some(located(None, "West Midlands", 0.9)),
                Route::Staff,
            ),
            (Kind::SupportRequest, None, Route::Staff),
            (
                Kind::AutoReply,
                Some(located(Some("Dudley"), "West Midlands", 0.9)),
                Route::None,
            ),
            (Kind::Bounce, None, Route::None),
            (Kind::Unrelated, None, Route::None),
            (
                Kind::Withdrawal,
                Some(located(Some("Kent"), "South East", 0.9)),
                Route::None,
            ),
            (Kind::ProviderEnquiry, None, Route::Staff),
        ];
        for (kind, location, expected) in cases {
            let decision = decide(kind, &facts(location), r);
            assert_eq!(decision.route, expected, "{kind}: {:?}", decision.reasons);
            assert!(!decision.reasons.is_empty());
        }
    }

    #[test]
    fn safeguarding_and_conflicts_go_to_staff_whatever_the_location() {
        let mut f = facts(Some(located(Some("Coventry"), "West Midlands", 1.0)));
        f.safeguarding = Safeguarding(vec![SafeguardingIndicator {
            indicator: "threats".into(),
            phrase: "he said".into(),
        }]);
        let decision = decide(Kind::SupportRequest, &f, rules());
        assert_eq!(decision.route, Route::Staff);
        assert!(
            decision
                .reasons
                .iter()
                .any(|r| r.contains("safeguarding (threats)"))
        );

        let mut conflicted = located(Some("Coventry"), "West Midlands", 1.0);
        conflicted.conflict = Some("also says \"Derby\"".into());
        assert_eq!(
            decide(Kind::SupportRequest, &facts(Some(conflicted)), rules()).route,
            Route::Staff
        );
    }

    #[test]
    fn readiness_comes_from_the_licence_and_car() {
        let cases = [
            (Some(DrivingLicence::UkFull), Some(true), Readiness::Ready),
            (
                Some(DrivingLicence::UkFull),
                Some(false),
                Readiness::NeedsSupport,
            ),
            (Some(DrivingLicence::Foreign), None, Readiness::NeedsSupport),
            (Some(DrivingLicence::None), None, Readiness::NotReady),
            (None, Some(true), Readiness::Unknown),
        ];
        for (licence, car, expected) in cases {
            let mut f = facts(None);
            f.driving_licence = licence.map(|l| Found::new(l, "", 1.0));
            f.car_access = car.map(|c| Found::new(c, "", 1.0));
            assert_eq!(
                decide(Kind::SupportRequest, &f, rules()).readiness,
                expected,
                "{licence:?} {car:?}"
            );
        }
    }

    #[test]
    fn outcome_updates_are_recorded_or_go_to_staff_when_unclear() {
        let mut f = facts(None);
        f.outcome = Some(Found::new(Outcome::Employed, "", 1.0));
        assert_eq!(decide(Kind::OutcomeUpdate, &f, rules()).route, Route::None);
        f.outcome = Some(Found::new(Outcome::Moved, "", 1.0));
        assert_eq!(decide(Kind::OutcomeUpdate, &f, rules()).route, Route::Staff);
        f.outcome = None;
        assert_eq!(decide(Kind::OutcomeUpdate, &f, rules()).route, Route::Staff);
    }
}
