//! The shared output every command uses: timestamped coloured log lines, analysis tables
//! with inline bars, progress bars, and a JSON mode that prints one document.
//!
//! Colour follows `--no-color`, `NO_COLOR` and whether stdout is a terminal; progress bars
//! appear only on a terminal. In JSON mode nothing but the final document goes to stdout.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use owo_colors::OwoColorize;
use tabled::builder::Builder;
use tabled::settings::object::{Columns, Rows};
use tabled::settings::{Alignment, Modify, Style as TableStyle};

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

    /// A progress bar of `len` steps, hidden when not on a terminal.
    pub fn progress(&self, len: u64, message: &str) -> ProgressBar {
        if !self.interactive {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        let style =
            ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("█▉ ");
        bar.set_style(style);
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    fn println(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = writeln!(out, "{text}");
    }
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
        let mut builder = Builder::default();
        let mut headers = self.headers.clone();
        if self.bars.is_some() {
            headers.push(String::new());
        }
        builder.push_record(headers);
        for (i, row) in self.rows.iter().enumerate() {
            let mut row = row.clone();
            if let Some(bars) = &self.bars {
                row.push(bar(bars.get(i).copied().unwrap_or(0.0), BAR_WIDTH));
            }
            builder.push_record(row);
        }
        if let Some(total) = &self.total {
            let mut total = total.clone();
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
        let body = table.to_string();
        match &self.title {
            Some(title) => format!("{title}\n{body}"),
            None => body,
        }
    }
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

    #[test]
    fn plain_output_does_not_paint() {
        assert_eq!(Output::plain().paint("x", Tone::Bad), "x");
    }
}
