//! Fuzzes the whole message brain: raw bytes → parse → quote split → classify → extract →
//! triage. Nothing may escape `pipeline::triage`. A panic inside mail-parser is a known
//! upstream class of bug that the pipeline catches and quarantines; a panic anywhere in
//! this project's own code is a bug, and aborts the run so libFuzzer records the input.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use regional_mailbox::pipeline::{self, Settings};
use regional_mailbox::rules::Rules;

static RULES: LazyLock<Rules> = LazyLock::new(|| {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    Rules::load(&dir).expect("the project's rules load")
});

fuzz_target!(
    init: {
        // Loading the rules takes a while under the sanitizer: do it before the clock starts.
        LazyLock::force(&RULES);
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let upstream = info.location().is_some_and(|l| l.file().contains("/mail-parser-"));
            if !upstream {
                default_hook(info);
                std::process::abort();
            }
        }));
    },
    |raw: &[u8]| {
        let _ = pipeline::triage(raw, &RULES, &Settings::default());
    }
);
