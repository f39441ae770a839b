//! Notifications: SMS and email written to the outbox in the same
//! transaction as the change they report (receipts: rendered from the
//! journal, see [`receipts`]), then sent by background workers with retries.
//! A crash between commit and send loses nothing.

pub mod callback_sender;
pub mod callbacks;
pub mod delivery;
pub mod digest;
pub mod email;
mod events;
pub mod fraud;
pub mod outbox;
pub mod receipts;
pub mod retry;
pub mod sms;
pub mod summary;
pub mod worker;

use crate::config::Config;
use crate::db::DbConn;
use crate::domain::{now_ms, Currency};
use crate::i18n::Catalog;
use crate::ledger::{Language, LedgerError, Receipt, TransferKind};
use outbox::NewMessage;
use std::sync::Arc;

/// Composes and enqueues messages. It is the ledger's transfer observer.
pub struct Notices {
    catalog: Arc<Catalog>,
    currency: Currency,
    day_offset_minutes: i64,
    service_code: String,
    alerts_email_to: String,
    float_low_minor: i64,
    digest_below_minor: i64,
    digest_hour: u32,
}

/// Which parties' receipts a transfer does not send: the payer's waits for
/// the digest, a till with a callback learns by callback.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Quiet {
    pub payer: bool,
    pub payee: bool,
}

impl Notices {
    pub fn new(config: &Config, catalog: Arc<Catalog>) -> Notices {
        Notices {
            catalog,
            currency: config.currency.clone(),
            day_offset_minutes: config.ledger.day_utc_offset_minutes,
            service_code: config.service_code.primary().to_string(),
            alerts_email_to: config.alerts.email_to.trim().to_string(),
            float_low_minor: config.alerts.float_low_minor,
            digest_below_minor: config.receipts.digest_below_minor,
            digest_hour: config.receipts.digest_hour,
        }
    }

    /// The USSD code callers are told to dial.
    pub fn service_code(&self) -> &str {
        &self.service_code
    }

    pub fn money(&self, minor: i64) -> String {
        self.currency.show(minor)
    }

    pub fn text(&self, lang: Language, key: &str, args: &[(&str, &str)]) -> String {
        self.catalog.text(lang, key, args)
    }

    /// An SMS in the recipient's language, sent once per `dedupe_key`.
    pub fn sms(&self, conn: &mut DbConn, to: &str, body: String, dedupe_key: String) -> Result<(), LedgerError> {
        outbox::enqueue(conn, &NewMessage::sms(to, body, Some(dedupe_key)), now_ms())?;
        Ok(())
    }

    /// An email to the operator's alert address, if one is configured.
    pub fn alert(
        &self,
        conn: &mut DbConn,
        subject: String,
        body: String,
        dedupe_key: String,
    ) -> Result<(), LedgerError> {
        if self.alerts_email_to.is_empty() {
            return Ok(());
        }
        outbox::enqueue(conn, &NewMessage::email(&self.alerts_email_to, subject, body, Some(dedupe_key)), now_ms())?;
        Ok(())
    }

    /// After the `max_attempts`-th wrong PIN: tell the customer and the operator.
    pub fn account_locked(
        &self,
        conn: &mut DbConn,
        msisdn: &str,
        lang: Language,
        attempts: u32,
        ticket: i64,
    ) -> Result<(), LedgerError> {
        let now = now_ms();
        let attempts_text = attempts.to_string();
        let body = self.text(lang, "sms_locked", &[("attempts", &attempts_text)]);
        // The ticket that locked the account names this lock: one notice each.
        self.sms(conn, msisdn, body, format!("locked:{msisdn}:{ticket}"))?;
        let masked = crate::domain::msisdn::mask_digits(msisdn);
        self.alert(
            conn,
            format!("mkoba: account {masked} locked after {attempts} wrong PINs"),
            format!(
                "The account {masked} was locked at {now} (ms since epoch) after {attempts} consecutive wrong PINs.\n\
                 Unlock it with: mkoba pin unlock <number>, once the customer is identified.\n"
            ),
            format!("locked-alert:{msisdn}:{ticket}"),
        )
    }

