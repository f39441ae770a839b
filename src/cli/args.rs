//! The arguments of each subcommand (clap derive): their doc comments are
//! the help text.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub(super) enum ConfigCmd {
    /// Print the effective configuration, secrets masked.
    Show,
}

#[derive(Debug, Args)]
pub(crate) struct Output {
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(super) enum CustomerCmd {
    /// Register a customer; the PIN is read from standard input.
    Register {
        #[arg(long)]
        msisdn: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        id_number: Option<String>,
        /// KYC tier (default: standard with an ID number, basic without).
        #[arg(long)]
        tier: Option<String>,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum AgentCmd {
    /// Create an agent; the PIN is read from standard input.
    Create {
        #[arg(long)]
        msisdn: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum MerchantCmd {
    /// Create a merchant with a till number (5 to 8 digits).
    Create {
        #[arg(long)]
        till: String,
        #[arg(long)]
        name: String,
        /// The merchant's contact phone, where receipts go.
        #[arg(long)]
        msisdn: String,
        #[command(flatten)]
        out: Output,
    },
    /// API keys for the integrator API (/api/v1).
    #[command(subcommand)]
    Key(MerchantKeyCmd),
    /// Set where a till's events are POSTed; prints the new signing secret once.
    Update {
        #[arg(long)]
        till: String,
        /// https:// (http:// only with api.allow_http_callbacks = true).
        #[arg(long)]
        callback_url: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum MerchantKeyCmd {
    /// Create an API key for a till; it is printed once and never again.
    Create {
        #[arg(long)]
        till: String,
        #[command(flatten)]
        out: Output,
    },
    /// Revoke one of a till's API keys at once.
    Revoke {
        #[arg(long)]
        till: String,
        /// The key id `key create` and `key list` show.
        #[arg(long)]
        key_id: String,
        #[command(flatten)]
        out: Output,
    },
    /// List a till's API keys (ids and dates; never the keys).
    List {
        #[arg(long)]
        till: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum FloatCmd {
    /// Issue e-money to an agent's float from the issuance account.
    Issue {
        #[arg(long)]
        agent: String,
        /// Major units: 5000, 5,000 or 5000.50.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// Makes a retried command safe: the same key never issues twice.
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum AccountCmd {
    /// Show an account by phone number or till.
    Show {
        account: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum PinCmd {
    /// Unlock an account locked by wrong PINs.
    Unlock {
        msisdn: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum TransferCmd {
    /// List transfers in commit order, with both parties and where their
    /// receipts go (`--json`: one object, `{"transfers": [...], "next_after_id": N}`).
    List {
        /// Only transfers with an id above this one (pass the last
        /// `next_after_id` to read the next page).
        #[arg(long, default_value_t = 0)]
        after_id: i64,
        /// Only transfers created at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Transfers in one page (1 to 10000).
        #[arg(long, default_value_t = 1000)]
        limit: i64,
        #[command(flatten)]
        out: Output,
    },
    /// Reverse a completed transfer with a compensating one.
    Reverse {
        reference: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum LedgerCmd {
    /// Check every invariant; exit 1 with what is wrong.
    Verify {
        #[command(flatten)]
        out: Output,
    },
}
