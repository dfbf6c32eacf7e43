//! The shared output every command uses: timestamped coloured log lines, analysis tables
//! with inline bars, progress bars, and a JSON mode that prints one document.
//!
//! Colour follows `--no-color`, `NO_COLOR` and whether stdout is a terminal; progress bars
//! appear only on a terminal. In JSON mode nothing but the final document goes to stdout.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use owo_colors::OwoColorize;
use tabled::builder::Builder;
use tabled::settings::object::{Columns, Rows};
use tabled::settings::peaker::PriorityMax;
use tabled::settings::{Alignment, Modify, Style as TableStyle, Width};

/// The widest a table may be: it fits a 100-column terminal. Long text cells wrap at word
/// boundaries, widest column first; colour codes take no width (tabled's `ansi` feature).
pub const TABLE_WIDTH: usize = 100;

/// What a line means, which decides its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Warn,
    Bad,
    Info,
    Dim,
    Accent,
}

/// Where and how output goes.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    color: bool,
    json: bool,
    interactive: bool,
}

impl Output {
    /// Output for a command run with `--json` / `--no-color`.
    pub fn new(json: bool, no_color: bool) -> Self {
        let tty = std::io::stdout().is_terminal();
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Output {
            color: tty && !no_color && !no_color_env && !json,
            json,
            interactive: tty && !json,
        }
    }

    /// Plain output with no colour and no progress bars (tests, pipes).
    pub fn plain() -> Self {
        Output {
            color: false,
            json: false,
            interactive: false,
        }
    }

    /// Whether the command should print one JSON document instead of lines and tables.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// `text` in the colour of `tone` (unchanged without colour).
    pub fn paint(&self, text: &str, tone: Tone) -> String {
        if !self.color {
            return text.to_string();
        }
        match tone {
            Tone::Plain => text.to_string(),
            Tone::Good => text.green().bold().to_string(),
            Tone::Warn => text.yellow().bold().to_string(),
            Tone::Bad => text.red().bold().to_string(),
            Tone::Info => text.cyan().to_string(),
            Tone::Dim => text.dimmed().to_string(),
            Tone::Accent => text.magenta().bold().to_string(),
        }
    }

    /// A line prefixed with the local time: `[14:36:24.947] text`.
    pub fn log(&self, tone: Tone, text: &str) {
        if self.json {
            return;
        }
        let stamp = chrono::Local::now().format("%H:%M:%S%.3f").to_string();
        self.println(&format!(
            "{} {}",
            self.paint(&format!("[{stamp}]"), Tone::Dim),
            self.paint(text, tone)
        ));
    }

    /// A plain line (no timestamp).
    pub fn line(&self, text: &str) {
        if !self.json {
            self.println(text);
        }
    }

    /// A section heading between rules, like the walkthrough's result blocks.
    pub fn heading(&self, title: &str) {
        if self.json {
            return;
        }
        let rule = "=".repeat(80);
        self.println("");
        self.println(&self.paint(&rule, Tone::Dim));
        self.println(&self.paint(title, Tone::Accent));
        self.println(&self.paint(&rule, Tone::Dim));
    }

    /// Prints a table (nothing in JSON mode).
    pub fn table(&self, table: &Table) {
        if !self.json {
            self.println(&table.render());
        }
    }

    /// Prints `value` as the command's one JSON document.
    pub fn json(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
        self.println(&text);
    }

    /// A progress bar of `len` steps, hidden when not on a terminal. End it with
    /// [`finish_progress`] (or [`stop_progress`] when it stopped short), so the last state
    /// stays on screen.
    pub fn progress(&self, len: u64, message: &str) -> ProgressBar {
        if !self.interactive {
            return ProgressBar::hidden();
        }
        progress_on(ProgressDrawTarget::stdout(), len, message)
    }

    fn println(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = writeln!(out, "{text}");
    }
}

