//! Committing a hop: the session's record and the hop's effect in one
//! transaction, the late answer past the deadline, and fitting the reply
//! to the screen budget.

use super::menu::{Outcome, Reply, Screen};
use super::session::{self, HopRecord, SessionKey};
use super::{events, render};
use crate::command;
use crate::i18n::Catalog;
use crate::ledger::{Language, LedgerError};

/// Records the hop and applies its effect in the same transaction. `None`
/// when another request recorded this hop first (nothing is changed then).
/// Past the deadline, the hop's reply is "processing" and its real outcome
/// goes to the caller by SMS, in the same transaction.
#[allow(clippy::too_many_arguments)]
pub(super) fn commit_hop(
    conn: &mut crate::db::DbConn,
    key: &SessionKey,
    prev_hops: Option<i32>,
    hop: &HopRecord,
    outcome: &Outcome,
    env: &command::Env,
    catalog: &Catalog,
    deadline: &events::Deadline,
) -> Result<Option<String>, LedgerError> {
    let mut hop = hop.clone();
    if let Screen::Resume { from, .. } = &outcome.next {
        events::mark_offered(conn, &key.aggregator, from)?;
    }
    let Some(effect) = &outcome.effect else {
        // Most hops: one conditional write.
        let more = catalog.text(env.lang, "more", &[]);
        (hop.screen, hop.reply, hop.ended) = finish(outcome.next.clone(), outcome.reply.clone(), &more);
        late(conn, key, &mut hop, catalog, deadline)?;
        return Ok(session::save(conn, key, prev_hops, &hop)?.then_some(hop.reply));
    };
    // Claim the hop before the effect, so the effect runs at most once.
    if !session::save(conn, key, prev_hops, &hop)? {
        return Ok(None);
    }
    let done = command::apply(conn, env, effect)?;
    let lang = done.language.unwrap_or(env.lang);
    // Long answers (a statement) are paged by `finish`.
    let (next, reply) = match done.next {
        command::Next::End => (Screen::Start, Reply::End(done.text)),
        command::Next::AskNewPin => (Screen::PinNew, Reply::Con(done.text)),
    };
    hop.language = lang.as_str().to_string();
    let more = catalog.text(lang, "more", &[]);
    (hop.screen, hop.reply, hop.ended) = finish(next, reply, &more);
    late(conn, key, &mut hop, catalog, deadline)?;
    session::update_reply(conn, key, &hop)?;
    Ok(Some(hop.reply))
}

/// If the caller was already told "processing", the hop's reply becomes
/// that (a replay gets the same) and a final answer goes out by SMS.
fn late(
    conn: &mut crate::db::DbConn,
    key: &SessionKey,
    hop: &mut HopRecord,
    catalog: &Catalog,
    deadline: &events::Deadline,
) -> Result<(), LedgerError> {
    if deadline.claim_in_time() {
        return Ok(());
    }
    if let Some(text) = hop.reply.strip_prefix("END ").filter(|_| hop.ended) {
        let dedupe = format!("ussd-late:{}:{}:{}", key.aggregator, key.session_id, hop.inputs_seen);
        let message = crate::notify::outbox::NewMessage::sms(&hop.msisdn, text.to_string(), Some(dedupe));
        crate::notify::outbox::enqueue(conn, &message, hop.now_ms)?;
    }
    hop.reply = processing_reply(catalog);
    hop.screen = Screen::Start;
    hop.ended = true;
    Ok(())
}

/// "Processing, you will get an SMS": the same words in every language, so
/// that a replay of the hop gets exactly what the first request got.
pub(super) fn processing_reply(catalog: &Catalog) -> String {
    format!("END {}", catalog.text(Language::En, "processing_sms", &[]))
}

/// Fits a reply to the screen budget: long content becomes pages.
fn finish(next: Screen, reply: Reply, more: &str) -> (Screen, String, bool) {
    match reply {
        Reply::Con(text) => {
            let pages = render::paginate("CON ", &text, more, "CON ");
            if pages.len() == 1 {
                return (next, format!("CON {}", render::clamp("CON ", &text)), false);
            }
            let first = pages[0].clone();
            (Screen::Paged { pages, index: 0, then: Some(Box::new(next)) }, format!("CON {first}"), false)
        }
        Reply::End(text) => {
            let pages = render::paginate("CON ", &text, more, "END ");
            if pages.len() == 1 {
                return (next, format!("END {}", render::clamp("END ", &text)), true);
            }
            let first = pages[0].clone();
            (Screen::Paged { pages, index: 0, then: None }, format!("CON {first}"), false)
        }
    }
}
