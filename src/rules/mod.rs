//! Loads and compiles `rules/`: what staff may change without a new build. Every file
//! is validated at load; errors name the file and line (`regional-mailbox rules check`).
//! Example texts with expected results live in `rules/tests/` (`rules test`).

pub mod consent;
pub mod conversation;
pub mod dates;
pub mod directory;
pub mod driving;
pub mod examples;
pub mod kinds;
pub mod language;
pub mod lexicon;
pub mod location;
pub mod outcomes;
pub mod phone;
pub mod prompts;
pub mod readiness;
pub mod routing;
pub mod safeguarding;
pub mod signposting;
pub mod source;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::gazetteer::Gazetteer;
pub use lexicon::{Lexicon, LexiconSpec};
pub use source::{RuleError, RuleErrors, RuleFile};

/// Every rule file, compiled.
#[derive(Debug)]
pub struct Rules {
    pub dir: PathBuf,
    pub kinds: kinds::KindRules,
    pub prompts: prompts::PromptRules,
    pub consent: consent::ConsentRules,
    pub driving: driving::DrivingRules,
    pub location: location::LocationRules,
    pub phone: phone::PhoneRules,
    pub safeguarding: safeguarding::SafeguardingRules,
    pub outcomes: outcomes::OutcomeRules,
    pub dates: dates::DateRules,
    pub language: language::LanguageRules,
    pub readiness: readiness::ReadinessRules,
    pub routing: routing::RoutingRules,
    pub directory: directory::Directory,
    pub conversation: conversation::ConversationRules,
    pub signposting: signposting::Signposting,
    pub gazetteer: Gazetteer,
}

