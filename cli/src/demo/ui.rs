//! The demo's timeline printer and its checks.

use std::io::Write;

/// Prints the timeline (with or without colour) and keeps the score.
pub struct Ui<'o> {
    out: &'o mut dyn Write,
    colour: bool,
    /// Checks that held.
    pub passed: usize,
    /// Checks that did not hold, as messages.
    pub failures: Vec<String>,
    step: String,
}

impl std::fmt::Debug for Ui<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ui")
            .field("colour", &self.colour)
            .field("passed", &self.passed)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

/// ANSI styles used by the timeline.
#[derive(Clone, Copy, Debug)]
pub enum Style {
    /// Step headings.
    Heading,
    /// Who acts: a vCPU or the VMM.
    Actor,
    /// A decoded call.
    Call,
    /// An SDEI handler entry.
    Delivery,
    /// The VMM's actions.
    Vmm,
    /// A check that held.
    Ok,
    /// A check that failed.
    Fail,
    /// Secondary text.
    Dim,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Heading => "1;4",
            Style::Actor => "1",
            Style::Call => "36",
            Style::Delivery => "35;1",
            Style::Vmm => "33",
            Style::Ok => "32",
            Style::Fail => "31;1",
            Style::Dim => "2",
        }
    }
}

impl<'o> Ui<'o> {
    /// A printer on `out`.
    pub fn new(out: &'o mut dyn Write, colour: bool) -> Self {
        Ui {
            out,
            colour,
            passed: 0,
            failures: Vec::new(),
            step: String::new(),
        }
    }

    /// `s` in `style` (or plain).
    pub fn paint(&self, style: Style, s: &str) -> String {
        if self.colour {
            format!("\x1b[{}m{s}\x1b[0m", style.code())
        } else {
            s.to_string()
        }
    }

    /// Prints a line as is.
    pub fn line(&mut self, s: &str) {
        let _ = writeln!(self.out, "{s}");
    }

    /// Starts a step.
    pub fn heading(&mut self, title: &str) {
        self.step = title.to_string();
        let h = self.paint(Style::Heading, title);
        self.line("");
        self.line(&h);
    }

    /// A timeline entry: `actor` (cpu2, vmm, guest) and what happened.
    pub fn event(&mut self, actor: &str, style: Style, what: &str) {
        let a = self.paint(Style::Actor, &format!("{actor:<5}"));
        let w = self.paint(style, what);
        self.line(&format!("  {a} {w}"));
    }

    /// Checks `cond`, described by `what`.
    pub fn check(&mut self, cond: bool, what: &str) {
        if cond {
            self.passed += 1;
            let m = self.paint(Style::Ok, "ok");
            let w = self.paint(Style::Dim, what);
            self.line(&format!("    {m}  {w}"));
        } else {
            let m = self.paint(Style::Fail, "FAIL");
            self.line(&format!("    {m}  {what}"));
            self.failures.push(format!("{}: {what}", self.step));
        }
    }

    /// Checks `got == want` and shows both on failure (numbers as a
    /// trace writes them: small ones and error codes in decimal).
    pub fn check_eq(&mut self, what: &str, got: u64, want: u64) {
        let (g, w) = (
            fwcall_conformance::recorder::value(got),
            fwcall_conformance::recorder::value(want),
        );
        if got == want {
            self.check(true, &format!("{what}: {w}"));
        } else {
            self.check(false, &format!("{what}: expected {w}, got {g}"));
        }
    }

    /// Checks `got == want` for a quantity (a count, nanoseconds, hertz).
    pub fn check_qty(&mut self, what: &str, got: u64, want: u64) {
        if got == want {
            self.check(true, &format!("{what}: {want}"));
        } else {
            self.check(false, &format!("{what}: expected {want}, got {got}"));
        }
    }

    /// Prints a call's timeline line with its check folded in.
    pub fn call_line(&mut self, actor: &str, line: &str, ok: Option<(bool, String)>) {
        let a = self.paint(Style::Actor, &format!("{actor:<5}"));
        let l = self.paint(Style::Call, line);
        match ok {
            None => self.line(&format!("  {a} {l}")),
            Some((true, _)) => {
                self.passed += 1;
                let m = self.paint(Style::Ok, "ok");
                self.line(&format!("  {a} {l}  {m}"));
            }
            Some((false, why)) => {
                let m = self.paint(Style::Fail, "FAIL");
                self.line(&format!("  {a} {l}  {m} {why}"));
                self.failures
                    .push(format!("{}: {actor} {line}: {why}", self.step));
            }
        }
    }
}
