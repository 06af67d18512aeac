//! rules/directory.toml: who receives referrals. Each home-region council's International
//! Recruitment lead and safeguarding contact, and each other region's hub.

use serde::Deserialize;
use toml::Spanned;

use super::{RuleError, RuleFile};
use crate::domain::EmailAddress;
use crate::gazetteer::{ENGLISH_REGIONS, Gazetteer};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectorySpec {
    council: Vec<CouncilSpec>,
    region: Vec<RegionSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CouncilSpec {
    name: Spanned<String>,
    ir_lead: Spanned<String>,
    safeguarding: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionSpec {
    name: Spanned<String>,
    hub: Spanned<String>,
}

#[derive(Debug, Clone)]
pub struct CouncilContact {
    pub council: String,
    pub ir_lead: EmailAddress,
    pub safeguarding: EmailAddress,
}

#[derive(Debug, Clone)]
pub struct RegionContact {
    pub region: String,
    pub hub: EmailAddress,
}

#[derive(Debug, Clone)]
pub struct Directory {
    pub councils: Vec<CouncilContact>,
    pub regions: Vec<RegionContact>,
}

impl Directory {
    pub fn compile(
        file: &RuleFile,
        gazetteer: &Gazetteer,
        home_region: &str,
    ) -> Result<Self, Vec<RuleError>> {
        let spec: DirectorySpec = file.parse().map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        let mut address = |raw: &Spanned<String>| {
            EmailAddress::parse(raw.get_ref()).unwrap_or_else(|| {
                errors.push(file.error(
                    raw.span(),
                    format!("`{}` is not an email address", raw.get_ref()),
                ));
                EmailAddress::parse("invalid@invalid.invalid").expect("valid placeholder")
            })
        };
        let mut councils = Vec::new();
        for c in &spec.council {
            councils.push(CouncilContact {
                council: c.name.get_ref().clone(),
                ir_lead: address(&c.ir_lead),
                safeguarding: address(&c.safeguarding),
            });
        }
        let mut regions = Vec::new();
        for r in &spec.region {
            regions.push(RegionContact {
                region: r.name.get_ref().clone(),
                hub: address(&r.hub),
            });
        }
        for c in &spec.council {
            let known = gazetteer
                .council_named(c.name.get_ref())
                .map(|id| gazetteer.council(id));
            match known {
                Some(council)
                    if council.name == *c.name.get_ref() && council.region == home_region => {}
                Some(council) if council.region == home_region => errors.push(file.error(
                    c.name.span(),
                    format!(
                        "write the council as `{}`, the name the gazetteer uses",
                        council.name
                    ),
                )),
                _ => errors.push(file.error(
                    c.name.span(),
                    format!("`{}` is not a council in {home_region}", c.name.get_ref()),
                )),
            }
        }
        for r in &spec.region {
            if !ENGLISH_REGIONS.contains(&r.name.get_ref().as_str())
                || r.name.get_ref() == home_region
            {
                errors.push(file.error(
                    r.name.span(),
                    format!("`{}` is not another English region", r.name.get_ref()),
                ));
            }
        }
        for (_, council) in gazetteer.councils() {
            if council.region == home_region && !councils.iter().any(|c| c.council == council.name)
            {
                errors.push(
                    file.whole_file_error(format!("no [[council]] entry for {}", council.name)),
                );
            }
        }
        for region in ENGLISH_REGIONS {
            if region != home_region && !regions.iter().any(|r| r.region == region) {
                errors.push(file.whole_file_error(format!("no [[region]] entry for {region}")));
            }
        }
        if errors.is_empty() {
            Ok(Self { councils, regions })
        } else {
            Err(errors)
        }
    }

    pub fn council(&self, name: &str) -> Option<&CouncilContact> {
        self.councils.iter().find(|c| c.council == name)
    }

    pub fn region(&self, name: &str) -> Option<&RegionContact> {
        self.regions.iter().find(|r| r.region == name)
    }

    /// Who a referrer is, for the programme's figures: another region's hub, a council of
    /// ours, or anyone else (a charity, UKVI, an agency). An address in the directory, or
    /// any address at a domain that only one directory entry uses.
    pub fn referrer(&self, sender: &EmailAddress) -> Referrer {
        let hubs = self.regions.iter().map(|r| (&r.hub, Referrer::OtherRegion));
        let councils = self.councils.iter().flat_map(|c| {
            [
                (&c.ir_lead, Referrer::Council),
                (&c.safeguarding, Referrer::Council),
            ]
        });
        let contacts: Vec<(&EmailAddress, Referrer)> = hubs.chain(councils).collect();
        if let Some((_, kind)) = contacts.iter().find(|(a, _)| a.same_mailbox(sender)) {
            return *kind;
        }
        let domain = sender.domain().to_lowercase();
        let at_domain: Vec<Referrer> = contacts
            .iter()
            .filter(|(a, _)| a.domain().eq_ignore_ascii_case(&domain))
            .map(|(_, kind)| *kind)
            .collect();
        // Placeholder directories put every hub on one domain: then the domain says nothing.
        let owners = self
            .regions
            .iter()
            .filter(|r| r.hub.domain().eq_ignore_ascii_case(&domain))
            .count()
            + self
                .councils
                .iter()
                .filter(|c| {
                    c.ir_lead.domain().eq_ignore_ascii_case(&domain)
                        || c.safeguarding.domain().eq_ignore_ascii_case(&domain)
                })
                .count();
        match at_domain.first() {
            Some(kind) if owners == 1 => *kind,
            _ => Referrer::Other,
        }
    }
}

/// Where a referral came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Referrer {
    OtherRegion,
    Council,
    Other,
}

impl Referrer {
    pub fn as_str(self) -> &'static str {
        match self {
            Referrer::OtherRegion => "other_region",
            Referrer::Council => "council",
            Referrer::Other => "other",
        }
    }
}