/// A progress bar of `len` steps drawn to `target`, in the demos' style.
pub fn progress_on(target: ProgressDrawTarget, len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), target);
    let style = ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("█▉ ");
    bar.set_style(style);
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Ends a bar whose every step is done: it is drawn once more at `len/len` and stays on
/// screen. (Clearing it instead, or relying on the rate-limited ticker, could leave the last
/// frame drawn at `len-1/len` or nothing at all.)
pub fn finish_progress(bar: &ProgressBar) {
    bar.finish();
}

/// Ends a bar that stopped short (a wait ran out): it stays on screen where it got to.
pub fn stop_progress(bar: &ProgressBar) {
    bar.abandon();
}

/// An analysis table: headers, rows, an optional inline bar column, an optional total row.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    bars: Option<Vec<f64>>,
    total: Option<Vec<String>>,
    title: Option<String>,
}

/// Width of inline bars, in characters.
const BAR_WIDTH: usize = 20;

impl Table {
    /// A table with these column headers.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            ..Table::default()
        }
    }

    /// A caption printed above the table.
    pub fn titled(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Adds a row.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Adds a row with a bar showing `fraction` (0..=1) in the last column.
    pub fn row_with_bar<S: Into<String>>(
        &mut self,
        cells: impl IntoIterator<Item = S>,
        fraction: f64,
    ) {
        self.row(cells);
        let bars = self.bars.get_or_insert_with(Vec::new);
        bars.resize(self.rows.len() - 1, 0.0);
        bars.push(fraction);
    }

    /// Sets the total row, printed last.
    pub fn total<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.total = Some(cells.into_iter().map(Into::into).collect());
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text.
    pub fn render(&self) -> String {
        let layout = self.layout();
        let fit = |row: &[String]| -> Vec<String> {
            row.iter()
                .enumerate()
                .map(
                    |(c, cell)| match layout.wrap.iter().find(|(column, _)| *column == c) {
                        // Coloured cells are left to tabled's own (ANSI-aware) wrapping.
                        Some((_, width)) if !cell.contains('\u{1b}') => wrap_cell(cell, *width),
                        Some(_) | None => cell.clone(),
                    },
                )
                .collect()
        };
        let mut builder = Builder::default();
        let mut headers = fit(&self.headers);
        if self.bars.is_some() {
            headers.push(String::new());
        }
        builder.push_record(headers);
        for (i, row) in self.rows.iter().enumerate() {
            let mut row = fit(row);
            if let Some(bars) = &self.bars {
                row.push(bar(bars.get(i).copied().unwrap_or(0.0), layout.bar));
            }
            builder.push_record(row);
        }
        if let Some(total) = &self.total {
            let mut total = fit(total);
            if self.bars.is_some() {
                total.push(String::new());
            }
            builder.push_record(total);
        }
        let mut table = builder.build();
        table.with(TableStyle::psql());
        for column in 0..self.headers.len() {
            let numeric = !self.rows.is_empty()
                && self
                    .rows
                    .iter()
                    .all(|row| row.get(column).is_none_or(|c| is_figure(c)));
            let alignment = if numeric {
                Alignment::right()
            } else {
                Alignment::left()
            };
            table.with(Modify::new(Columns::one(column)).with(alignment));
        }
        table.with(Modify::new(Rows::first()).with(Alignment::center()));
        if self.bars.is_some() {
            table.with(Modify::new(Columns::last()).with(Alignment::left()));
        }
        for (column, width) in layout.wrap {
            table.with(Modify::new(Columns::one(column)).with(Width::wrap(width).keep_words(true)));
        }
        // A safety net for tables whose figures alone are too wide.
        table.with(
            Width::wrap(TABLE_WIDTH)
                .keep_words(true)
                .priority(PriorityMax::right()),
        );
        let body = table.to_string();
        match &self.title {
            Some(title) => format!("{title}\n{body}"),
            None => body,
        }
    }
}

/// How a table fits [`TABLE_WIDTH`]: the bar width, and the text columns to wrap.
struct Layout {
    bar: usize,
    /// `(column, width)` for each text column that must wrap.
    wrap: Vec<(usize, usize)>,
}

/// The narrowest a bar gets before text columns wrap.
const MIN_BAR_WIDTH: usize = 10;
/// The narrowest a wrapped text column gets.
const MIN_TEXT_WIDTH: usize = 8;

