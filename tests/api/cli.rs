//! The operator CLI end to end, as an operator runs it: a real binary, a
//! real database, exit codes and output.

use crate::helpers::TestDb;
use assert_cmd::Command;
use serde_json::Value;

struct Cli<'a> {
    db: &'a TestDb,
    dir: tempfile::TempDir,
}

impl<'a> Cli<'a> {
    fn new(db: &'a TestDb) -> Cli<'a> {
        Cli { db, dir: tempfile::tempdir().expect("tempdir") }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("mkoba").expect("binary");
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("MKOBA_DATABASE_URL", &self.db.url)
            .env("MKOBA_SECRETS_FILE", self.dir.path().join("mkoba.secrets"))
            .env("MKOBA_PIN__ARGON2__MEMORY_KIB", "1024")
            .env("MKOBA_PIN__ARGON2__ITERATIONS", "1")
            .env("MKOBA_LOG", "warn")
            .args(args);
        cmd
    }

    /// Runs and returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let out = self.cmd(args).write_stdin(stdin).output().expect("runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str], stdin: &str) -> String {
        let (code, out, err) = self.run(args, stdin);
        assert_eq!(code, 0, "[{}] mkoba {args:?} failed: {err}", self.db.backend);
        out
    }

    fn refused(&self, args: &[&str], stdin: &str) -> String {
        let (code, _, err) = self.run(args, stdin);
        assert_eq!(code, 1, "[{}] mkoba {args:?} should be refused: {err}", self.db.backend);
        assert!(!err.is_empty(), "a refusal says why");
        err
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args, "")).expect("one JSON object")
    }
}

#[test]
fn operator_flow_register_agent_float_show_reverse_verify() {
    for db in TestDb::all() {
        let cli = Cli::new(&db);
        cli.ok(&["migrate"], "");
        cli.ok(&["customer", "register", "--msisdn", "0712000001", "--name", "Amina Juma"], "1357\n");
        cli.ok(&["agent", "create", "--msisdn", "+254722000001", "--name", "Duka Moja"], "2468\n");
        cli.ok(&["merchant", "create", "--till", "55123", "--name", "Mama Mboga", "--msisdn", "0733000001"], "");
        let issued = cli.json(&["float", "issue", "--agent", "0722000001", "--amount", "5,000", "--json"]);
        let reference = issued["receipt"]["reference"].as_str().expect("reference").to_string();

        let agent = cli.json(&["account", "show", "254722000001", "--json"]);
        assert_eq!(agent["balance_minor"], 500_000);
        assert_eq!(agent["kind"], "agent");
        assert_eq!(agent["currency"], "KES");
        assert_eq!(agent["status"], "active");
        let amina = cli.json(&["account", "show", "0712000001", "--json"]);
        assert_eq!((amina["name"].as_str(), amina["tier"].as_str()), (Some("Amina Juma"), Some("basic")));
        let shop = cli.json(&["account", "show", "55123", "--json"]);
        assert_eq!((shop["kind"].as_str(), shop["msisdn"].as_str()), (Some("merchant"), Some("254733000001")));

        let human = cli.ok(&["account", "show", "0722000001"], "");
        assert!(human.contains("KES 5,000.00"), "{human}");

        cli.ok(&["transfer", "reverse", &reference], "");
        assert_eq!(cli.json(&["account", "show", "0722000001", "--json"])["balance_minor"], 0);
        let err = cli.refused(&["transfer", "reverse", &reference], "");
        assert!(err.contains("already reversed"), "{err}");

        // Registration wrote a welcome SMS in the same transaction.
        let ledger = mkoba::startup::open_ledger(&db.config()).expect("ledger");
        let welcome = tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(ledger.read(|c| mkoba::notify::outbox::for_recipient(c, "254712000001")))
            .expect("outbox");
        assert!(welcome.iter().any(|m| m.body.starts_with("Welcome to mkoba, Amina Juma")), "{welcome:?}");

        let verified = cli.ok(&["ledger", "verify"], "");
        assert!(verified.contains("ledger ok"), "{verified}");
        assert_eq!(cli.json(&["ledger", "verify", "--json"])["ok"], true);
    }
}

