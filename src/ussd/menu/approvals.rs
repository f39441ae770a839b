//! Menu `5` (Approvals: the caller's pending payment requests and
//! allowances) and My account → `5` (Allowances: the active ones). A list
//! is read when it opens and kept in the screen, so the numbers stay put
//! while the caller pages; what a choice does is decided again in the
//! effect's transaction (a request may have expired or been decided
//! meanwhile).

use super::{Ctx, Outcome, Screen};
use crate::command::approvals::{self, Request};
use crate::command::Effect;
use crate::ledger::LedgerError;
use crate::ussd::render;

/// Opens menu `5` (`allowances` false) or My account → `5`: the list, or
/// the end when there is nothing in it.
pub(super) async fn open(ctx: &Ctx<'_>, allowances: bool) -> Result<Outcome, LedgerError> {
    let Some(me) = ctx.caller.account() else {
        return Ok(ctx.home());
    };
    let ledger = &ctx.shared.ledger;
    let (list, none) = if allowances {
        (approvals::allowances(ledger, me.id).await?, "allowances_none")
    } else {
        (approvals::pending(ledger, me.id).await?, "approvals_none")
    };
    if list.is_empty() {
        return Ok(ctx.end(none, &[]));
    }
    Ok(ctx.show(if allowances { Screen::Allowances { list } } else { Screen::Approvals { list } }))
}

/// A pick from a list, or a choice on one request's screen.
pub(super) fn advance_sync(ctx: &Ctx<'_>, screen: &Screen, input: &str) -> Option<Outcome> {
    let picked = |list: &[Request]| input.parse::<usize>().ok().filter(|n| (1..=list.len()).contains(n)).map(|n| n - 1);
    let outcome = match screen {
        Screen::Approvals { list } => match picked(list) {
            Some(index) => ctx.show(Screen::ApprovalDetail { list: list.clone(), index }),
            None => ctx.retry(screen, "invalid_choice", &[]),
        },
        Screen::Allowances { list } => match picked(list) {
            Some(index) => ctx.show(Screen::AllowanceDetail { list: list.clone(), index }),
            None => ctx.retry(screen, "invalid_choice", &[]),
        },
        Screen::ApprovalDetail { list, index } => {
            let id = list.get(*index)?.approval_id;
            match input {
                "1" => ctx.show(Screen::ApprovalPin { list: list.clone(), index: *index }),
                "2" => ctx.effect(Screen::Start, Effect::Decline { approval_id: id }),
                _ => ctx.retry(screen, "invalid_choice", &[]),
            }
        }
        Screen::AllowanceDetail { list, index } => match input {
            "1" => ctx.effect(Screen::Start, Effect::Revoke { approval_id: list.get(*index)?.approval_id }),
            _ => ctx.retry(screen, "invalid_choice", &[]),
        },
        _ => return None,
    };
    Some(outcome)
}

/// The texts of these screens.
pub(super) fn prompt(ctx: &Ctx<'_>, screen: &Screen) -> String {
    let back = ctx.t("back", &[]);
    match screen {
        Screen::Approvals { list } => list_text(ctx, "approvals_title", list, |r| {
            let key = if r.is_allowance() { "approvals_item_allowance" } else { "approvals_item_payment" };
            ctx.t(
                key,
                &[("merchant", &r.merchant), ("amount", &ctx.money(r.amount_minor)), ("period", &period(ctx, r))],
            )
        }),
        Screen::Allowances { list } => list_text(ctx, "allowances_title", list, |r| {
            let args = [
                ("merchant", r.merchant.as_str()),
                ("amount", &ctx.money(r.amount_minor)),
                ("period", &period(ctx, r)),
                ("remaining", &ctx.money(r.remaining_minor)),
            ];
            ctx.t("allowances_item", &args)
        }),
        Screen::ApprovalDetail { list, index } | Screen::AllowanceDetail { list, index } => {
            let Some(r) = list.get(*index) else { return back };
            let key = match screen {
                Screen::AllowanceDetail { .. } => "allowance_detail",
                _ if r.is_allowance() => "approval_allowance",
                _ => "approval_payment",
            };
            fitted(&r.description, |description| {
                let args = [
                    ("merchant", r.merchant.as_str()),
                    ("till", &r.till),
                    ("amount", &ctx.money(r.amount_minor)),
                    ("period", &period(ctx, r)),
                    ("fee", &ctx.money(r.fee_minor)),
                    ("remaining", &ctx.money(r.remaining_minor)),
                    ("description", description),
                ];
                format!("{}\n{back}", ctx.t(key, &args))
            })
        }
        Screen::ApprovalPin { .. } => format!("{}\n{back}", ctx.t("approval_pin", &[])),
        _ => back,
    }
}

fn period(ctx: &Ctx<'_>, r: &Request) -> String {
    r.period.map_or(String::new(), |p| ctx.t(&format!("period_{}", p.as_str()), &[]))
}

/// A title, the numbered items, and `0` back; a long list is paged when
/// the hop is committed.
fn list_text(ctx: &Ctx<'_>, title: &str, list: &[Request], item: impl Fn(&Request) -> String) -> String {
    let mut text = ctx.t(title, &[]);
    for (n, request) in list.iter().enumerate() {
        text.push_str(&format!("\n{}. {}", n + 1, item(request)));
    }
    text.push('\n');
    text.push_str(&ctx.t("back", &[]));
    text
}

/// What `build` makes of as much of `description` as fits one screen.
/// Cut with "..." rather than "…": one character outside GSM-7 would turn
/// the whole screen into UCS-2, and its budget from 182 into 80.
fn fitted(description: &str, build: impl Fn(&str) -> String) -> String {
    let fits = |text: &str| render::fits(&format!("CON {text}"));
    let whole = build(description);
    if fits(&whole) {
        return whole;
    }
    let chars: Vec<char> = description.chars().collect();
    for keep in (0..chars.len()).rev() {
        let cut: String = chars[..keep].iter().collect();
        let text = build(&format!("{}...", cut.trim_end()));
        if fits(&text) {
            return text;
        }
    }
    build("...")
}
