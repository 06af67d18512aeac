//! The product's vocabulary: values that are valid by construction.
//! No I/O crates here; edges parse wire data into these types.

pub mod address;
pub mod case;
pub mod case_ref;
pub mod facts;
pub mod message;
pub mod phone;
pub mod postcode;

pub use address::{EmailAddress, MessageId};
pub use case::{CaseSnapshot, CaseState, HeldFact};
pub use case_ref::CaseRef;
pub use facts::{
    Automatic, CarAccess, Consent, DrivingLicence, Field, Kind, Outcome, Readiness, Route,
    Safeguarding, SafeguardingIndicator,
};
pub use message::{Attachment, Email, Forwarded, Mailbox};
pub use phone::Phone;
pub use postcode::Postcode;
