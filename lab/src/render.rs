//! The annotated text report: what each side saw, aligned, then the verdict.
//!
//! It turns the model (`experiment`) into text and knows nothing of the
//! command line. Colour only when stdout is a terminal and `NO_COLOR` is unset
//! (<https://no-color.org>), so piped output and snapshots stay plain.

use std::io::IsTerminal;

use serde_json::Value;

use crate::experiment::{Demo, Experiment, Facts, Mode, Outcome, Verdict};

const WIDTH: usize = 78;
const INDENT: &str = "      ";
const LIST_MAX: usize = 8;

/// Terminal styling, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Colour on a terminal unless `NO_COLOR` is set to anything non-empty.
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style { color: std::io::stdout().is_terminal() && !no_color }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }
}

/// The lines before the first experiment.
pub fn header(demo: &Demo, mode: Mode, privilege: &str, style: Style) -> String {
    let mut out = format!("{}: {} (man 7 {})\n", style.paint("1", demo.name), demo.about, demo.man);
    out += &wrap(&format!("privilege: {privilege}"), "");
    out += &wrap(
        "Each experiment names the article's claims it tests, lists what the host saw and what \
         the namespace saw, and gives a verdict.",
        "",
    );
    if mode == Mode::Control {
        out += &style.paint(
            "1;33",
            &wrap(
                "CONTROL RUN: the namespaces under test are NOT created, so the child: lines show \
                 a process that shares them with the host. Isolation experiments should now FAIL: \
                 that is the expected result, and it shows what the namespace changes.",
                "",
            ),
        );
    }
    out
}

/// One experiment's block.
pub fn outcome(index: usize, total: usize, out: &Outcome, mode: Mode, style: Style) -> String {
    let claims = out.claims.join(", ");
    let mut text = format!(
        "\n{} {}  ({})\n{INDENT}{}\n",
        style.paint("2", &format!("[{index}/{total}]")),
        style.paint("1", &out.name),
        claims,
        out.title
    );
    let width =
        out.host.iter().chain(out.namespace.iter()).map(|(k, _)| k.len()).max().unwrap_or(0);
    text += &side("host:", &out.host, width);
    // Without the namespace there is no "namespace" side, only the child.
    let inside = if mode == Mode::Control { "child:" } else { "namespace:" };
    text += &side(inside, &out.namespace, width);
    text += &format!("  {:<11} {}\n", "verdict:", verdict_line(out, mode, style));
    if mode == Mode::Control && out.isolation {
        text += &wrap(&format!("With the namespace, this shows: {}", out.explanation), INDENT);
    } else {
        text += &wrap(&out.explanation, INDENT);
    }
    text
}

fn side(label: &str, facts: &Facts, width: usize) -> String {
    let mut text = String::new();
    for (i, (key, value)) in facts.iter().enumerate() {
        let label = if i == 0 { label } else { "" };
        text += &format!("  {label:<11} {key:<width$}  {}\n", value_text(value));
    }
    text
}

fn verdict_line(out: &Outcome, mode: Mode, style: Style) -> String {
    match (out.verdict, out.as_expected()) {
        (Verdict::Pass, _) => style.paint("1;32", "PASS"),
        (Verdict::Skip, _) => {
            format!("{}  {}", style.paint("1;33", "SKIP"), out.reason.as_deref().unwrap_or(""))
        }
        (_, true) if mode == Mode::Control => format!(
            "{}  as expected: without the namespace, the isolation is gone",
            style.paint("1;33", "FAIL")
        ),
        _ => format!(
            "{}  the claim was NOT observed{}",
            style.paint("1;31", "FAIL"),
            out.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
        ),
    }
}

