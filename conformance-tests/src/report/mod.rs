//! `fwcall conformance`: runs every built-in suite and shows, per
//! specification and function, which rules are covered by which traces,
//! whether those pass, and which rules are not covered yet.
//!
//! The mapping from traces to rules is the `# rule: FUNCTION/rule-id`
//! comments in the traces; the list of all rules is the [`catalogue`].
//!
//! ```
//! use fwcall_conformance::report::{Coverage, TraceResult, catalogue::Catalogue};
//! use fwcall_conformance::Verdict;
//!
//! let cat = Catalogue::parse("spec S A spec\nfn F\na  rule a\nb  rule b\n").unwrap();
//! let runs = vec![TraceResult { name: "s/t".into(), verdict: Verdict::Pass, rules: vec!["F/a".into()] }];
//! let cov = Coverage::build(&cat, &runs);
//! assert_eq!((cov.covered(), cov.uncovered()), (1, 1));
//! assert_eq!(cov.exit_code(), 0);
//! ```

pub mod catalogue;

use crate::engine::{RunOptions, Verdict, replay};
use crate::files::find_traces;
use crate::target::Target;
use catalogue::{Catalogue, rule_refs};
use std::fmt::Write as _;
use std::path::Path;

/// One trace's run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceResult {
    /// `suite/stem`, e.g. `sdei/register_errors`.
    pub name: String,
    /// How it ran.
    pub verdict: Verdict,
    /// The rules it names.
    pub rules: Vec<String>,
}

impl TraceResult {
    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }
}

/// Runs every trace under `root` (each in a fresh server).
pub fn run_suites<T: Target>(root: &Path) -> std::io::Result<Vec<TraceResult>> {
    let mut out = Vec::new();
    for path in find_traces(root)? {
        let bytes = std::fs::read(&path)?;
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let name = rel
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let shown = Path::new("traces").join(rel).display().to_string();
        let report = replay::<T>(&shown, &bytes, RunOptions::default());
        out.push(TraceResult {
            name,
            verdict: report.verdict,
            rules: rule_refs(&String::from_utf8_lossy(&bytes)),
        });
    }
    Ok(out)
}

/// What is known about one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleCoverage {
    /// The rule id.
    pub id: String,
    /// Its description.
    pub text: String,
    /// `(trace, passed)` for each trace naming it.
    pub traces: Vec<(String, bool)>,
}

impl RuleCoverage {
    /// Covered by at least one trace.
    pub fn covered(&self) -> bool {
        !self.traces.is_empty()
    }

    /// Covered, and every covering trace passes.
    pub fn passing(&self) -> bool {
        self.covered() && self.traces.iter().all(|(_, p)| *p)
    }

    fn status(&self) -> &'static str {
        if !self.covered() {
            "not covered"
        } else if self.passing() {
            "PASS"
        } else {
            "FAIL"
        }
    }
}

/// One function's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionCoverage {
    /// The function.
    pub name: String,
    /// Its rules, in catalogue order.
    pub rules: Vec<RuleCoverage>,
}

/// One specification's functions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecCoverage {
    /// Short key.
    pub key: String,
    /// Title.
    pub title: String,
    /// Functions, in catalogue order.
    pub functions: Vec<FunctionCoverage>,
}

impl SpecCoverage {
    fn rules(&self) -> impl Iterator<Item = &RuleCoverage> {
        self.functions.iter().flat_map(|f| &f.rules)
    }
}

/// The matrix: the catalogue with the runs laid over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// Per specification.
    pub specs: Vec<SpecCoverage>,
    /// Every trace run, in path order.
    pub traces: Vec<TraceResult>,
    /// `(trace, reference)` for references to rules the catalogue lacks.
    pub unknown: Vec<(String, String)>,
}

