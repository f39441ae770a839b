//! What people are told about fraud decisions: both parties of a held
//! transfer (held, then released or returned), and operators by email for
//! every hold and every decline. Rendered from the journal and the `holds`
//! and `declines` tables after they commit, like receipts.

use super::outbox::NewMessage;
use super::Notices;
use crate::db::DbConn;
use crate::ledger::account::Account;
use crate::ledger::holds::{DeclineRow, HoldRow};
use crate::ledger::{LedgerError, Receipt, TransferKind};

/// A held transfer's parties, as they are now.
pub struct HoldParties<'a> {
    pub hold: &'a HoldRow,
    pub payer: &'a Account,
    pub payee: &'a Account,
    /// The hold transfer's reference (for a release or a return).
    pub original: &'a str,
}

impl Notices {
    /// A transfer that a rule held, or the transfer that settled a hold.
    pub(super) fn hold_messages(
        &self,
        conn: &mut DbConn,
        r: &Receipt,
        p: &HoldParties<'_>,
        out: &mut Vec<NewMessage>,
    ) -> Result<(), LedgerError> {
        let amount = self.money(p.hold.amount_minor);
        let date = self.date(r.created_at_ms);
        let settled = r.transfer_id.0 != p.hold.hold_transfer_id;
        let (payer_key, payee_key) = match (settled, r.kind) {
            (false, _) => ("sms_held_payer", "sms_held_payee"),
            (true, TransferKind::Reversal) => ("sms_returned_payer", "sms_returned_payee"),
            (true, _) => ("sms_released_payer", "sms_released_payee"),
        };
        // The payer's balance after a hold or a return; the payee's after a release.
        let payer_balance =
            if r.kind == TransferKind::Reversal { r.to.balance_after_minor } else { r.from.balance_after_minor };
        let returned = self.money(p.hold.amount_minor.saturating_add(p.hold.fee_minor));
        for (key, me, other, balance) in
            [(payer_key, p.payer, p.payee, payer_balance), (payee_key, p.payee, p.payer, r.to.balance_after_minor)]
        {
            let Some(to) = me.msisdn.as_ref().or(me.contact_msisdn.as_ref()) else { continue };
            let shown = if key == "sms_returned_payer" { &returned } else { &amount };
            let body = self.text(
                me.language,
                key,
                &[
                    ("ref", &r.reference),
                    ("original", p.original),
                    ("amount", shown),
                    ("name", &other.name),
                    ("date", &date),
                    ("balance", &self.money(balance.unwrap_or_default())),
                ],
            );
            out.push(NewMessage::sms(to.as_str(), body, None));
        }
        if !settled {
            let payer = p
                .payer
                .msisdn
                .as_ref()
                .map_or_else(|| p.payer.handle(), |m| crate::domain::msisdn::mask_digits(m.as_str()));
            self.alert(
                conn,
                format!("mkoba: transfer {} held by rule {}", r.reference, p.hold.rule),
                format!(
                    "Transfer {} of {} ({}) from {payer} to {} was held in suspense by the fraud rule {}.\n\
                     Release it with: mkoba held release {}\nReturn it with:  mkoba held return {}\n",
                    r.reference, amount, p.hold.kind, p.payee.name, p.hold.rule, r.reference, r.reference
                ),
                format!("held-alert:{}", p.hold.id),
            )?;
        }
        Ok(())
    }

    /// An email to operators for a transfer a rule declined.
    pub(super) fn decline_alert(
        &self,
        conn: &mut DbConn,
        d: &DeclineRow,
        payer: Option<&Account>,
        payee: Option<&Account>,
    ) -> Result<(), LedgerError> {
        let name = |a: Option<&Account>| a.map_or_else(|| "?".to_string(), |a| a.name.clone());
        let payer_handle = payer
            .and_then(|a| a.msisdn.as_ref())
            .map_or_else(|| name(payer), |m| crate::domain::msisdn::mask_digits(m.as_str()));
        self.alert(
            conn,
            format!("mkoba: {} declined by rule {}", d.kind, d.rule),
            format!(
                "A {} of {} from {payer_handle} to {} was declined by the fraud rule {} at {}.\nNothing moved.\n",
                d.kind,
                self.money(d.amount_minor),
                name(payee),
                d.rule,
                crate::domain::time::rfc3339(d.declined_at_ms)
            ),
            format!("decline-alert:{}", d.id),
        )
    }
}
