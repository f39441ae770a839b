//! USSD sessions in the database: the menu state between hops, and the last
//! reply so that a repeated hop gets the same answer.

use super::menu::Screen;
use crate::db::DbConn;
use crate::ledger::LedgerError;
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Identifies a session: the aggregator and its session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    pub aggregator: String,
    pub session_id: String,
}

/// A session as stored.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub msisdn: String,
    pub language: crate::ledger::Language,
    pub screen: Screen,
    pub inputs_seen: i32,
    pub hop_count: i32,
    pub last_mac: String,
    pub last_reply: String,
    pub ended: i32,
    pub updated_at_ms: i64,
}

impl SessionRow {
    pub fn screen(&self) -> Screen {
        self.screen.clone()
    }
}

/// What a processed hop leaves behind.
#[derive(Debug, Clone)]
pub struct HopRecord {
    pub msisdn: String,
    pub language: String,
    pub screen: Screen,
    pub inputs_seen: i32,
    pub mac: String,
    pub reply: String,
    pub ended: bool,
    pub now_ms: i64,
}

pub fn load(conn: &mut DbConn, key: &SessionKey) -> Result<Option<SessionRow>, LedgerError> {
    use crate::db::schema::ussd_sessions::dsl as s;
    // Built with the DSL so the prepared statement is cached: this runs every hop.
    let row = with_conn!(conn, c => s::ussd_sessions
        .filter(s::aggregator.eq(&key.aggregator))
        .filter(s::session_id.eq(&key.session_id))
        .select((s::msisdn, s::language, s::screen, s::inputs_seen, s::hop_count, s::last_mac, s::last_reply, s::ended, s::updated_at_ms))
        .first::<(String, String, String, i32, i32, String, String, i32, i64)>(c)
        .optional())?;
    let Some((msisdn, language, screen, inputs_seen, hop_count, last_mac, last_reply, ended, updated_at_ms)) = row
    else {
        return Ok(None);
    };
    // A session mkoba cannot read is an error, never a silent restart.
    let screen = serde_json::from_str(&screen)
        .map_err(|e| LedgerError::Corrupt(format!("session {} has a screen mkoba cannot read: {e}", key.session_id)))?;
    let language = crate::ledger::Language::from_stored(&language)?;
    Ok(Some(SessionRow {
        msisdn,
        language,
        screen,
        inputs_seen,
        hop_count,
        last_mac,
        last_reply,
        ended,
        updated_at_ms,
    }))
}

/// Records a hop if nobody else recorded hop `prev_hops + 1` first: an
/// insert for the first hop, a conditional update after. `false` means
/// another request for this session won the race.
pub fn save(conn: &mut DbConn, key: &SessionKey, prev_hops: Option<i32>, hop: &HopRecord) -> Result<bool, LedgerError> {
    let screen = serde_json::to_string(&hop.screen).map_err(|e| LedgerError::Internal(e.to_string()))?;
    use crate::db::schema::ussd_sessions::dsl as s;
    let changed = match prev_hops {
        None => with_conn!(conn, c => diesel::insert_into(s::ussd_sessions)
            .values((
                s::aggregator.eq(&key.aggregator),
                s::session_id.eq(&key.session_id),
                s::msisdn.eq(&hop.msisdn),
                s::language.eq(&hop.language),
                s::screen.eq(&screen),
                s::inputs_seen.eq(hop.inputs_seen),
                s::hop_count.eq(1),
                s::last_mac.eq(&hop.mac),
                s::last_reply.eq(&hop.reply),
                s::ended.eq(i32::from(hop.ended)),
                s::created_at_ms.eq(hop.now_ms),
                s::updated_at_ms.eq(hop.now_ms),
            ))
            .on_conflict_do_nothing()
            .execute(c))?,
        Some(prev) => with_conn!(conn, c => diesel::update(
            s::ussd_sessions
                .filter(s::aggregator.eq(&key.aggregator))
                .filter(s::session_id.eq(&key.session_id))
                .filter(s::hop_count.eq(prev)),
        )
        .set((
            s::language.eq(&hop.language),
            s::screen.eq(&screen),
            s::inputs_seen.eq(hop.inputs_seen),
            s::hop_count.eq(prev + 1),
            s::last_mac.eq(&hop.mac),
            s::last_reply.eq(&hop.reply),
            s::ended.eq(i32::from(hop.ended)),
            s::updated_at_ms.eq(hop.now_ms),
        ))
        .execute(c))?,
    };
    Ok(changed == 1)
}

