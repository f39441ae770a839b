//! Unit tests: defaults, layering of file and environment, and the checks.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn defaults_are_the_contract() {
    let c = Config::from_sources(None, env(&[])).expect("defaults load");
    assert_eq!(c.listen, "127.0.0.1:8080");
    assert_eq!(c.database_url, "sqlite://mkoba.db");
    assert_eq!((c.currency.code.as_str(), c.currency.minor_digits), ("KES", 2));
    assert_eq!((c.country_code.as_str(), c.service_code.primary()), ("254", "*384#"));
    assert_eq!((c.pin.length, c.pin.max_attempts), (4, 3));
    assert_eq!(c.pin.argon2, Argon2Config { memory_kib: 19_456, iterations: 2, parallelism: 1 });
}

#[test]
fn file_then_env_override_with_types() {
    let file = "listen = \"0.0.0.0:9000\"\n[pin]\nmax_attempts = 5\n[tiers.basic]\nmax_balance_minor = 1\nmax_transfer_minor = 1\nmax_daily_out_minor = 1\n";
    let c = Config::from_sources(
        Some(("test.toml", file)),
        env(&[
            ("MKOBA_PIN__MAX_ATTEMPTS", "7"),
            ("MKOBA_WEBHOOK_TOKEN", "1234"),
            ("MKOBA_TIERS__STANDARD__MAX_BALANCE_MINOR", "999"),
            ("MKOBA_CONFIG", "ignored.toml"),
            ("MKOBA_TEST_DATABASE_URL", "postgres://ignored"),
            ("PATH", "/bin"),
        ]),
    )
    .expect("loads");
    assert_eq!(c.listen, "0.0.0.0:9000");
    assert_eq!(c.pin.max_attempts, 7);
    assert_eq!(c.webhook_token.expose(), "1234");
    assert_eq!(c.tiers["basic"].max_balance_minor, 1);
    assert_eq!(c.tiers["standard"].max_balance_minor, 999);
}

#[test]
fn bad_values_are_refused_with_the_variable_named() {
    let err = Config::from_sources(None, env(&[("MKOBA_PIN__MAX_ATTEMPTS", "three")])).expect_err("refused");
    assert!(err.to_string().contains("MKOBA_PIN__MAX_ATTEMPTS"), "{err}");
    let err = Config::from_sources(Some(("x.toml", "no_such_key = 1")), env(&[])).expect_err("refused");
    assert!(err.to_string().contains("no_such_key"), "{err}");
    assert!(Config::from_sources(None, env(&[("MKOBA_PIN__LENGTH", "2")])).is_err());
}

#[test]
fn tariffs_that_overcharge_micro_payments_are_refused() {
    let too_dear = "[tariffs]\np2p = [{ up_to_minor = 10000, fee_minor = 200 }]\n";
    let err = Config::from_sources(Some(("t.toml", too_dear)), env(&[])).expect_err("refused");
    assert!(err.to_string().contains("1%") || err.to_string().contains("smallest"), "{err}");
    let fee_over_amount = "[tariffs]\ncash_out = [{ up_to_minor = 10000, fee_minor = 1 }]\n";
    assert!(Config::from_sources(Some(("t.toml", fee_over_amount)), env(&[])).is_err());
    let falling = "[tariffs]\ncash_in = [{ up_to_minor = 100 , fee_minor = 0}, { up_to_minor = 50, fee_minor = 0 }]\n";
    assert!(Config::from_sources(Some(("t.toml", falling)), env(&[])).is_err());
    let bands = "[[tariffs.p2p]]\nup_to_minor = 100000\nfee_minor = 0\n";
    let env_bands = env(&[("MKOBA_TARIFFS__CASH_IN", "[{ up_to_minor = 500, fee_minor = 0, commission_minor = 5 }]")]);
    let c = Config::from_sources(Some(("t.toml", bands)), env_bands).expect("valid");
    assert_eq!(c.tariffs.p2p.len(), 1);
    assert_eq!(c.tariffs.cash_in[0].commission_minor, 5);
}