impl Coverage {
    /// Lays `runs` over `cat`.
    pub fn build(cat: &Catalogue, runs: &[TraceResult]) -> Coverage {
        let mut unknown = Vec::new();
        let mut specs: Vec<SpecCoverage> = cat
            .specs
            .iter()
            .map(|s| SpecCoverage {
                key: s.key.clone(),
                title: s.title.clone(),
                functions: s
                    .functions
                    .iter()
                    .map(|f| FunctionCoverage {
                        name: f.name.clone(),
                        rules: f
                            .rules
                            .iter()
                            .map(|r| RuleCoverage {
                                id: r.id.clone(),
                                text: r.text.clone(),
                                traces: Vec::new(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        for t in runs {
            let short = t.name.rsplit('/').next().unwrap_or(&t.name).to_string();
            for reference in &t.rules {
                let slot = reference.split_once('/').and_then(|(f, r)| {
                    specs
                        .iter_mut()
                        .flat_map(|s| s.functions.iter_mut())
                        .find(|x| x.name == f)
                        .and_then(|x| x.rules.iter_mut().find(|x| x.id == r))
                });
                match slot {
                    Some(rule) if !rule.traces.iter().any(|(n, _)| *n == short) => {
                        rule.traces.push((short.clone(), t.passed()));
                    }
                    Some(_) => {}
                    None => unknown.push((t.name.clone(), reference.clone())),
                }
            }
        }
        Coverage {
            specs,
            traces: runs.to_vec(),
            unknown,
        }
    }

    fn all_rules(&self) -> impl Iterator<Item = &RuleCoverage> {
        self.specs.iter().flat_map(SpecCoverage::rules)
    }

    /// Rules covered by at least one trace.
    pub fn covered(&self) -> usize {
        self.all_rules().filter(|r| r.covered()).count()
    }

    /// Rules no trace covers yet.
    pub fn uncovered(&self) -> usize {
        self.all_rules().filter(|r| !r.covered()).count()
    }

    /// Traces that did not pass.
    pub fn failed_traces(&self) -> Vec<&TraceResult> {
        self.traces.iter().filter(|t| !t.passed()).collect()
    }

    /// Traces that name no rule.
    pub fn unmapped_traces(&self) -> Vec<&TraceResult> {
        self.traces.iter().filter(|t| t.rules.is_empty()).collect()
    }

    /// 0 when every trace passes and every rule reference resolves, else 1.
    pub fn exit_code(&self) -> i32 {
        i32::from(!self.failed_traces().is_empty() || !self.unknown.is_empty())
    }

    fn summary_line(&self) -> String {
        let failed = self.failed_traces().len();
        let failing = self
            .all_rules()
            .filter(|r| r.covered() && !r.passing())
            .count();
        format!(
            "{} traces: {} pass, {failed} fail. {} rules: {} covered ({} pass, {failing} fail), {} not covered yet.",
            self.traces.len(),
            self.traces.len() - failed,
            self.covered() + self.uncovered(),
            self.covered(),
            self.covered() - failing,
            self.uncovered()
        )
    }

    /// The matrix for a terminal. `colour` adds ANSI colours.
    pub fn render_text(&self, colour: bool) -> String {
        let paint = |code: &str, s: &str| {
            if colour {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_string()
            }
        };
        let mut o = String::new();
        for s in &self.specs {
            let total = s.rules().count();
            let covered = s.rules().filter(|r| r.covered()).count();
            let _ = writeln!(
                o,
                "{}  {total} rules, {covered} covered, {} not covered",
                paint("1", &s.title),
                total - covered
            );
            for f in &s.functions {
                let n = f.rules.len();
                let c = f.rules.iter().filter(|r| r.covered()).count();
                let _ = writeln!(o, "  {}  {c}/{n} covered", paint("36", &f.name));
                for r in &f.rules {
                    let status = match r.status() {
                        "PASS" => paint("32", "pass"),
                        "FAIL" => paint("31;1", "FAIL"),
                        _ => paint("33", "----"),
                    };
                    let traces = if r.covered() {
                        shorten(
                            &r.traces.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
                            3,
                        )
                    } else {
                        "not covered".into()
                    };
                    let _ = writeln!(o, "    {status}  {:<30} {traces}", r.id);
                }
            }
            o.push('\n');
        }
        self.render_problems(&mut o, false);
        let _ = writeln!(o, "{}", self.summary_line());
        o
    }

    fn render_problems(&self, o: &mut String, markdown: bool) {
        let bullet = if markdown { "- " } else { "  " };
        let failed = self.failed_traces();
        if !failed.is_empty() {
            let _ = writeln!(o, "{}Failing traces:", if markdown { "### " } else { "" });
            for t in failed {
                let why = t
                    .verdict
                    .failure()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let _ = writeln!(o, "{bullet}{}: {why}", t.name);
            }
            o.push('\n');
        }
        if !self.unknown.is_empty() {
            let _ = writeln!(
                o,
                "{}References to rules the catalogue does not have:",
                if markdown { "### " } else { "" }
            );
            for (t, r) in &self.unknown {
                let _ = writeln!(o, "{bullet}{t}: {r}");
            }
            o.push('\n');
        }
        let unmapped = self.unmapped_traces();
        if !unmapped.is_empty() {
            let _ = writeln!(
                o,
                "{}Traces that name no rule (add `# rule:` comments):",
                if markdown { "### " } else { "" }
            );
            for t in unmapped {
                let _ = writeln!(o, "{bullet}{}", t.name);
            }
            o.push('\n');
        }
    }

    /// The same matrix as Markdown (what `conformance-tests/REPORT.md` holds).
    pub fn render_markdown(&self) -> String {
        let mut o = String::new();
        o.push_str("# fwcall conformance report\n\n");
        o.push_str(
            "Generated by `cargo run -p fwcall-cli -- conformance --markdown > conformance-tests/REPORT.md`; \
             `cargo test -p fwcall-conformance` fails when this file is stale. \
             Rules come from `conformance-tests/rules.txt`; traces name the rules they cover in `# rule:` comments.\n\n",
        );
        let _ = writeln!(o, "{}\n", self.summary_line());
        o.push_str("| Specification | Functions | Rules | Covered | Passing | Not covered |\n");
        o.push_str("|---|---:|---:|---:|---:|---:|\n");
        for s in &self.specs {
            let total = s.rules().count();
            let covered = s.rules().filter(|r| r.covered()).count();
            let passing = s.rules().filter(|r| r.passing()).count();
            let _ = writeln!(
                o,
                "| [{}](#{}) | {} | {total} | {covered} | {passing} | {} |",
                s.title,
                anchor(&s.title),
                s.functions.len(),
                total - covered
            );
        }
        o.push('\n');
        for s in &self.specs {
            let _ = writeln!(o, "## {}\n", s.title);
            o.push_str("| Function | Rule | Status | Traces |\n|---|---|---|---|\n");
            for f in &s.functions {
                for (i, r) in f.rules.iter().enumerate() {
                    let func = if i == 0 {
                        format!("**{}**", f.name)
                    } else {
                        String::new()
                    };
                    let status = match r.status() {
                        "PASS" => "pass",
                        "FAIL" => "**FAIL**",
                        _ => "not covered",
                    };
                    let traces: Vec<String> = r
                        .traces
                        .iter()
                        .map(|(t, p)| if *p { t.clone() } else { format!("{t} (FAIL)") })
                        .collect();
                    let _ = writeln!(
                        o,
                        "| {func} | `{}` {} | {status} | {} |",
                        r.id,
                        escape(&r.text),
                        traces.join(", ")
                    );
                }
            }
            o.push('\n');
        }
        self.render_problems(&mut o, true);
        o
    }
}

/// The first `n` names and a count of the rest.
fn shorten(names: &[&str], n: usize) -> String {
    if names.len() <= n {
        names.join(", ")
    } else {
        format!("{} +{} more", names[..n].join(", "), names.len() - n)
    }
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A GitHub-style heading anchor.
fn anchor(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => Some(c),
            ' ' => Some('-'),
            _ => None,
        })
        .collect()
}

/// Runs `fwcall conformance`: every trace under `root` against `T`, then
/// the matrix (Markdown when `markdown`). Returns the exit status: 0 all
/// pass, 1 a trace failed or names an unknown rule, 2 the catalogue or
/// the traces could not be read.
pub fn conformance<T: Target>(
    root: &Path,
    markdown: bool,
    colour: bool,
    out: &mut dyn std::io::Write,
) -> i32 {
    let cat = match Catalogue::builtin() {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            return 2;
        }
    };
    let runs = match run_suites::<T>(root) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(
                out,
                "error: cannot read the traces under {}: {e}",
                root.display()
            );
            return 2;
        }
    };
    let cov = Coverage::build(&cat, &runs);
    let text = if markdown {
        cov.render_markdown()
    } else {
        cov.render_text(colour)
    };
    let _ = out.write_all(text.as_bytes());
    cov.exit_code()
}

/// Where the built-in suites live in a source checkout.
pub fn builtin_traces() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces")
}
