//! `Debug` for the phone's state and requests without the PINs they may
//! hold: typed text and session inputs are shown by their length only.

use std::fmt;

use super::{HopRequest, PhoneState, Session, SessionEnd};

impl fmt::Debug for HopRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HopRequest")
            .field("seq", &self.seq)
            .field("session_id", &self.session_id)
            .field("service_code", &self.service_code)
            .field("text", &Hidden(&self.text))
            .finish()
    }
}

impl fmt::Debug for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionEnd")
            .field("session_id", &self.session_id)
            .field("status", &self.status)
            .field("hops", &self.hops)
            .field("input", &Hidden(&self.input))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PhoneState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneState")
            .field("call", &self.call)
            .field("session", &self.session)
            .field("typed", &Hidden(&self.typed))
            .field("shown", &self.shown)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("id", &self.id).field("inputs", &self.inputs.len()).finish_non_exhaustive()
    }
}

/// Text that may hold a PIN, shown by its length only.
struct Hidden<'a>(&'a str);

impl fmt::Debug for Hidden<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} characters hidden>", self.0.chars().count())
    }
}