    pub fn registered(&self, conn: &mut DbConn, msisdn: &str, name: &str, lang: Language) -> Result<(), LedgerError> {
        let body = self.text(lang, "sms_welcome", &[("name", name), ("code", &self.service_code)]);
        self.sms(conn, msisdn, body, format!("welcome:{msisdn}"))
    }

    fn date(&self, at_ms: i64) -> String {
        crate::domain::time::day_month(at_ms, self.day_offset_minutes)
    }
}

impl Notices {
    /// Receipts to both parties: reference, amount, fee, counterparty, new
    /// balance, except to the parties `quiet` names. No dedupe key: the
    /// receipts cursor passes a transfer once.
    fn receipts(&self, r: &Receipt, quiet: Quiet, out: &mut Vec<NewMessage>) {
        let amount = self.money(r.amount_minor);
        let fee = self.money(r.fee_minor);
        let commission = self.money(r.commission_minor);
        let date = self.date(r.created_at_ms);
        let original = r.reverses.clone().unwrap_or_default();
        let (from_key, to_key) = match r.kind {
            TransferKind::P2p => ("sms_sent", "sms_received"),
            TransferKind::CashOut => ("sms_withdrew", "sms_agent_paid_out"),
            TransferKind::CashIn => ("sms_agent_deposited", "sms_deposit_received"),
            TransferKind::MerchantPayment => ("sms_paid", "sms_payment_received"),
            TransferKind::FloatIssue => ("", "sms_float_issued"),
            TransferKind::Reversal => ("sms_reversal_debit", "sms_reversal_credit"),
            // A charge's payer hears of it in the daily digest.
            TransferKind::Charge => ("", "sms_payment_received"),
            TransferKind::Payout => ("", "sms_payout_received"),
            TransferKind::Refund => ("", "sms_refund_received"),
            TransferKind::Fee | TransferKind::Commission => ("", ""),
        };
        let from_key = if quiet.payer { "" } else { from_key };
        let to_key = if quiet.payee { "" } else { to_key };
        for (key, me, other) in [(from_key, &r.from, &r.to), (to_key, &r.to, &r.from)] {
            let Some(to) = me.notify_to.as_deref().filter(|_| !key.is_empty()) else {
                continue;
            };
            let balance = self.money(me.balance_after_minor.unwrap_or_default());
            let body = self.text(
                me.language,
                key,
                &[
                    ("ref", &r.reference),
                    ("amount", &amount),
                    ("fee", &fee),
                    ("commission", &commission),
                    ("name", &other.name),
                    ("date", &date),
                    ("balance", &balance),
                    ("original", &original),
                ],
            );
            out.push(NewMessage::sms(to, body, None));
        }
    }

    /// An email when an agent's float crosses below the alert line.
    fn float_alerts(&self, conn: &mut DbConn, r: &Receipt) -> Result<(), LedgerError> {
        for party in [&r.from, &r.to] {
            if party.kind != crate::ledger::AccountKind::Agent {
                continue;
            }
            let Some(after) = party.balance_after_minor else { continue };
            let before = if party.account_id == r.from.account_id {
                after.saturating_add(r.amount_minor)
            } else {
                after.saturating_sub(r.amount_minor)
            };
            if after < self.float_low_minor && before >= self.float_low_minor {
                self.alert(
                    conn,
                    format!("mkoba: agent {} float low ({})", party.name, self.money(after)),
                    format!(
                        "Agent {} ({}) has {} of float left after transfer {}, below the alert line of {}.\n",
                        party.name,
                        party.notify_to.as_deref().map(crate::domain::msisdn::mask_digits).unwrap_or_default(),
                        self.money(after),
                        r.reference,
                        self.money(self.float_low_minor)
                    ),
                    format!("float-low:{}:{}", party.account_id.0, r.transfer_id),
                )?;
            }
        }
        Ok(())
    }
}
