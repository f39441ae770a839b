//! Drawing: one frame from a [`PhoneState`]. A title bar with the number
//! and the service code, the handset (display, budget, hints, keypad) on
//! the left, the SMS inbox on the right, the status and keys at the
//! bottom. Nothing here changes the state.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph};
use ratatui::Frame;

use super::keys::KEY_HELP;
use super::state::{Call, Key, PhoneState};
use super::ui_panes::{inbox_pane, status_lines, title_bar};

/// The handset's LCD colours.
const LCD_BG: Color = Color::Rgb(176, 201, 150);
const LCD_FG: Color = Color::Rgb(24, 40, 24);
const BODY: Color = Color::Cyan;

/// Rows of the display (its frame included) and of the whole handset.
const DISPLAY_HEIGHT: u16 = 12;
const HANDSET_HEIGHT: u16 = DISPLAY_HEIGHT + 10;

const KEYPAD: [[char; 3]; 4] = [['1', '2', '3'], ['4', '5', '6'], ['7', '8', '9'], ['*', '0', '#']];

/// Draws the whole phone.
pub fn draw(frame: &mut Frame, state: &PhoneState) {
    let [title, main, status] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(10), Constraint::Length(2)]).areas(frame.area());
    frame.render_widget(title_bar(state), title);
    let handset_width = u16::try_from(state.width).unwrap_or(u16::MAX).saturating_add(6).max(28);
    let [handset, inbox] = Layout::horizontal([Constraint::Length(handset_width), Constraint::Min(20)]).areas(main);
    let [handset, _] = Layout::vertical([Constraint::Length(HANDSET_HEIGHT), Constraint::Min(0)]).areas(handset);
    draw_handset(frame, handset, state);
    frame.render_widget(inbox_pane(state), inbox);
    frame.render_widget(status_lines(state), status);
}

fn draw_handset(frame: &mut Frame, area: Rect, state: &PhoneState) {
    let body = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(BODY))
        .title(Line::from(Span::styled(" mkoba ", Style::new().fg(BODY).add_modifier(Modifier::BOLD))).centered());
    let inner = body.inner(area);
    frame.render_widget(body, area);
    let [ear, display, budget, hints, keypad, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(DISPLAY_HEIGHT),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(4),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(earpiece(state), ear);
    draw_display(frame, display, state);
    frame.render_widget(budget_line(state), budget);
    frame.render_widget(hints_line(state), hints);
    frame.render_widget(keypad_lines(state.last_key), keypad);
    frame.render_widget(call_keys(state.last_key), keys);
}

fn earpiece(state: &PhoneState) -> Paragraph<'static> {
    let bars = match state.call {
        Call::Waiting => "▂▄▆_",
        _ => "▂▄▆█",
    };
    Paragraph::new(Line::from(vec![
        Span::styled(bars, Style::new().fg(Color::Green)),
        Span::raw("  "),
        Span::styled("(  ════  )", Style::new().fg(Color::DarkGray)),
    ]))
    .centered()
}

/// The LCD: the wrapped screen (scrolled), then the input line.
fn draw_display(frame: &mut Frame, area: Rect, state: &PhoneState) {
    let lcd = Style::new().bg(LCD_BG).fg(LCD_FG);
    let block = Block::bordered().border_type(BorderType::Thick).border_style(Style::new().fg(Color::DarkGray));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = usize::from(inner.height);
    let mut lines = display_lines(state, rows.saturating_sub(1));
    while lines.len() + 1 < rows {
        lines.push(Line::raw(""));
    }
    lines.push(input_line(state));
    frame.render_widget(Paragraph::new(lines).style(lcd), inner);
}

