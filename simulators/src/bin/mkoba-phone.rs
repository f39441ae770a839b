//! `mkoba-phone`: a feature phone in the terminal. It dials mkoba's USSD
//! service the way Africa's Talking relays a real phone's session.
//!
//! * On a terminal: a handset on screen (ratatui) with a keypad, the
//!   182-character budget, navigation hints and the SMS inbox beside it
//!   (`simulators/src/phone`).
//! * `--inputs "1*0712345678*50*PIN"`: every screen printed, line by line
//!   (also when stdin is not a terminal, reading inputs from it; `--plain`).
//! * `--keys "<dial>1<send>…"`: the terminal app played headlessly, its
//!   last frame printed.
//! * `--inbox`: the phone's SMS printed (mkoba's local inbox, or the
//!   aggregator simulator's with `--aggregator`).

use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mkoba_simulators::inbox::local_inbox;
use mkoba_simulators::msisdn;
use mkoba_simulators::phone::{self, Headless, Net, PhoneState, SmsSource};
use mkoba_simulators::ussd::{new_session_id, UssdClient, UssdReply};

#[derive(Debug, Parser)]
#[command(
    name = "mkoba-phone",
    version,
    about = "Interactive feature-phone USSD simulator for mkoba",
    after_help = "Exit status: 0 when the session ran (to END, or until the inputs or stdin \
                  ran out), 1 when a hop failed or the session ended before every --inputs \
                  item was used, 2 on bad usage."
)]
struct Args {
    /// mkoba's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// mkoba's webhook token.
    #[arg(long, env = "MKOBA_WEBHOOK_TOKEN", hide_env_values = true)]
    token: String,
    /// The caller's number (0712345678, +254712345678, …).
    #[arg(long)]
    phone: String,
    /// USSD service code dialled.
    #[arg(long, default_value = "*384#")]
    service_code: String,
    /// Inputs for a non-interactive run, joined by `*` ("1*0712000002*100*1357");
    /// every screen is printed.
    #[arg(long)]
    inputs: Option<String>,
    /// Session id (default: a fresh ATUid_… one). Reusing one repeats hops.
    #[arg(long)]
    session_id: Option<String>,
    /// networkCode sent with each hop.
    #[arg(long, default_value = "63902")]
    network_code: String,
    /// Country code for national numbers.
    #[arg(long, default_value = "254")]
    country_code: String,
    /// Timeout of one hop, milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Print the SMS mkoba kept for this phone in its local inbox (mkoba
    /// runs without SMS credentials), or the aggregator simulator's inbox
    /// with --aggregator, and exit; no USSD session.
    #[arg(long)]
    inbox: bool,
    /// The phone's SMS come from the aggregator simulator at this URL
    /// (`GET /sim/inbox/{phone}`) instead of mkoba's local inbox.
    #[arg(long, value_name = "URL")]
    aggregator: Option<String>,
    /// Show no SMS inbox.
    #[arg(long, conflicts_with = "aggregator")]
    no_sms: bool,
    /// How often the SMS inbox is polled, milliseconds.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    sms_poll_ms: u64,
    /// Characters per line of the phone's display.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(12..=40))]
    screen_width: u16,
    /// Do not post session-end events (`/ussd-events`) after a session, as
    /// Africa's Talking does.
    #[arg(long)]
    no_events: bool,
    /// Line-by-line mode even on a terminal (inputs read from stdin).
    #[arg(long, conflicts_with = "keys")]
    plain: bool,
    /// Play the terminal app headlessly with these keys and print its last
    /// frame: 0-9 * # are keys; <dial> <send> <end> <bs> <up> <down> <read>
    /// <inbox>, <sms> (wait for a new SMS) and <sms:TEXT> are the others.
    #[arg(long, value_name = "SCRIPT", conflicts_with = "inputs")]
    keys: Option<String>,
    /// With --keys: print every frame, not only the last.
    #[arg(long, requires = "keys")]
    all_frames: bool,
    /// With --keys: the headless terminal's size, COLUMNSxROWS.
    #[arg(long, default_value = "100x34", requires = "keys")]
    term_size: String,
}

