//! The rule catalogue (`conformance-tests/rules.txt`): every rule the
//! suites aim to cover, per specification and function.
//!
//! ```text
//! spec SDEI DEN0054 Software Delegated Exception Interface
//! fn SDEI_EVENT_REGISTER
//! entry-zero-invalid   entry address 0 -> INVALID_PARAMETERS (§2.1)
//! ```
//!
//! Traces name the rules they cover in comments, `# rule: FUNCTION/rule-id ...`.

/// The catalogue shipped with fwcall.
pub const BUILTIN: &str = include_str!("../../rules.txt");

/// One rule: an error condition, a state-table cell, a behaviour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Unique within its function, e.g. `entry-zero-invalid`.
    pub id: String,
    /// What the rule says, with the spec section.
    pub text: String,
}

/// A function (or a named group of rules, such as `STATE_TABLE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// Its name, e.g. `SDEI_EVENT_REGISTER`; unique across the catalogue.
    pub name: String,
    /// Its rules, in catalogue order.
    pub rules: Vec<Rule>,
}

/// A specification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Short key, e.g. `SDEI`.
    pub key: String,
    /// Title, e.g. `DEN0054 Software Delegated Exception Interface`.
    pub title: String,
    /// Its functions, in catalogue order.
    pub functions: Vec<Function>,
}

/// The whole catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalogue {
    /// Specifications, in catalogue order.
    pub specs: Vec<Spec>,
}

impl Catalogue {
    /// Parses catalogue text. Errors name the line.
    ///
    /// ```
    /// use fwcall_conformance::report::catalogue::Catalogue;
    /// let c = Catalogue::parse("spec X The X spec\nfn F\nr1  does one thing\n").unwrap();
    /// assert!(c.rule("F/r1").is_some());
    /// assert!(Catalogue::parse("fn F\n").unwrap_err().starts_with("line 1:"));
    /// ```
    pub fn parse(text: &str) -> Result<Catalogue, String> {
        let mut specs: Vec<Spec> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let n = n + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (head, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            match head {
                "spec" => {
                    let (key, title) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                    if key.is_empty() || title.trim().is_empty() {
                        return Err(format!("line {n}: `spec` needs a key and a title"));
                    }
                    if specs.iter().any(|s| s.key == key) {
                        return Err(format!("line {n}: spec {key} appears twice"));
                    }
                    specs.push(Spec {
                        key: key.into(),
                        title: title.trim().into(),
                        functions: Vec::new(),
                    });
                }
                "fn" => {
                    if rest.is_empty() || rest.contains(char::is_whitespace) {
                        return Err(format!("line {n}: `fn` needs one name"));
                    }
                    if specs
                        .iter()
                        .flat_map(|s| &s.functions)
                        .any(|f| f.name == rest)
                    {
                        return Err(format!("line {n}: function {rest} appears twice"));
                    }
                    let Some(spec) = specs.last_mut() else {
                        return Err(format!("line {n}: `fn {rest}` before any `spec`"));
                    };
                    spec.functions.push(Function {
                        name: rest.into(),
                        rules: Vec::new(),
                    });
                }
                id => {
                    let Some(f) = specs.last_mut().and_then(|s| s.functions.last_mut()) else {
                        return Err(format!("line {n}: rule `{id}` before any `fn`"));
                    };
                    if rest.is_empty() {
                        return Err(format!("line {n}: rule `{id}` has no description"));
                    }
                    if id.contains('/') {
                        return Err(format!("line {n}: rule ids may not contain `/`"));
                    }
                    if f.rules.iter().any(|r| r.id == id) {
                        return Err(format!("line {n}: rule {}/{id} appears twice", f.name));
                    }
                    f.rules.push(Rule {
                        id: id.into(),
                        text: rest.into(),
                    });
                }
            }
        }
        if specs.is_empty() {
            return Err("the catalogue names no specification".into());
        }
        Ok(Catalogue { specs })
    }

    /// The catalogue shipped with fwcall.
    pub fn builtin() -> Result<Catalogue, String> {
        Catalogue::parse(BUILTIN).map_err(|e| format!("rules.txt: {e}"))
    }

    /// Looks up `FUNCTION/rule-id`.
    pub fn rule(&self, reference: &str) -> Option<(&Spec, &Function, &Rule)> {
        let (f, r) = reference.split_once('/')?;
        self.specs.iter().find_map(|s| {
            let func = s.functions.iter().find(|x| x.name == f)?;
            let rule = func.rules.iter().find(|x| x.id == r)?;
            Some((s, func, rule))
        })
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.specs
            .iter()
            .flat_map(|s| &s.functions)
            .map(|f| f.rules.len())
            .sum()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The rule references in a trace's `# rule:` comments, in order.
///
/// ```
/// use fwcall_conformance::report::catalogue::rule_refs;
/// let t = "# rule: A/x B/y\nvm vcpus=1  # rule: not a rule line\n#rule: C/z\n";
/// assert_eq!(rule_refs(t), vec!["A/x", "B/y", "C/z"]);
/// ```
pub fn rule_refs(trace: &str) -> Vec<String> {
    trace
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .filter_map(|c| c.trim_start().strip_prefix("rule:"))
        .flat_map(|r| r.split_whitespace().map(str::to_string))
        .collect()
}