#[test]
fn bad_input_is_refused_with_exit_1_and_moves_nothing() {
    for db in TestDb::all() {
        let cli = Cli::new(&db);
        cli.ok(&["agent", "create", "--msisdn", "0722000001", "--name", "Duka Moja"], "2468\n");
        cli.ok(&["customer", "register", "--msisdn", "0712000001", "--name", "Amina Juma"], "1357\n");
        let cases: &[(&[&str], &str, &str)] = &[
            (&["account", "show", "0799999999"], "", "no account"),
            (&["float", "issue", "--agent", "0722000001", "--amount", "0"], "", "more than zero"),
            (&["float", "issue", "--agent", "0722000001", "--amount", "-5"], "", "not a number"),
            (&["float", "issue", "--agent", "0722000001", "--amount", "1.234"], "", "decimal places"),
            (&["float", "issue", "--agent", "0722000001", "--amount", "12,50"], "", "not a number"),
            (&["float", "issue", "--agent", "0722000001", "--amount", "99999999999999999999"], "", "too large"),
            (&["float", "issue", "--agent", "0712000001", "--amount", "100"], "", "not an agent"),
            (&["float", "issue", "--agent", "07", "--amount", "100"], "", "not a valid phone number"),
            (&["customer", "register", "--msisdn", "0712000001", "--name", "Again"], "1357\n", "already registered"),
            (&["agent", "create", "--msisdn", "0712000001", "--name", "Again"], "1357\n", "already registered"),
            (&["customer", "register", "--msisdn", "0712000009", "--name", "No Pin"], "", "PIN is required"),
            (&["customer", "register", "--msisdn", "0712000009", "--name", "Weak"], "1234\n", "too easy"),
            (&["customer", "register", "--msisdn", "0712000009", "--name", "Short"], "12\n", "4 digits"),
            (
                &["customer", "register", "--msisdn", "0712000009", "--name", "X", "--tier", "gold"],
                "1357\n",
                "not a customer tier",
            ),
            (&["merchant", "create", "--till", "12", "--name", "Tiny", "--msisdn", "0733000001"], "", "till number"),
            (&["transfer", "reverse", "NOTAREF"], "", "not a transfer reference"),
            (&["transfer", "reverse", "AAAAAAAAAA"], "", "no transfer"),
            // Names that could pass for another on a confirmation screen (SPEC §4).
            (&["customer", "register", "--msisdn", "0712000009", "--name", "Amina\u{202E}amuJ"], "1357\n", "format"),
            (&["agent", "create", "--msisdn", "0722000009", "--name", "Duka\u{200B}Moja"], "2468\n", "format"),
            (
                &["merchant", "create", "--till", "55999", "--name", "Mama\u{2066}Mboga", "--msisdn", "0733000001"],
                "",
                "format",
            ),
        ];
        for (args, stdin, expected) in cases {
            let err = cli.refused(args, stdin);
            assert!(err.contains(expected), "[{}] {args:?}: expected '{expected}' in: {err}", db.backend);
        }
        let agent = cli.json(&["account", "show", "0722000001", "--json"]);
        assert_eq!(agent["balance_minor"], 0, "nothing moved");
        cli.ok(&["ledger", "verify"], "");
    }
}

#[test]
fn usage_errors_exit_2_and_config_show_masks_secrets() {
    let db = TestDb::sqlite();
    let cli = Cli::new(&db);
    for args in
        [&["no-such-command"][..], &["account"], &["account", "show"], &["float", "issue", "--agent", "0722000001"]]
    {
        let (code, _, _) = cli.run(args, "");
        assert_eq!(code, 2, "{args:?}");
    }
    let shown = cli
        .cmd(&["config", "show"])
        .env("MKOBA_WEBHOOK_TOKEN", "very-secret-token")
        .env("MKOBA_SMS__API_KEY", "very-secret-key")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success());
    assert!(text.contains("service_code = \"*384#\""), "{text}");
    assert!(!text.contains("very-secret"), "{text}");
    let (code, _, err) = cli.run(&["config", "show"], "");
    assert_eq!(code, 0, "{err}");
    let bad = cli.cmd(&["config", "show"]).env("MKOBA_PIN__MAX_ATTEMPTS", "lots").output().expect("runs");
    assert_eq!(bad.status.code(), Some(2), "a bad configuration is bad usage");
}

#[test]
fn pin_unlock_reopens_a_locked_account() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let db = TestDb::sqlite();
    let cli = Cli::new(&db);
    cli.ok(&["customer", "register", "--msisdn", "0712000001", "--name", "Amina Juma"], "1357\n");
    let path = db.url.trim_start_matches("sqlite://").to_string();
    let mut conn = diesel::SqliteConnection::establish(&path).expect("open");
    conn.batch_execute("UPDATE accounts SET status = 'locked', pin_failures = 3 WHERE msisdn = '254712000001'")
        .expect("lock");
    assert_eq!(cli.json(&["account", "show", "0712000001", "--json"])["status"], "locked");
    let out = cli.ok(&["pin", "unlock", "0712000001"], "");
    assert!(out.contains("unlocked"), "{out}");
    assert_eq!(cli.json(&["account", "show", "0712000001", "--json"])["status"], "active");
    cli.refused(&["pin", "unlock", "0799999999"], "");
}