impl Table {
    /// Fits the table in [`TABLE_WIDTH`]: first the bars shrink (to [`MIN_BAR_WIDTH`]), then the
    /// widest text column wraps, one character at a time, until the table fits. Figure columns
    /// never wrap; colour codes take no width.
    fn layout(&self) -> Layout {
        let text_width = |cell: &str| {
            cell.lines()
                .map(tabled::grid::util::string::get_text_width)
                .max()
                .unwrap_or(0)
        };
        let all_rows = || {
            std::iter::once(&self.headers)
                .chain(&self.rows)
                .chain(self.total.iter())
        };
        let mut widths: Vec<usize> = (0..self.headers.len())
            .map(|c| {
                all_rows()
                    .map(|r| r.get(c).map_or(0, |cell| text_width(cell)))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let columns = widths.len() + usize::from(self.bars.is_some());
        // psql style: one space either side of each cell, one `|` between cells.
        let overhead = 3 * columns - 1;
        let mut bar_width = if self.bars.is_some() { BAR_WIDTH } else { 0 };
        let total = |widths: &[usize], bar: usize| widths.iter().sum::<usize>() + bar + overhead;
        let excess = total(&widths, bar_width).saturating_sub(TABLE_WIDTH);
        if self.bars.is_some() {
            bar_width -= excess.min(BAR_WIDTH - MIN_BAR_WIDTH);
        }
        let text: Vec<bool> = (0..widths.len())
            .map(|c| {
                !self
                    .rows
                    .iter()
                    .all(|r| r.get(c).is_none_or(|cell| is_figure(cell)))
            })
            .collect();
        let natural = widths.clone();
        while total(&widths, bar_width) > TABLE_WIDTH {
            let widest = (0..widths.len())
                .filter(|c| text[*c] && widths[*c] > MIN_TEXT_WIDTH)
                .max_by_key(|c| (widths[*c], *c));
            match widest {
                Some(c) => widths[c] -= 1,
                None => break,
            }
        }
        Layout {
            bar: bar_width,
            wrap: (0..widths.len())
                .filter(|c| widths[*c] < natural[*c])
                .map(|c| (c, widths[c]))
                .collect(),
        }
    }
}

/// Breaks `text` into lines of at most `width` characters: at spaces where it can; a word
/// longer than a line (a model id, an ARN) breaks after a `-`, `.`, `/`, `:` or `,` near the
/// end of the line, else anywhere. No character is lost: only the spaces at breaks become line
/// ends.
fn wrap_cell(text: &str, width: usize) -> String {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split(' ') {
            let len = |s: &str| s.chars().count();
            let joined = if line.is_empty() {
                len(word)
            } else {
                len(&line) + 1 + len(word)
            };
            if joined <= width {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(word);
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let mut rest: Vec<char> = word.chars().collect();
            while rest.len() > width {
                let cut = rest[..width]
                    .iter()
                    .rposition(|c| "-./:,".contains(*c))
                    .filter(|at| *at >= width / 3)
                    .map_or(width, |at| at + 1);
                lines.push(rest[..cut].iter().collect());
                rest.drain(..cut);
            }
            line = rest.into_iter().collect();
        }
        lines.push(line);
    }
    lines.join("\n")
}

/// Whether a cell is a figure (a count, a percentage, a duration, or a dash for none).
fn is_figure(cell: &str) -> bool {
    let trimmed = cell.trim().trim_end_matches(['%', 's']).replace(',', "");
    trimmed == "-" || (!trimmed.is_empty() && trimmed.parse::<f64>().is_ok())
}

/// A bar of `width` cells filled to `fraction` (clamped to 0..=1), with eighth-cell precision.
pub fn bar(fraction: f64, width: usize) -> String {
    const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let eighths = (fraction * (width * 8) as f64).round() as usize;
    let mut text = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        text.push(EIGHTHS[eighths % 8]);
    }
    let filled = text.chars().count();
    text.push_str(&" ".repeat(width.saturating_sub(filled)));
    text
}

/// `part` of `whole` as a percentage with one decimal (`30.0%`); `0.0%` when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0.0%".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// Seconds with two decimals (`1.84s`).
pub fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_proportionally() {
        assert_eq!(bar(0.0, 4), "    ");
        assert_eq!(bar(1.0, 4), "████");
        assert_eq!(bar(0.5, 4), "██  ");
        assert_eq!(bar(2.0, 2), "██");
        assert_eq!(bar(f64::NAN, 2), "  ");
        assert_eq!(bar(1.0 / 16.0, 2).chars().next(), Some('▏'));
    }