#[test]
fn per_source_limits_default_high_and_refuse_zero() {
    let r = Config::from_sources(None, env(&[])).expect("defaults").rate_limits;
    assert_eq!((r.per_source_per_second, r.per_source_burst, r.source_keys_max), (2_000, 4_000, 100_000));
    let c = Config::from_sources(None, env(&[("MKOBA_RATE_LIMITS__PER_SOURCE_BURST", "10")])).expect("loads");
    assert_eq!(c.rate_limits.per_source_burst, 10);
    for key in ["PER_SOURCE_PER_SECOND", "PER_SOURCE_BURST", "SOURCE_KEYS_MAX"] {
        let var = format!("MKOBA_RATE_LIMITS__{key}");
        let err = Config::from_sources(None, env(&[(var.as_str(), "0")])).expect_err("zero refused");
        assert!(err.to_string().contains("at least 1"), "{err}");
    }
}

#[test]
fn service_code_is_one_code_or_a_list() {
    let file = |toml: &str| Config::from_sources(Some(("test.toml", toml)), env(&[]));
    assert_eq!(file("service_code = \"*384#\"\n").expect("one").service_code.all(), ["*384#"]);
    let many = file("service_code = [\"*384#\", \"*384*1234#\"]\n").expect("list");
    assert!(many.service_code.contains("*384*1234#") && many.service_code.contains(" *384# "));
    assert!(!many.service_code.contains("*385#"));
    let var = "MKOBA_SERVICE_CODE";
    let from_env = |raw: &str| Config::from_sources(None, env(&[(var, raw)]));
    assert_eq!(from_env(r#"["*384#","*384*1234#"]"#).expect("array").service_code.all(), ["*384#", "*384*1234#"]);
    assert_eq!(from_env("*384#,*384*1234#").expect("commas").service_code.all(), ["*384#", "*384*1234#"]);
    assert_eq!(from_env("*384*99#").expect("one").service_code.primary(), "*384*99#");
    assert!(file("service_code = \"384\"\n").is_err());
    assert!(file("service_code = []\n").is_err());
}

#[test]
fn allowed_ips_from_a_toml_array_or_a_comma_separated_string() {
    let var = "MKOBA_WEBHOOKS__ALLOWED_IPS";
    let load = |raw: &str| Config::from_sources(None, env(&[(var, raw)]));
    let array = load(r#"["10.0.0.0/8", "2001:db8::/32"]"#).expect("TOML array");
    assert_eq!(array.webhooks.allowed_ips, ["10.0.0.0/8", "2001:db8::/32"]);
    let listed = load(" 10.0.0.0/8, 192.168.1.7 ,2001:db8::/32,").expect("comma-separated");
    assert_eq!(listed.webhooks.allowed_ips, ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]);
    let nets = listed.webhooks.allowed_nets().expect("parsed");
    assert!(nets[1].contains(&"192.168.1.7".parse::<std::net::IpAddr>().expect("ip")));
    assert_eq!(nets[1].prefix_len(), 32, "a single address is its own /32");
    assert!(load("").expect("empty").webhooks.allowed_ips.is_empty());
    assert!(Config::from_sources(None, env(&[])).expect("defaults").webhooks.allowed_ips.is_empty());
    for bad in ["10.0.0.0/33", "10.0.0.0/8,localhost", r#"["10.0.0.0/8", "nope"]"#] {
        let err = load(bad).expect_err("refused");
        assert!(err.to_string().contains("webhooks.allowed_ips"), "{bad}: {err}");
    }
    let file = "[webhooks]\nallowed_ips = [\"127.0.0.0/8\", \"::1\"]\n";
    let c = Config::from_sources(Some(("w.toml", file)), env(&[])).expect("from a file");
    assert_eq!(c.webhooks.allowed_nets().expect("parsed").len(), 2);
}

#[test]
fn show_masks_secrets() {
    let c = Config::from_sources(
        None,
        env(&[
            ("MKOBA_WEBHOOK_TOKEN", "tok-secret-1"),
            ("MKOBA_PIN__PEPPER", "pepper-secret-2"),
            ("MKOBA_SMS__API_KEY", "api-secret-3"),
            ("MKOBA_DATABASE_URL", "postgres://u:dbpass-4@h/db"),
        ]),
    )
    .expect("loads");
    let shown = c.to_masked_toml();
    for secret in ["tok-secret-1", "pepper-secret-2", "api-secret-3", "dbpass-4"] {
        assert!(!shown.contains(secret), "{secret} leaked");
        assert!(!format!("{c:?}").contains(secret) || secret == "dbpass-4");
    }
    assert!(shown.contains("********"));
}

#[test]
fn env_values_take_the_type_of_their_field() {
    let c = Config::from_sources(
        None,
        env(&[
            ("MKOBA_WEBHOOK_TOKEN", "0123"),
            ("MKOBA_PIN__PEPPER", "1e3"),
            ("MKOBA_SMS__API_KEY", "true"),
            ("MKOBA_PIN__LENGTH", "5"),
            ("MKOBA_NOTIFY__WORKERS", "false"),
            ("MKOBA_VELOCITY__OUT_COUNT_PER_HOUR__LIMIT", "3"),
            ("MKOBA_VELOCITY__OUT_COUNT_PER_HOUR__ACTION", "hold"),
            ("MKOBA_LOG", "debug"),
            ("MKOBA_LOG_FORMAT", "json"),
            ("MKOBA_BARS_WIDTH", "80"),
        ]),
    )
    .expect("loads");
    assert_eq!(c.webhook_token.expose(), "0123", "a token is never read as a number");
    assert_eq!(c.pin.pepper.expose(), "1e3");
    assert_eq!(c.sms.api_key.expose(), "true");
    assert_eq!(c.pin.length, 5);
    assert!(!c.notify.workers);
    assert_eq!(c.velocity.out_count_per_hour, LimitRule { limit: Some(3), action: RuleAction::Hold });
    assert_eq!(c.velocity.new_recipients_per_hour.limit, None);
    let err = Config::from_sources(None, env(&[("MKOBA_VELOCITY__OUT_COUNT_PER_HOUR__LIMIT", "x")]))
        .expect_err("not a number");
    assert!(err.to_string().contains("MKOBA_VELOCITY__OUT_COUNT_PER_HOUR__LIMIT"), "{err}");
}

#[test]
fn unknown_keys_are_refused_from_the_environment_too() {
    let err = Config::from_sources(None, env(&[("MKOBA_NO_SUCH_KEY", "1")])).expect_err("refused");
    assert!(err.to_string().contains("no_such_key"), "{err}");
    let err = Config::from_sources(Some(("x.toml", "")), env(&[("MKOBA_PIN__NO_SUCH", "1")])).expect_err("refused");
    assert!(err.to_string().contains("MKOBA_PIN__NO_SUCH") && !err.to_string().contains("x.toml"), "{err}");
    let err = Config::from_sources(None, env(&[("MKOBA_LISTEN__PORT", "1")])).expect_err("not a section");
    assert!(err.to_string().contains("MKOBA_LISTEN__PORT"), "{err}");
    let err = Config::from_sources(Some(("x.toml", "[pin]\nlenght = 5\n")), env(&[])).expect_err("refused");
    assert!(err.to_string().contains("lenght") && err.to_string().contains("x.toml"), "{err}");
    assert!(Config::from_sources(Some(("x.toml", "pin = [")), env(&[])).is_err(), "not TOML");
}

#[test]
fn tables_merge_key_by_key_and_lists_replace() {
    let file = "[tiers.gold]\nmax_balance_minor = 5\nmax_transfer_minor = 5\nmax_daily_out_minor = 5\n[pin.argon2]\niterations = 3\n";
    let c = Config::from_sources(
        Some(("t.toml", file)),
        env(&[("MKOBA_TIERS__GOLD__MAX_DAILY_OUT_MINOR", "6"), ("MKOBA_PIN__ARGON2__MEMORY_KIB", "1024")]),
    )
    .expect("loads");
    assert_eq!(c.tiers.len(), 5, "the default tiers stay");
    assert_eq!((c.tiers["gold"].max_balance_minor, c.tiers["gold"].max_daily_out_minor), (5, 6));
    assert_eq!(c.pin.argon2, Argon2Config { memory_kib: 1024, iterations: 3, parallelism: 1 });
    let c = Config::from_sources(None, env(&[("MKOBA_TARIFFS__CASH_OUT", "[{ up_to_minor = 100, fee_minor = 0 }]")]))
        .expect("loads");
    assert_eq!(c.tariffs.cash_out, [Band { up_to_minor: 100, fee_minor: 0, commission_minor: 0 }]);
    assert_eq!(c.tariffs.p2p.len(), 8);
    let err = Config::from_sources(Some(("t.toml", "[[tariffs.p2p]]\nup_to_minor = 1\nfee = 0\n")), env(&[]))
        .expect_err("refused");
    assert!(err.to_string().contains("fee"), "{err}");
}
