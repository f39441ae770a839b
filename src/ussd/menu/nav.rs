//! Where each screen leads back to (`0`) and what it shows.

use super::{Caller, Ctx, Screen};

impl Ctx<'_> {
    /// What `0` leads to.
    pub(super) fn back(&self, screen: &Screen) -> Screen {
        match screen {
            Screen::Start | Screen::UnregMain | Screen::Main | Screen::AgentMain => self.home_screen(),
            Screen::LanguageMenu { registered: true } => Screen::AccountMenu,
            Screen::LanguageMenu { registered: false } | Screen::RegName => Screen::UnregMain,
            Screen::RegId { .. } => Screen::RegName,
            Screen::RegPin { name, .. } => Screen::RegId { name: name.clone() },
            Screen::RegPinConfirm { name, id_number, .. } => {
                Screen::RegPin { name: name.clone(), id_number: id_number.clone() }
            }
            Screen::AccountMenu | Screen::FloatPin => self.home_screen(),
            Screen::Recipient { .. } => self.home_screen(),
            Screen::Amount { flow, .. } => Screen::Recipient { flow: *flow },
            Screen::Confirm { flow, to, .. } => Screen::Amount { flow: *flow, to: to.clone() },
            Screen::BalancePin => Screen::AccountMenu,
            Screen::StatementPin | Screen::PinOld => match self.caller {
                Caller::Agent(_) => Screen::AgentMain,
                _ => Screen::AccountMenu,
            },
            Screen::PinNew => Screen::PinOld,
            Screen::PinNewConfirm { .. } => Screen::PinNew,
            Screen::Paged { then, .. } => then.as_deref().map_or_else(|| self.home_screen(), |s| self.back(s)),
            Screen::Resume { .. } | Screen::Approvals { .. } => self.home_screen(),
            Screen::ApprovalDetail { list, .. } => Screen::Approvals { list: list.clone() },
            Screen::ApprovalPin { list, index } => Screen::ApprovalDetail { list: list.clone(), index: *index },
            Screen::Allowances { .. } => Screen::AccountMenu,
            Screen::AllowanceDetail { list, .. } => Screen::Allowances { list: list.clone() },
        }
    }

    /// The text of a screen.
    pub fn prompt(&self, screen: &Screen) -> String {
        let with_back = |text: String| format!("{text}\n{}", self.t("back", &[]));
        match screen {
            Screen::Start => String::new(),
            Screen::UnregMain => self.t("unreg_welcome", &[]),
            Screen::LanguageMenu { .. } => with_back(self.t("lang_menu", &[])),
            Screen::RegName => with_back(self.t("reg_name", &[])),
            Screen::RegId { .. } => with_back(self.t("reg_id", &[])),
            Screen::RegPin { .. } => with_back(self.t("reg_pin", &[("len", &self.pin_len())])),
            Screen::RegPinConfirm { .. } => with_back(self.t("reg_pin_confirm", &[])),
            Screen::Main => self.t("main_customer", &[]),
            Screen::AgentMain => self.t("main_agent", &[]),
            Screen::AccountMenu => with_back(self.t("account_menu", &[])),
            Screen::Recipient { flow } => with_back(self.t(flow.prompt(), &[])),
            Screen::Amount { .. } => {
                with_back(self.t("enter_amount", &[("currency", &self.shared.config.currency.code)]))
            }
            Screen::Confirm { flow, to, amount_minor, fee_minor } => self.t(
                flow.confirm(),
                &[
                    ("amount", &self.money(*amount_minor)),
                    ("fee", &self.money(*fee_minor)),
                    ("name", &to.name),
                    ("till", &to.handle),
                ],
            ),
            Screen::BalancePin | Screen::StatementPin | Screen::FloatPin => with_back(self.t("enter_pin", &[])),
            Screen::PinOld => with_back(self.t("pin_old", &[])),
            Screen::PinNew => with_back(self.t("pin_new", &[("len", &self.pin_len())])),
            Screen::PinNewConfirm { .. } => with_back(self.t("pin_new_confirm", &[])),
            Screen::Paged { pages, index, .. } => pages.get(*index).cloned().unwrap_or_default(),
            Screen::Resume { .. } => self.t("resume_offer", &[]),
            Screen::Approvals { .. }
            | Screen::ApprovalDetail { .. }
            | Screen::ApprovalPin { .. }
            | Screen::Allowances { .. }
            | Screen::AllowanceDetail { .. } => super::approvals::prompt(self, screen),
        }
    }
}
