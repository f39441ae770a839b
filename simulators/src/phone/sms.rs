//! The phone's SMS inbox: what each poll of a source (mkoba's local inbox
//! or the aggregator simulator) returned, merged into one list the phone
//! keeps, with the messages that arrived since the phone started marked
//! unread until the user reads them.

use std::collections::HashSet;

/// Messages the phone keeps at most; the oldest go first.
pub const SMS_KEPT_MAX: usize = 100;

/// One SMS on the phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sms {
    /// The source's id for it (unique within the source).
    pub key: String,
    pub from: String,
    pub text: String,
    /// When the source got it, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Arrived while the phone was on and not read yet: highlighted.
    pub unread: bool,
}

impl Sms {
    pub fn new(key: impl Into<String>, from: impl Into<String>, text: impl Into<String>, at_ms: i64) -> Sms {
        Sms { key: key.into(), from: from.into(), text: text.into(), at_ms, unread: false }
    }
}

/// The inbox: messages oldest first, what has been seen, the last error.
#[derive(Clone, Debug, Default)]
pub struct SmsBox {
    items: Vec<Sms>,
    known: HashSet<String>,
    /// The first poll happened: messages older than the phone's start are
    /// not "new".
    primed: bool,
    /// Why the last poll failed, until one succeeds.
    pub error: Option<String>,
}

impl SmsBox {
    /// Merges one poll's answer (oldest first); returns how many messages
    /// are new. A message the source no longer lists stays on the phone,
    /// as on a real one.
    pub fn merge(&mut self, snapshot: Vec<Sms>) -> usize {
        self.error = None;
        let mut added = 0;
        for mut sms in snapshot {
            if !self.known.insert(sms.key.clone()) {
                continue;
            }
            sms.unread = self.primed;
            added += usize::from(sms.unread);
            self.items.push(sms);
        }
        self.primed = true;
        if self.items.len() > SMS_KEPT_MAX {
            let drop = self.items.len() - SMS_KEPT_MAX;
            for gone in self.items.drain(..drop) {
                self.known.remove(&gone.key);
            }
        }
        added
    }

    pub fn failed(&mut self, error: String) {
        self.error = Some(error);
    }

    pub fn mark_read(&mut self) {
        for sms in &mut self.items {
            sms.unread = false;
        }
    }

    pub fn unread(&self) -> usize {
        self.items.iter().filter(|s| s.unread).count()
    }

    /// Newest first, as the pane shows them.
    pub fn newest_first(&self) -> impl Iterator<Item = &Sms> {
        self.items.iter().rev()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether any message's text contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.items.iter().any(|s| s.text.contains(needle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(key: &str, text: &str) -> Sms {
        Sms::new(key, "MKOBA", text, 1)
    }

    #[test]
    fn messages_before_the_first_poll_are_old_later_ones_new() {
        let mut inbox = SmsBox::default();
        assert_eq!(inbox.merge(vec![sms("1", "old receipt")]), 0);
        assert_eq!(inbox.unread(), 0);
        assert_eq!(inbox.merge(vec![sms("1", "old receipt"), sms("2", "new receipt")]), 1);
        assert_eq!(inbox.unread(), 1);
        let texts: Vec<_> = inbox.newest_first().map(|s| (s.text.as_str(), s.unread)).collect();
        assert_eq!(texts, [("new receipt", true), ("old receipt", false)]);
        // The same poll again adds nothing; a cleared source loses nothing.
        assert_eq!(inbox.merge(vec![sms("2", "new receipt")]), 0);
        assert_eq!(inbox.merge(vec![]), 0);
        assert_eq!(inbox.len(), 2);
        inbox.mark_read();
        assert_eq!(inbox.unread(), 0);
        assert!(inbox.contains("new receipt"));
    }

    #[test]
    fn an_error_shows_until_a_poll_succeeds_and_the_box_is_bounded() {
        let mut inbox = SmsBox::default();
        inbox.failed("cannot connect".into());
        assert!(inbox.error.is_some());
        inbox.merge(vec![]);
        assert!(inbox.error.is_none());
        let many: Vec<Sms> = (0..SMS_KEPT_MAX + 5).map(|i| sms(&i.to_string(), "x")).collect();
        assert_eq!(inbox.merge(many), SMS_KEPT_MAX + 5);
        assert_eq!(inbox.len(), SMS_KEPT_MAX);
        assert_eq!(inbox.newest_first().last().map(|s| s.key.as_str()), Some("5"));
    }
}