#[tokio::test]
async fn held_transfers_are_listed_released_and_returned_from_the_cli() {
    use crate::helpers::{kes, TestLedger};
    use mkoba::config::{LimitRule, RuleAction};
    use mkoba::ledger::TransferKind;
    for db in TestDb::all() {
        let mut config = db.config();
        config.velocity.out_count_per_hour = LimitRule { limit: Some(0), action: RuleAction::Hold };
        let t = TestLedger::open_with(db.clone_for_restart(), config);
        let w = t.world(1_000).await;
        let first = t.transfer(TransferKind::P2p, w.amina, w.baraka, kes(200)).await.expect("held");
        let second = t.transfer(TransferKind::P2p, w.amina, w.baraka, kes(300)).await.expect("held");
        let cli = Cli::new(&db);
        let b = db.backend;
        let list = cli.json(&["held", "list", "--json"]);
        let held = list["held"].as_array().expect("held array");
        assert_eq!(held.len(), 2, "[{b}] {list}");
        assert_eq!(held[0]["reference"], first.reference.as_str());
        assert_eq!(held[0]["payer"], "254712000001");
        assert_eq!(held[0]["payee"], "254712000002");
        assert_eq!(held[0]["amount_minor"], 20_000);
        assert_eq!(held[0]["rule"], "out_count_per_hour");
        assert!(held[0]["held_at"].as_str().is_some_and(|s| s.ends_with('Z')), "[{b}] {list}");

        cli.ok(&["held", "release", &first.reference], "");
        let err = cli.refused(&["held", "return", &first.reference], "");
        assert!(err.contains("already released"), "[{b}] {err}");
        cli.ok(&["held", "return", &second.reference], "");
        let err = cli.refused(&["held", "release", &second.reference], "");
        assert!(err.contains("already returned"), "[{b}] {err}");
        let err = cli.refused(&["transfer", "reverse", &first.reference], "");
        assert!(err.contains("held release/return"), "[{b}] {err}");
        assert_eq!(cli.json(&["held", "list", "--json"])["held"].as_array().map(Vec::len), Some(0));
        assert_eq!(cli.json(&["account", "show", "0712000002", "--json"])["balance_minor"], 20_000);
        cli.ok(&["ledger", "verify"], "");

        let marked = cli.json(&["sim-swap", "mark", "0712000001", "--at", "2026-11-30T09:00:00+03:00", "--json"]);
        assert_eq!(marked["msisdn"], "254712000001");
        assert_eq!(marked["swapped_at"], "2026-11-30T06:00:00Z");
        let (code, _, err) = cli.run(&["sim-swap", "mark", "0712000001", "--at", "yesterday"], "");
        assert_eq!(code, 2, "[{b}] bad usage: {err}");
    }
}

/// A refusal exits 1; a failure that is not the operator's doing (here the
/// database cannot be reached) exits 3 and says so plainly.
#[test]
fn a_failure_is_told_apart_from_a_refusal() {
    let db = TestDb::sqlite();
    let cli = Cli::new(&db);
    let out = cli
        .cmd(&["account", "show", "0712000001"])
        .env("MKOBA_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("not a refusal"), "{err}");
    let (code, _, err) = cli.run(&["account", "show", "0712000001"], "");
    assert_eq!(code, 1, "unknown account is a refusal: {err}");
}

#[test]
fn transfer_list_pages_through_transfers_with_their_parties() {
    for db in TestDb::all() {
        let cli = Cli::new(&db);
        cli.ok(&["migrate"], "");
        cli.ok(&["agent", "create", "--msisdn", "0722000001", "--name", "Duka Moja"], "2468\n");
        let mut refs = Vec::new();
        for amount in ["100", "200", "300"] {
            let issued = cli.json(&["float", "issue", "--agent", "0722000001", "--amount", amount, "--json"]);
            refs.push(issued["receipt"]["reference"].as_str().expect("reference").to_string());
        }
        let all = cli.json(&["transfer", "list", "--json"]);
        let listed: Vec<&str> =
            all["transfers"].as_array().expect("list").iter().map(|t| t["reference"].as_str().expect("ref")).collect();
        assert_eq!(listed, refs, "[{}] in commit order", db.backend);
        let first = &all["transfers"][0];
        assert_eq!(first["kind"], "float_issue");
        assert_eq!(first["amount_minor"], 10_000);
        assert_eq!(first["to"]["kind"], "agent");
        assert_eq!(first["to"]["notify_to"], "254722000001");
        assert_eq!(first["from"]["notify_to"], serde_json::Value::Null, "the issuance account gets no receipt");
        assert!(first["idempotency_key"].as_str().expect("key").starts_with("cli:float:"));

        // Pages: two, then the rest from where the first stopped.
        let page = cli.json(&["transfer", "list", "--json", "--limit", "2"]);
        assert_eq!(page["transfers"].as_array().expect("page").len(), 2);
        let next = page["next_after_id"].to_string();
        let rest = cli.json(&["transfer", "list", "--json", "--after-id", &next]);
        assert_eq!(rest["transfers"][0]["reference"].as_str(), Some(refs[2].as_str()));
        let end = cli.json(&["transfer", "list", "--json", "--after-id", &rest["next_after_id"].to_string()]);
        assert_eq!(end["transfers"].as_array().expect("empty").len(), 0);
        let future = cli.json(&["transfer", "list", "--json", "--since", "2999-01-01T00:00:00Z"]);
        assert_eq!(future["transfers"].as_array().expect("empty").len(), 0);

        let human = cli.ok(&["transfer", "list"], "");
        assert!(human.contains(&refs[0]) && human.contains("float_issue"), "{human}");
        cli.refused(&["transfer", "list", "--limit", "0"], "");
        cli.refused(&["transfer", "list", "--since", "yesterday"], "");
    }
}