/// Scalars as they are, lists separated by spaces, objects as JSON.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        // Long lists (every PID on the host, say) are cut to stay readable.
        Value::Array(items) if items.len() > LIST_MAX => {
            let head: Vec<_> = items[..LIST_MAX].iter().map(value_text).collect();
            format!("{} ... ({} in all)", head.join(" "), items.len())
        }
        Value::Array(items) if items.is_empty() => "(none)".into(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(" "),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// The last lines: counts, and whether every verdict was the expected one.
pub fn summary(outcomes: &[Outcome], mode: Mode) -> String {
    let count = |v: Verdict| outcomes.iter().filter(|o| o.verdict == v).count();
    let surprises = outcomes.iter().filter(|o| !o.as_expected()).count();
    let mut text = format!(
        "\n{} experiment(s): {} pass, {} fail, {} skip.",
        outcomes.len(),
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Skip)
    );
    text += match (surprises, mode) {
        (0, Mode::Namespace) => " Every claim tested was observed.\n",
        (0, Mode::Control) => {
            " Every verdict is the one a run without the namespaces should give.\n"
        }
        _ => " Some verdicts were not the expected ones: see FAIL above.\n",
    };
    text
}

/// `--list`: one line per experiment.
pub fn list(experiments: &[&Experiment]) -> String {
    let width = experiments.iter().map(|e| e.name.len()).max().unwrap_or(0);
    experiments
        .iter()
        .map(|e| format!("{:<width$}  {:<22}  {}\n", e.name, e.claims.join(","), e.title))
        .collect()
}

/// Wraps a paragraph at [`WIDTH`] columns, each line starting with `indent`.
fn wrap(paragraph: &str, indent: &str) -> String {
    let mut text = String::new();
    let mut line = String::new();
    for word in paragraph.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > WIDTH {
            text += &format!("{indent}{line}\n");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        text += &format!("{indent}{line}\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::{Lab, Observed};

    fn never_run(_: &Lab) -> anyhow::Result<Observed> {
        unreachable!("render tests build outcomes by hand")
    }

    const EXP: Experiment = Experiment {
        name: "own-hostname",
        title: "A hostname of its own",
        claims: &["UTS-1"],
        isolation: true,
        explanation: "sethostname(2) changed the namespace's copy only.",
        run: never_run,
    };
    const PLAIN: Style = Style { color: false };

    fn outcome_of(mode: Mode, verdict: Verdict) -> Outcome {
        let host = Facts::new().with("hostname", "host");
        let observed = Observed::new(verdict, host, Facts::new().with("hostname", "inside"));
        Outcome::new(&EXP, mode, Ok(observed))
    }

    #[test]
    fn a_control_fail_reads_as_expected() {
        let text = outcome(1, 1, &outcome_of(Mode::Control, Verdict::Fail), Mode::Control, PLAIN);
        assert!(text.contains("FAIL  as expected"), "{text}");
        assert!(text.contains("With the namespace, this shows:"), "{text}");
        assert!(text.contains("  child:"), "a control run has no namespace side: {text}");
    }

    #[test]
    fn a_surprise_says_the_claim_was_not_observed() {
        let text =
            outcome(1, 1, &outcome_of(Mode::Namespace, Verdict::Fail), Mode::Namespace, PLAIN);
        assert!(text.contains("FAIL  the claim was NOT observed"), "{text}");
        assert!(text.contains("  host:       hostname  host"), "{text}");
    }

    #[test]
    fn the_summary_counts_each_verdict() {
        let outcomes = [
            outcome_of(Mode::Namespace, Verdict::Pass),
            outcome_of(Mode::Namespace, Verdict::Skip),
            outcome_of(Mode::Namespace, Verdict::Fail),
        ];
        let text = summary(&outcomes, Mode::Namespace);
        assert!(text.contains("3 experiment(s): 1 pass, 1 fail, 1 skip."), "{text}");
        assert!(text.contains("Some verdicts were not the expected ones"), "{text}");
        assert!(summary(&outcomes[..2], Mode::Namespace).contains("Every claim tested"));
    }

    #[test]
    fn long_lists_are_cut() {
        let many: Vec<i64> = (1..=20).collect();
        let text = value_text(&serde_json::json!(many));
        assert_eq!(text, "1 2 3 4 5 6 7 8 ... (20 in all)");
        assert_eq!(value_text(&serde_json::json!([])), "(none)");
    }

    #[test]
    fn wraps_at_the_width() {
        let text = wrap(&"word ".repeat(40), "  ");
        assert!(text.lines().all(|l| l.len() <= WIDTH));
        assert_eq!(text.split_whitespace().count(), 40);
    }
}