    #[test]
    fn tables_render_rows_bars_and_totals() {
        let mut table = Table::new(["Region", "Invocations", "Percentage"]);
        table.row_with_bar(["us-east-1", "3", "30.0%"], 0.3);
        table.row_with_bar(["us-east-2", "7", "70.0%"], 0.7);
        table.total(["TOTAL", "10", "100.0%"]);
        let text = table.render();
        assert!(text.contains("us-east-1"), "{text}");
        assert!(text.contains("TOTAL"), "{text}");
        assert!(text.contains("██████"), "{text}");
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn percentages_and_seconds() {
        assert_eq!(percent(3, 10), "30.0%");
        assert_eq!(percent(1, 0), "0.0%");
        assert_eq!(seconds(Duration::from_millis(1840)), "1.84s");
    }

    /// `text` without ANSI colour codes (`ESC [ … m`).
    fn strip_ansi(text: &str) -> String {
        let mut plain = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        plain
    }

    /// Each column's text, read down the rendered table (every line after the header rule),
    /// with all whitespace removed: wrapping may move words to other lines, never drop them.
    fn columns_of(rendered: &str) -> Vec<String> {
        let mut columns: Vec<String> = Vec::new();
        for line in rendered.lines().skip_while(|l| !l.starts_with('-')).skip(1) {
            for (i, cell) in line.split('|').enumerate() {
                if columns.len() <= i {
                    columns.resize(i + 1, String::new());
                }
                columns[i].extend(cell.chars().filter(|c| !c.is_whitespace()));
            }
        }
        columns
    }

    #[test]
    fn long_and_coloured_tables_fit_100_columns_and_keep_every_word() {
        let out = Output {
            color: true,
            json: false,
            interactive: false,
        };
        let rows = [
            [
                "1",
                "cross-Region inference",
                "10/10 succeed, spread over ≥2 Regions, with every invocation logged to CloudWatch",
                "10/10 succeed, over 3 Regions (us-east-1 5, us-east-2 4, us-west-2 1); logs count 10",
            ],
            [
                "2",
                "account sharding",
                "20/20 succeed, split evenly over 2 accounts, each logging its own",
                "us.anthropic.claude-haiku-4-5-20251001-v1:0-an-id-longer-than-any-column-could-hold-on-one-line",
            ],
        ];
        let mut table = Table::new(["#", "Pattern", "Walkthrough expects", "Observed", "Verdict"]);
        for (i, row) in rows.iter().enumerate() {
            let verdict = if i == 0 {
                out.paint("PASS", Tone::Good)
            } else {
                out.paint("FAIL", Tone::Bad)
            };
            let mut cells: Vec<String> = row.iter().map(|c| c.to_string()).collect();
            cells[1] = out.paint(row[1], Tone::Accent);
            cells.push(verdict);
            table.row(cells);
        }
        let rendered = table.render();
        assert!(rendered.contains('\u{1b}'), "the test needs colour codes");
        let plain = strip_ansi(&rendered);
        let widths: Vec<usize> = plain.lines().map(|l| l.chars().count()).collect();
        assert!(
            widths.iter().all(|w| *w <= TABLE_WIDTH),
            "lines wider than {TABLE_WIDTH}: {widths:?}\n{plain}"
        );
        assert!(
            widths.windows(2).all(|w| w[0] == w[1]),
            "colour codes must not count as width (columns misaligned): {widths:?}\n{plain}"
        );
        let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        let expected: Vec<String> = (0..5)
            .map(|c| {
                rows.iter()
                    .enumerate()
                    .map(|(i, r)| match c {
                        4 if i == 0 => "PASS".to_string(),
                        4 => "FAIL".to_string(),
                        _ => squeeze(r[c]),
                    })
                    .collect::<String>()
            })
            .collect();
        assert_eq!(columns_of(&plain), expected, "\n{plain}");
    }

    #[test]
    fn long_ids_break_after_punctuation_and_keep_every_character() {
        let id = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
        let wrapped = wrap_cell(id, 16);
        assert_eq!(wrapped, "us.anthropic.\nclaude-haiku-4-\n5-20251001-v1:0");
        assert_eq!(wrapped.replace('\n', ""), id);
        assert_eq!(
            wrap_cell("3 primary, 7 fallback", 10),
            "3 primary,\n7 fallback"
        );
        assert_eq!(wrap_cell("abcdefghij", 4), "abcd\nefgh\nij");
        assert_eq!(wrap_cell("short", 10), "short");
    }

    #[test]
    fn narrow_tables_are_left_as_they_are() {
        let mut table = Table::new(["Region", "Invocations"]);
        table.row(["us-east-1", "3"]);
        let text = table.render();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.lines().nth(2).is_some_and(|l| l.contains("us-east-1")));
    }