/// The screen's lines from `state.scroll`, at most `rows`, with a marker
/// when more is below.
fn display_lines(state: &PhoneState, rows: usize) -> Vec<Line<'static>> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut lines: Vec<Line<'static>> = match (state.call, &state.shown) {
        (Call::Idle, _) => vec![
            Line::styled("mkoba", bold).centered(),
            Line::raw(""),
            Line::raw(format!("Dial {}", state.service_code)).centered(),
            Line::raw("or press d").centered(),
        ],
        (Call::Waiting, _) => vec![Line::raw(""), Line::styled("USSD code running...", bold).centered()],
        (_, Some(shown)) => {
            let all = state.screen_lines();
            let more_below = all.len().saturating_sub(state.scroll) > rows;
            let mut shown_lines: Vec<Line<'static>> =
                all.into_iter().skip(state.scroll).take(rows).map(Line::raw).collect();
            if more_below {
                if let Some(last) = shown_lines.last_mut() {
                    *last = Line::styled("  ▼ more (↓)", bold);
                }
            }
            if shown.error {
                shown_lines.iter_mut().for_each(|l| l.style = Style::new().fg(Color::Red));
            }
            shown_lines
        }
        (_, None) => Vec::new(),
    };
    lines.truncate(rows);
    lines
}

fn input_line(state: &PhoneState) -> Line<'static> {
    let cursor = Span::styled("▏", Style::new().add_modifier(Modifier::SLOW_BLINK));
    match state.call {
        Call::Open => {
            let label = if state.asks_pin() { "PIN> " } else { "> " };
            Line::from(vec![
                Span::styled(label, Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(state.typed_display()),
                cursor,
            ])
        }
        Call::Idle | Call::Ended if !state.typed.is_empty() => {
            Line::from(vec![Span::raw(state.typed.clone()), cursor]).centered()
        }
        Call::Ended => Line::styled("[ Ended: d to dial ]", Style::new().add_modifier(Modifier::DIM)).centered(),
        _ => Line::raw(""),
    }
}

fn budget_line(state: &PhoneState) -> Paragraph<'static> {
    let Some(budget) = state.budget() else {
        return Paragraph::new("");
    };
    let (style, note) = if budget.over() {
        (Style::new().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD), " OVER!")
    } else if budget.used * 10 >= budget.max * 9 {
        (Style::new().fg(Color::Yellow), " full")
    } else {
        (Style::new().fg(Color::Green), "")
    };
    Paragraph::new(Line::from(vec![
        Span::styled("USSD ", Style::new().fg(Color::DarkGray)),
        Span::styled(format!("{}{note}", budget.label()), style),
    ]))
    .centered()
}

fn hints_line(state: &PhoneState) -> Paragraph<'static> {
    let labels = state.hints().labels();
    if labels.is_empty() {
        return Paragraph::new("");
    }
    let mut spans = Vec::new();
    for (i, (key, what)) in labels.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", Style::new().fg(Color::DarkGray)));
        }
        spans.push(Span::styled(key, Style::new().fg(Color::Black).bg(Color::Yellow)));
        spans.push(Span::raw(format!(" {what}")));
    }
    Paragraph::new(Line::from(spans)).centered()
}

fn keypad_lines(last: Option<Key>) -> Paragraph<'static> {
    let lines: Vec<Line<'static>> = KEYPAD
        .iter()
        .map(|row| {
            let spans: Vec<Span<'static>> = row
                .iter()
                .flat_map(|&c| {
                    let lit = last == Some(Key::Char(c));
                    let style = if lit {
                        Style::new().fg(Color::Black).bg(Color::Cyan).add_modifier(Modifier::BOLD)
                    } else {
                        Style::new().fg(Color::White)
                    };
                    [Span::styled(format!("[{c}]"), style), Span::raw(" ")]
                })
                .collect();
            Line::from(spans).centered()
        })
        .collect();
    Paragraph::new(lines)
}

fn call_keys(last: Option<Key>) -> Paragraph<'static> {
    let lit = |k: Key| if last == Some(k) { Modifier::REVERSED } else { Modifier::empty() };
    Paragraph::new(Line::from(vec![
        Span::styled("[d] call", Style::new().fg(Color::Green).add_modifier(lit(Key::Dial))),
        Span::raw("   "),
        Span::styled("[e] end", Style::new().fg(Color::Red).add_modifier(lit(Key::End))),
    ]))
    .centered()
}

/// The key help, one line.
pub fn key_help() -> Line<'static> {
    let mut spans = Vec::new();
    for (i, (key, what)) in KEY_HELP.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled("  ", Style::new()));
        }
        spans.push(Span::styled(*key, Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)));
        spans.push(Span::styled(format!(" {what}"), Style::new().fg(Color::Gray)));
    }
    Line::from(spans)
}