fn show_inbox(runtime: &tokio::runtime::Runtime, http: &reqwest::Client, args: &Args, phone: &str) -> ExitCode {
    if args.aggregator.is_some() {
        return show_sim_inbox(runtime, net(http, args, phone), phone);
    }
    let messages = match runtime.block_on(local_inbox(http, &args.url, &args.token, phone)) {
        Ok(messages) => messages,
        Err(e) => {
            eprintln!("mkoba-phone: {e}");
            return ExitCode::from(1);
        }
    };
    println!("Inbox of {} ({} message(s), oldest first)", msisdn::plus_e164(phone), messages.len());
    for m in &messages {
        println!("--- from {} ---", m.from);
        println!("{}", m.message);
    }
    ExitCode::SUCCESS
}

fn show(reply: &UssdReply) {
    let label = match reply.continues() {
        Some(true) => "CON: session continues, reply below",
        Some(false) => "END: session ended",
        None => "malformed reply (neither CON nor END)",
    };
    println!("--- {label} ---");
    println!("{}", reply.screen());
    println!("{}", "-".repeat(44));
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(phone) = msisdn::normalize(&args.phone, &args.country_code) else {
        eprintln!("mkoba-phone: not a phone number: {}", args.phone);
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(1, e),
    };
    let http = match reqwest::Client::builder().timeout(Duration::from_millis(args.timeout_ms.max(1))).build() {
        Ok(http) => http,
        Err(e) => return fail(1, e),
    };
    if args.inbox {
        return show_inbox(&runtime, &http, &args, &phone);
    }
    if let Some(script) = &args.keys {
        return play_keys(&runtime, net(&http, &args, &phone), &args, &phone, script);
    }
    if args.inputs.is_none() && !args.plain && std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        drop(runtime);
        let state = PhoneState::new(&phone, &args.service_code, usize::from(args.screen_width));
        let every = Duration::from_millis(args.sms_poll_ms);
        return match phone::tui::run(net(&http, &args, &phone), state, every) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(1, e),
        };
    }
    let client = match UssdClient::new(http, &args.url, &args.token, &args.service_code, &args.network_code) {
        Ok(client) => client,
        Err(e) => return fail(2, e),
    };
    let session_id = args.session_id.clone().unwrap_or_else(new_session_id);
    // `--inputs ""` means: only dial.
    let scripted: Option<VecDeque<String>> = args.inputs.as_deref().map(|s| match s {
        "" => VecDeque::new(),
        s => s.split('*').map(str::to_string).collect(),
    });
    println!("Dialling {} from {} (session {session_id})", args.service_code, msisdn::plus_e164(&phone));
    let mut session = Session { runtime: &runtime, client: &client, session_id: &session_id, phone: &phone };
    session.run(scripted)
}

fn fail(code: u8, e: impl std::fmt::Display) -> ExitCode {
    eprintln!("mkoba-phone: {e}");
    ExitCode::from(code)
}

/// One USSD session: a hop per input until END, the inputs running out, or
/// stdin closing.
struct Session<'a> {
    runtime: &'a tokio::runtime::Runtime,
    client: &'a UssdClient,
    session_id: &'a str,
    phone: &'a str,
}