/// Stores the reply and screen of a hop already claimed by [`save`] in
/// this transaction (the effect decided them).
pub fn update_reply(conn: &mut DbConn, key: &SessionKey, hop: &HopRecord) -> Result<(), LedgerError> {
    let screen = serde_json::to_string(&hop.screen).map_err(|e| LedgerError::Internal(e.to_string()))?;
    const SQL: &str = "UPDATE ussd_sessions SET language = $1, screen = $2, last_reply = $3, ended = $4 \
        WHERE aggregator = $5 AND session_id = $6";
    with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<Text, _>(&hop.language)
        .bind::<Text, _>(&screen)
        .bind::<Text, _>(&hop.reply)
        .bind::<Integer, _>(i32::from(hop.ended))
        .bind::<Text, _>(&key.aggregator)
        .bind::<Text, _>(&key.session_id)
        .execute(c))?;
    Ok(())
}

/// Deletes sessions idle since before `cutoff_ms`; returns how many.
pub fn delete_idle(conn: &mut DbConn, cutoff_ms: i64) -> Result<usize, LedgerError> {
    const SQL: &str = "DELETE FROM ussd_sessions WHERE updated_at_ms < $1";
    Ok(with_conn!(conn, c => diesel::sql_query(SQL).bind::<BigInt, _>(cutoff_ms).execute(c))?)
}

/// A keyed MAC of the aggregator's `text`. It recognises a repeated hop
/// without storing the text, which carries PINs; without the key (derived
/// from the PIN pepper, never stored) a 4-digit PIN cannot be brute-forced
/// from it.
#[derive(Clone)]
pub struct TextMac {
    key: Vec<u8>,
}

impl TextMac {
    pub fn new(pepper: &str) -> TextMac {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(pepper.as_bytes()).expect("HMAC takes any key length");
        mac.update(b"mkoba ussd text mac v1");
        TextMac { key: mac.finalize().into_bytes().to_vec() }
    }

    pub fn of(&self, text: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(text.as_bytes());
        crate::domain::hex(&mac.finalize().into_bytes())
    }
}

/// The caller's newest input. Africa's Talking sends every input so far
/// joined by `*`; when the text extends the previous hop's, the new input is
/// what follows it (which may itself contain `*`, and is then refused as
/// input). When it does not (an aggregator that sends only the latest input,
/// or a history that changed), the last element is taken.
pub fn latest_input(text: &str, inputs_seen: usize, last_mac: &str, mac: &TextMac) -> String {
    let parts: Vec<&str> = if text.is_empty() { Vec::new() } else { text.split('*').collect() };
    if parts.len() > inputs_seen && mac.of(&parts[..inputs_seen].join("*")) == last_mac {
        return parts[inputs_seen..].join("*");
    }
    parts.last().map_or_else(String::new, |s| (*s).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_input_follows_the_history() {
        let mac = TextMac::new("pepper");
        assert_eq!(latest_input("1", 0, &mac.of(""), &mac), "1");
        assert_eq!(latest_input("1*0712000001", 1, &mac.of("1"), &mac), "0712000001");
        // '*' typed inside an input stays in it (and is refused later).
        assert_eq!(latest_input("1*07*12", 1, &mac.of("1"), &mac), "07*12");
        // An aggregator that sends only the newest input.
        assert_eq!(latest_input("100", 2, &mac.of("1*0712000001"), &mac), "100");
        // A history that changed: trust only the last element.
        assert_eq!(latest_input("2*5*9", 2, &mac.of("1*3"), &mac), "9");
        assert_ne!(mac.of("1*1357"), TextMac::new("other").of("1*1357"));
        assert_eq!(mac.of("1*1357").len(), 64);
    }
}
