use super::*;

#[test]
fn loopback_only() {
    for ok in [
        "http://127.0.0.1:8080",
        "http://127.1.2.3:1/",
        "http://localhost:8080",
        "http://LOCALHOST",
        "http://[::1]:8080",
    ] {
        assert!(check_loopback(ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://10.0.0.1:8080",
        "http://example.com",
        "http://[::2]:80",
        "http://0.0.0.0:8080",
        "https://127.0.0.1:8443",
        "http://localhost.example.com",
        "nonsense",
    ] {
        assert!(check_loopback(bad).is_err(), "{bad}");
    }
}

#[test]
fn generates_phones() {
    assert_eq!(generate_phones("25471", 3).expect("valid"), vec!["254710000000", "254710000001", "254710000002"]);
    assert!(generate_phones("2547123456", 100).is_ok());
    assert!(generate_phones("2547123456", 101).is_err());
    assert!(generate_phones("254712345678", 1).is_err());
    assert!(generate_phones("+254", 1).is_err());
    assert!(generate_phones("25471", 0).is_err());
}

#[test]
fn parses_phone_files() {
    let phones = parse_phones("# callers\n0712345678\n\n+254712000002\n", "254").expect("valid file");
    assert_eq!(phones, vec!["254712345678", "254712000002"]);
    assert!(parse_phones("0712345678\nnope\n", "254").is_err());
    assert!(parse_phones("# nothing\n", "254").is_err());
}

#[test]
fn percentiles() {
    let of = |values: &[u64]| {
        let mut l = Latencies::default();
        values.iter().for_each(|&v| l.record_us(v));
        l
    };
    let v = of(&(1..=100).collect::<Vec<_>>());
    assert_eq!(v.percentile_us(50.0), 50);
    assert_eq!(v.percentile_us(90.0), 90);
    assert_eq!(v.percentile_us(99.0), 99);
    assert_eq!(v.percentile_us(100.0), 100);
    assert_eq!(v.percentile_us(0.0), 1);
    assert_eq!(of(&[7]).percentile_us(99.0), 7);
    assert_eq!(of(&[]).percentile_us(50.0), 0);
    // Merged workers, and large values within 0.1 %.
    let mut a = of(&[1_000_000]);
    a.merge(&of(&[2_000_000, 3_000_000]));
    assert_eq!(a.len(), 3);
    assert!(a.max_us().abs_diff(3_000_000) <= 3_000, "{}", a.max_us());
}

#[test]
fn references() {
    assert!(has_reference("END Sent KES 10.00 to JANE. Ref QK7H2M9XTA."));
    assert!(!has_reference("END INSUFFICIENT funds"));
    assert!(!has_reference("END Wrong PIN. 2 attempts left"));
    assert!(has_reference("END Sent. Ref QKWHXMZXTA"));
    assert!(!has_reference("END 0712345678"));
    assert!(!has_reference("END Sent. Ref QK7H2M9XT"));
}

#[test]
fn validates() {
    let phones = vec!["254712345678".to_string(), "254712000002".to_string()];
    let ok = LoadConfig::new("http://127.0.0.1:1", "t", Scenario::Transfer, phones.clone());
    assert!(ok.validate().is_ok());
    let mut c = ok.clone();
    c.duration = Duration::from_secs(601);
    assert!(c.validate().is_err());
    let mut c = ok.clone();
    c.concurrency = 0;
    assert!(c.validate().is_err());
    let mut c = ok.clone();
    c.phones.truncate(1);
    assert!(c.validate().is_err());
    c.scenario = Scenario::Menu;
    assert!(c.validate().is_ok());
    let mut c = ok;
    c.url = "http://192.168.1.1:8080".to_string();
    assert!(c.validate().is_err());
}