    /// A terminal of 100 columns that keeps what indicatif leaves on screen.
    #[derive(Debug, Default)]
    struct Screen {
        lines: std::sync::Mutex<(Vec<String>, usize)>,
    }

    impl Screen {
        fn with<T>(&self, f: impl FnOnce(&mut Vec<String>, &mut usize) -> T) -> T {
            let mut guard = self.lines.lock().unwrap_or_else(|e| e.into_inner());
            let (lines, row) = &mut *guard;
            if lines.len() <= *row {
                lines.resize(*row + 1, String::new());
            }
            f(lines, row)
        }

        fn text(&self) -> String {
            self.with(|lines, _| lines.join("\n"))
        }
    }

    /// What indicatif draws to: a handle on a shared [`Screen`].
    #[derive(Debug)]
    struct ScreenHandle(std::sync::Arc<Screen>);

    impl std::ops::Deref for ScreenHandle {
        type Target = Screen;
        fn deref(&self) -> &Screen {
            &self.0
        }
    }

    impl indicatif::TermLike for ScreenHandle {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            self.with(|_, row| *row = row.saturating_sub(n));
            Ok(())
        }
        fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
            self.with(|_, row| *row += n);
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.with(|lines, row| {
                lines[*row].push_str(s);
                *row += 1;
            });
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.with(|lines, row| lines[*row].push_str(s));
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.with(|lines, row| lines[*row].clear());
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_finished_progress_bar_stays_on_screen_at_n_of_n() {
        let screen = std::sync::Arc::new(Screen::default());
        let target =
            ProgressDrawTarget::term_like(Box::new(ScreenHandle(std::sync::Arc::clone(&screen))));
        let bar = progress_on(target, 10, "Requests in flight");
        // As the demos do: every step lands at once, then the bar ends.
        for _ in 0..10 {
            bar.inc(1);
        }
        finish_progress(&bar);
        let text = strip_ansi(&screen.text());
        assert!(
            text.contains(" 10/10 "),
            "the last frame must show 10/10:\n{text:?}"
        );
    }

    #[test]
    fn a_stopped_progress_bar_stays_where_it_got_to() {
        let screen = std::sync::Arc::new(Screen::default());
        let target =
            ProgressDrawTarget::term_like(Box::new(ScreenHandle(std::sync::Arc::clone(&screen))));
        let bar = progress_on(target, 10, "Waiting for invocation logs");
        bar.set_position(7);
        stop_progress(&bar);
        let text = strip_ansi(&screen.text());
        assert!(text.contains(" 7/10 "), "{text:?}");
    }

    #[test]
    fn plain_output_does_not_paint() {
        assert_eq!(Output::plain().paint("x", Tone::Bad), "x");
    }
}