impl Rules {
    /// Loads everything under `dir`, reporting every problem found, not just the first.
    pub fn load(dir: &Path) -> Result<Rules, RuleErrors> {
        let mut errors = Vec::new();
        let kinds = load_one(dir, "kinds.toml", kinds::KindRules::compile, &mut errors);
        let prompts = load_one(
            dir,
            "prompts.toml",
            prompts::PromptRules::compile,
            &mut errors,
        );
        let consent = load_one(
            dir,
            "consent.toml",
            consent::ConsentRules::compile,
            &mut errors,
        );
        let driving = load_one(
            dir,
            "driving.toml",
            driving::DrivingRules::compile,
            &mut errors,
        );
        let location = load_one(
            dir,
            "location.toml",
            location::LocationRules::compile,
            &mut errors,
        );
        let phone = load_one(dir, "phone.toml", phone::PhoneRules::compile, &mut errors);
        let safeguarding = load_one(
            dir,
            "safeguarding.toml",
            safeguarding::SafeguardingRules::compile,
            &mut errors,
        );
        let outcomes = load_one(
            dir,
            "outcomes.toml",
            outcomes::OutcomeRules::compile,
            &mut errors,
        );
        let dates = load_one(dir, "dates.toml", dates::DateRules::compile, &mut errors);
        let language = load_one(
            dir,
            "language.toml",
            language::LanguageRules::compile,
            &mut errors,
        );
        let readiness = load_one(
            dir,
            "readiness.toml",
            readiness::ReadinessRules::compile,
            &mut errors,
        );
        let routing = load_one(
            dir,
            "routing.toml",
            routing::RoutingRules::compile,
            &mut errors,
        );
        let conversation = load_one(
            dir,
            "conversation.toml",
            conversation::ConversationRules::compile,
            &mut errors,
        );
        let signposting = load_one(
            dir,
            "signposting.toml",
            signposting::Signposting::compile,
            &mut errors,
        );
        let directory_file = RuleFile::read(dir, "directory.toml");

        let gazetteer = match &routing {
            Some(routing) => match Gazetteer::load(&dir.join("geo"), &routing.naming()) {
                Ok(gazetteer) => Some(gazetteer),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            None => None,
        };
        let directory = match (directory_file, &gazetteer, &routing) {
            (Ok(file), Some(gazetteer), Some(routing)) => {
                match directory::Directory::compile(&file, gazetteer, &routing.home_region) {
                    Ok(directory) => Some(directory),
                    Err(e) => {
                        errors.extend(e);
                        None
                    }
                }
            }
            (Err(e), _, _) => {
                errors.push(e);
                None
            }
            _ => None,
        };
        if let Some(location) = &location
            && let Some(gazetteer) = &gazetteer
        {
            errors.extend(location.check_aliases(gazetteer));
        }

        if !errors.is_empty() {
            return Err(RuleErrors(errors));
        }
        // Every loader that returned None recorded an error, so all are present here.
        let loaded = "loaded without errors";
        Ok(Rules {
            dir: dir.to_path_buf(),
            kinds: kinds.expect(loaded),
            prompts: prompts.expect(loaded),
            consent: consent.expect(loaded),
            driving: driving.expect(loaded),
            location: location.expect(loaded),
            phone: phone.expect(loaded),
            safeguarding: safeguarding.expect(loaded),
            outcomes: outcomes.expect(loaded),
            dates: dates.expect(loaded),
            language: language.expect(loaded),
            readiness: readiness.expect(loaded),
            routing: routing.expect(loaded),
            directory: directory.expect(loaded),
            conversation: conversation.expect(loaded),
            signposting: signposting.expect(loaded),
            gazetteer: gazetteer.expect(loaded),
        })
    }
}

/// Reads, parses and compiles one file, collecting its errors.
fn load_one<S: DeserializeOwned, T>(
    dir: &Path,
    name: &str,
    compile: impl FnOnce(S, &mut Compiler) -> T,
    errors: &mut Vec<RuleError>,
) -> Option<T> {
    let file = match RuleFile::read(dir, name) {
        Ok(file) => file,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let spec = match file.parse::<S>() {
        Ok(spec) => spec,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let mut compiler = Compiler {
        file: &file,
        errors: Vec::new(),
    };
    let compiled = compile(spec, &mut compiler);
    if compiler.errors.is_empty() {
        Some(compiled)
    } else {
        errors.append(&mut compiler.errors);
        None
    }
}

/// Compiles the parts of one rule file, keeping every error.
pub struct Compiler<'a> {
    pub file: &'a RuleFile,
    pub errors: Vec<RuleError>,
}

impl Compiler<'_> {
    pub fn lexicon(&mut self, spec: &LexiconSpec) -> Lexicon {
        match Lexicon::compile(spec, self.file) {
            Ok(lexicon) => lexicon,
            Err(mut errors) => {
                self.errors.append(&mut errors);
                Lexicon::default()
            }
        }
    }

    /// One lexicon from the same field in every language table.
    pub fn merged<'s, L: 's>(
        &mut self,
        languages: impl IntoIterator<Item = &'s L>,
        field: impl Fn(&L) -> &LexiconSpec,
    ) -> Lexicon {
        let mut merged = LexiconSpec::default();
        for language in languages {
            let spec = field(language);
            merged.phrases.extend(spec.phrases.iter().cloned());
            merged.patterns.extend(spec.patterns.iter().cloned());
        }
        self.lexicon(&merged)
    }

    pub fn error(&mut self, span: std::ops::Range<usize>, reason: impl Into<String>) {
        self.errors.push(self.file.error(span, reason));
    }

    pub fn file_error(&mut self, reason: impl Into<String>) {
        self.errors.push(self.file.whole_file_error(reason));
    }
}

/// Rule files that hold the same fields for several languages: `[en]`, `[tl]`, ...
pub type PerLanguage<L> = BTreeMap<String, L>;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// The project's own rules, loaded once for every unit test.
    pub fn rules() -> &'static Rules {
        static RULES: OnceLock<Rules> = OnceLock::new();
        RULES.get_or_init(|| {
            Rules::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"))
                .unwrap_or_else(|e| panic!("{e}"))
        })
    }

    #[test]
    fn the_shipped_rules_load_without_errors() {
        let rules = rules();
        assert!(!rules.consent.given.is_empty());
        assert!(rules.safeguarding.indicators.len() >= 8);
    }

    #[test]
    fn every_error_in_a_broken_rules_folder_is_reported_with_file_and_line() {
        let dir = std::env::temp_dir().join(format!("rm-broken-rules-{}", std::process::id()));
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        copy_dir(&source, &dir);
        let consent = std::fs::read_to_string(dir.join("consent.toml")).unwrap();
        let broken = consent.replacen("patterns = [", "patterns = [\n  '(unclosed',", 1);
        std::fs::write(dir.join("consent.toml"), broken).unwrap();
        std::fs::write(
            dir.join("dates.toml"),
            "revocation = { phrases = [\"ok\"] }\nnot_a_field = 1\n",
        )
        .unwrap();
        let errors = Rules::load(&dir).unwrap_err();
        let text = errors.to_string();
        assert!(text.contains("consent.toml:"), "{text}");
        assert!(text.contains("(unclosed"), "{text}");
        assert!(text.contains("dates.toml:2:"), "{text}");
        std::fs::remove_dir_all(&dir).ok();
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
                let mut permissions = std::fs::metadata(&target).unwrap().permissions();
                #[allow(clippy::permissions_set_readonly_false)]
                permissions.set_readonly(false);
                std::fs::set_permissions(&target, permissions).unwrap();
            }
        }
    }
}
