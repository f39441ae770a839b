use super::*;

fn reply(body: &str) -> Result<UssdReply, String> {
    Ok(UssdReply { status: 200, body: body.to_string() })
}

fn hop(action: Action) -> HopRequest {
    match action {
        Action::Hop(hop) => hop,
        other => panic!("expected a hop, got {other:?}"),
    }
}

fn typed(phone: &mut PhoneState, s: &str) {
    for c in s.chars() {
        assert_eq!(phone.press(Key::Char(c)), Action::Nothing);
    }
}

#[test]
fn a_session_sends_every_input_so_far_and_masks_the_pin() {
    let mut phone = PhoneState::new("254712000001", "*384#", 20);
    let first = hop(phone.press(Key::Dial));
    assert_eq!((first.text.as_str(), first.service_code.as_str()), ("", "*384#"));
    assert_eq!(phone.call, Call::Waiting);
    assert_eq!(phone.hop_answered(first.seq, reply("CON Welcome\n1. Send money")), Action::Nothing);
    assert_eq!(phone.call, Call::Open);
    assert_eq!(phone.hints(), Hints::default(), "the home screen");
    typed(&mut phone, "1");
    let second = hop(phone.press(Key::Send));
    assert_eq!(second.text, "1");
    assert_eq!(second.session_id, first.session_id);
    phone.hop_answered(second.seq, reply("CON Send KES 50.00 to Baraka?\nEnter PIN:"));
    assert!(phone.hints().back && phone.hints().home);
    assert!(phone.asks_pin());
    typed(&mut phone, "1357");
    assert_eq!(phone.typed_display(), "••••");
    let third = hop(phone.press(Key::Send));
    assert_eq!(third.text, "1*1357");
    assert!(!phone.trail().contains("1357"), "{}", phone.trail());
    assert_eq!(phone.trail(), "1 › ••••");
    let Action::SessionEnded(end) = phone.hop_answered(third.seq, reply("END Sent. Ref QK7H2M9XTA")) else {
        panic!("an END screen ends the session");
    };
    assert_eq!((end.status, end.hops, end.input.as_str()), ("Success", 3, "1*1357"));
    assert_eq!(phone.call, Call::Ended);
    assert_eq!(phone.budget().map(|b| b.label()), Some("24/182".to_string()));
    assert!(!phone.status.contains("1357"));
}

#[test]
fn hanging_up_drops_the_answer_on_its_way_and_reports_incomplete() {
    let mut phone = PhoneState::new("254712000001", "*384#", 20);
    let first = hop(phone.press(Key::Dial));
    let Action::SessionEnded(end) = phone.press(Key::End) else {
        panic!("hanging up ends the session");
    };
    assert_eq!((end.status, end.hops), ("Incomplete", 1));
    assert_eq!(phone.hop_answered(first.seq, reply("CON Welcome")), Action::Nothing);
    assert!(phone.shown.is_none(), "a late answer is not shown");
    // The red key again clears the display.
    assert_eq!(phone.press(Key::End), Action::Nothing);
    assert_eq!(phone.call, Call::Idle);
}

#[test]
fn typed_codes_dial_and_other_text_is_refused() {
    let mut phone = PhoneState::new("254712000001", "*384#", 20);
    typed(&mut phone, "12");
    assert_eq!(phone.press(Key::Send), Action::Nothing);
    assert!(phone.status.contains("Not a USSD code"));
    typed(&mut phone, "*384*1234#");
    let hop = hop(phone.press(Key::Send));
    assert_eq!(hop.service_code, "*384*1234#");
    assert_eq!(phone.press(Key::Dial), Action::Nothing, "one session at a time");
    assert!(phone.status.contains("open"));
}

#[test]
fn failures_show_the_phones_own_words_and_end_the_call() {
    let mut phone = PhoneState::new("254712000001", "*384#", 20);
    let first = hop(phone.press(Key::Dial));
    let unauthorized = Ok(UssdReply { status: 401, body: "unauthorized".into() });
    phone.hop_answered(first.seq, unauthorized);
    assert_eq!(phone.call, Call::Ended);
    assert!(phone.screen_lines().join(" ").contains("Connection problem"));
    assert_eq!(phone.status, "HTTP 401: unauthorized");
    assert_eq!(phone.budget(), None);
    let again = hop(phone.press(Key::Dial));
    phone.hop_answered(again.seq, Err("cannot connect: refused".into()));
    assert_eq!(phone.status, "cannot connect: refused");
}

#[test]
fn debug_output_hides_pins() {
    let mut phone = PhoneState::new("254712000001", "*384#", 20);
    let first = hop(phone.press(Key::Dial));
    phone.hop_answered(first.seq, reply("CON Enter PIN:"));
    typed(&mut phone, "1357");
    let action = phone.press(Key::Send);
    assert!(!format!("{action:?}").contains("1357"), "{action:?}");
    let end = phone.press(Key::End);
    assert!(!format!("{end:?} {phone:?}").contains("1357"), "{end:?}");
}

#[test]
fn input_is_bounded_and_editable() {
    let mut phone = PhoneState::new("254712000001", "*384#", 20);
    typed(&mut phone, &"9".repeat(INPUT_MAX + 5));
    assert_eq!(phone.typed.len(), INPUT_MAX);
    phone.press(Key::Backspace);
    assert_eq!(phone.typed.len(), INPUT_MAX - 1);
}