impl Session<'_> {
    fn run(&mut self, mut scripted: Option<VecDeque<String>>) -> ExitCode {
        let interactive = scripted.is_none();
        let mut inputs: Vec<String> = Vec::new();
        loop {
            let text = inputs.join("*");
            let reply = match self.runtime.block_on(self.client.hop(self.session_id, self.phone, &text)) {
                Ok(reply) => reply,
                Err(e) => return fail(1, e),
            };
            if reply.status != 200 {
                return fail(1, format!("HTTP {}: {}", reply.status, reply.body.trim()));
            }
            show(&reply);
            match reply.continues() {
                Some(true) => {}
                Some(false) => {
                    return match scripted.as_ref().map(|s| s.len()) {
                        Some(unused) if unused > 0 => {
                            fail(1, format!("the session ended with {unused} input(s) unused"))
                        }
                        _ => ExitCode::SUCCESS,
                    };
                }
                None => return ExitCode::from(1),
            }
            let next = match scripted.as_mut() {
                Some(queue) => match queue.pop_front() {
                    Some(input) => {
                        println!("> {input}");
                        input
                    }
                    None => {
                        println!("(inputs used up; session left open)");
                        return ExitCode::SUCCESS;
                    }
                },
                None => match read_input() {
                    Ok(Some(line)) => line,
                    Ok(None) => return ExitCode::SUCCESS,
                    Err(code) => return code,
                },
            };
            if interactive && next.is_empty() {
                println!("(empty input sent)");
            }
            inputs.push(next);
        }
    }
}

/// The next input typed; `None` when stdin is closed (the caller hung up).
fn read_input() -> Result<Option<String>, ExitCode> {
    print!("> ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) => {
            println!();
            println!("(cancelled)");
            Ok(None)
        }
        Ok(_) => Ok(Some(line.trim().to_string())),
        Err(e) => Err(fail(1, format!("cannot read stdin: {e}"))),
    }
}

/// How the terminal app reaches mkoba and the phone's SMS.
fn net(http: &reqwest::Client, args: &Args, phone: &str) -> Net {
    let sms = match (&args.aggregator, args.no_sms) {
        (_, true) => SmsSource::Off,
        (Some(url), false) => SmsSource::Aggregator(url.clone()),
        (None, false) => SmsSource::Local,
    };
    Net {
        http: http.clone(),
        url: args.url.clone(),
        token: args.token.clone(),
        network_code: args.network_code.clone(),
        phone: phone.to_string(),
        sms,
        events: !args.no_events,
    }
}

fn show_sim_inbox(runtime: &tokio::runtime::Runtime, net: Net, phone: &str) -> ExitCode {
    let messages = match runtime.block_on(net.poll_sms()) {
        Ok(messages) => messages,
        Err(e) => return fail(1, e),
    };
    println!("Inbox of {} ({} message(s), oldest first)", msisdn::plus_e164(phone), messages.len());
    for m in &messages {
        println!("--- from {} ---", m.from);
        println!("{}", m.text);
    }
    ExitCode::SUCCESS
}

/// `--keys`: the terminal app played headlessly; 1 when a step failed.
fn play_keys(runtime: &tokio::runtime::Runtime, net: Net, args: &Args, phone: &str, script: &str) -> ExitCode {
    let steps = match phone::parse_script(script) {
        Ok(steps) => steps,
        Err(e) => return fail(2, e),
    };
    let Some((cols, rows)) = args.term_size.split_once('x').and_then(|(c, r)| Some((c.parse().ok()?, r.parse().ok()?)))
    else {
        return fail(2, format!("--term-size {}: expected COLUMNSxROWS, e.g. 100x34", args.term_size));
    };
    if !(60..=300).contains(&cols) || !(24..=120).contains(&rows) {
        return fail(2, "--term-size: 60 to 300 columns, 24 to 120 rows");
    }
    let state = PhoneState::new(phone, &args.service_code, usize::from(args.screen_width));
    runtime.block_on(async {
        let mut headless = match Headless::start(net, state, cols, rows).await {
            Ok(headless) => headless,
            Err(e) => return fail(1, e),
        };
        let mut failed = None;
        for step in &steps {
            match headless.step(step).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            if args.all_frames {
                println!("{}\n", headless_frame(&mut headless));
            }
        }
        if !args.all_frames || failed.is_some() {
            println!("{}", headless_frame(&mut headless));
        }
        failed.map_or(ExitCode::SUCCESS, |e| fail(1, e))
    })
}

fn headless_frame(headless: &mut Headless) -> String {
    match headless.redraw() {
        Ok(()) => headless.text(),
        Err(e) => format!("(cannot draw: {e})"),
    }
}
