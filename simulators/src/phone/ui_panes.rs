//! The panes around the handset: the title bar (number, service code,
//! call state), the SMS inbox with new messages highlighted, and the
//! status and key-help lines.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};

use super::state::{Call, PhoneState};
use super::ui::key_help;
use crate::msisdn::plus_e164;

pub(super) fn title_bar(state: &PhoneState) -> Paragraph<'static> {
    let (call, colour) = match state.call {
        Call::Idle => ("idle", Color::Gray),
        Call::Waiting => ("waiting for the network", Color::Yellow),
        Call::Open => ("session open", Color::Green),
        Call::Ended => ("session ended", Color::Magenta),
    };
    let sep = || Span::styled(" │ ", Style::new().fg(Color::DarkGray));
    Paragraph::new(Line::from(vec![
        Span::styled(" mkoba-phone ", Style::new().fg(Color::Black).bg(Color::Cyan).add_modifier(Modifier::BOLD)),
        Span::raw(" "),
        Span::styled(plus_e164(&state.phone), Style::new().fg(Color::White).add_modifier(Modifier::BOLD)),
        sep(),
        Span::styled(state.service_code.clone(), Style::new().fg(Color::Cyan)),
        sep(),
        Span::styled(call, Style::new().fg(colour)),
    ]))
    .style(Style::new().bg(Color::Rgb(30, 30, 46)))
}

/// The inbox, newest first; unread messages highlighted.
pub(super) fn inbox_pane(state: &PhoneState) -> Paragraph<'static> {
    let inbox = &state.inbox;
    let unread = inbox.unread();
    let mut title = vec![
        Span::styled(" SMS inbox ", Style::new().add_modifier(Modifier::BOLD)),
        Span::styled(format!("· {} ", state.sms_label), Style::new().fg(Color::Gray)),
    ];
    if unread > 0 {
        title.push(Span::styled(
            format!(" {unread} new "),
            Style::new().fg(Color::Black).bg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(if unread > 0 { Color::Yellow } else { Color::Blue }))
        .title(Line::from(title));
    let mut lines: Vec<Line<'static>> = Vec::new();
    if let Some(error) = &inbox.error {
        lines.push(Line::styled(format!("! {error}"), Style::new().fg(Color::Red)));
        lines.push(Line::raw(""));
    }
    if inbox.is_empty() {
        lines.push(Line::styled("No messages.", Style::new().fg(Color::DarkGray)));
    }
    for sms in inbox.newest_first() {
        let head = if sms.unread {
            Style::new().fg(Color::Black).bg(Color::Yellow).add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::Cyan)
        };
        let marker = if sms.unread { "● NEW " } else { "" };
        lines.push(Line::from(vec![
            Span::styled(format!("{marker}{}", sms.from), head),
            Span::styled(format!("  {}", clock(sms.at_ms)), Style::new().fg(Color::DarkGray)),
        ]));
        let text = if sms.unread { Style::new().fg(Color::White).add_modifier(Modifier::BOLD) } else { Style::new() };
        lines.push(Line::styled(sms.text.clone(), text));
        lines.push(Line::raw(""));
    }
    Paragraph::new(lines).block(block).wrap(Wrap { trim: false })
}

/// `HH:MM:SS` UTC of a time in Unix milliseconds.
fn clock(at_ms: i64) -> String {
    let secs = at_ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02} UTC", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The status (with the session's inputs, PINs masked) and the keys.
pub(super) fn status_lines(state: &PhoneState) -> Paragraph<'static> {
    let mut status = vec![Span::styled(format!(" {}", state.status), Style::new().fg(Color::White))];
    let trail = state.trail();
    if !trail.is_empty() {
        status.push(Span::styled(format!("   inputs: {trail}"), Style::new().fg(Color::DarkGray)));
    }
    Paragraph::new(vec![Line::from(status), key_help()]).style(Style::new().bg(Color::Rgb(30, 30, 46)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn clock_shows_utc_time_of_day() {
        assert_eq!(super::clock(0), "00:00:00 UTC");
        assert_eq!(super::clock(86_400_000 + 3_723_000), "01:02:03 UTC");
    }
}
