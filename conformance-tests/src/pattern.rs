//! Patterns: what a trace expects of a register or a memory word.
//!
//! `N`, `V/M`, `_`, `neg`, `A|B|...` and `@name`. A bare `@name` captures
//! (binds or rebinds the variable); `@name+N`/`@name-N`, and any variable
//! inside `V/M` or an alternative, is a value to compare against.
//!
//! Matching happens at a width: 64 bits for registers, 32 for the results
//! of an SMC32 call, the access size for memory. Both sides are cut to that
//! width, and `neg` means the top bit of it is set.

use crate::value::{Value, Vars, parse_value, shown};
use std::fmt;

/// One alternative of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Atom {
    /// `_`: anything.
    Any,
    /// `neg`: the top bit (at the match width) is set.
    Neg,
    /// A number or variable: equal.
    Exact(Value),
    /// `V/M`: `(actual & M) == V`.
    Masked {
        /// The value the masked bits must have.
        value: Value,
        /// The mask.
        mask: Value,
    },
}

/// A whole pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// `@name`: anything, and bind it.
    Capture(String),
    /// One or more alternatives (`A|B|...`); a plain pattern is one.
    Alts(Vec<Atom>),
}

/// Sign-extends the low `bits` bits of `v` to an `i64` (`bits` in 1..=64).
pub fn sign_extend(v: u64, bits: u32) -> i64 {
    let bits = bits.clamp(1, 64);
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// The mask of the low `bits` bits.
pub fn width_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

impl Pattern {
    /// Parses one pattern token.
    pub fn parse(tok: &str) -> Result<Pattern, String> {
        if let Some(name) = tok.strip_prefix('@')
            && crate::value::is_var_name(name)
        {
            return Ok(Pattern::Capture(name.to_string()));
        }
        let mut alts = Vec::new();
        for alt in tok.split('|') {
            alts.push(parse_atom(alt).map_err(|e| {
                if tok.contains('|') {
                    format!("{e} (in pattern `{}`)", shown(tok))
                } else {
                    e
                }
            })?);
        }
        Ok(Pattern::Alts(alts))
    }

    /// The variables this pattern reads (not the one it captures).
    pub fn uses(&self) -> Vec<&str> {
        match self {
            Pattern::Capture(_) => Vec::new(),
            Pattern::Alts(alts) => alts
                .iter()
                .flat_map(|a| match a {
                    Atom::Any | Atom::Neg => vec![],
                    Atom::Exact(v) => v.var().into_iter().collect(),
                    Atom::Masked { value, mask } => {
                        value.var().into_iter().chain(mask.var()).collect()
                    }
                })
                .collect(),
        }
    }

    /// The variable this pattern binds, if it is a capture.
    pub fn captures(&self) -> Option<&str> {
        match self {
            Pattern::Capture(n) => Some(n),
            Pattern::Alts(_) => None,
        }
    }

    /// Matches `actual` at `bits` width, binding a capture into `vars`.
    /// `Err` names an unbound variable (the parser rules this out).
    pub fn check(&self, actual: u64, bits: u32, vars: &mut Vars) -> Result<bool, String> {
        let m = width_mask(bits);
        let actual = actual & m;
        match self {
            Pattern::Capture(name) => {
                vars.insert(name.clone(), actual);
                Ok(true)
            }
            Pattern::Alts(alts) => {
                for a in alts {
                    let r = |v: &Value| v.resolve(vars).ok_or_else(|| format!("{v} is not bound"));
                    let hit = match a {
                        Atom::Any => true,
                        Atom::Neg => sign_extend(actual, bits) < 0,
                        Atom::Exact(v) => r(v)? & m == actual,
                        Atom::Masked { value, mask } => actual & r(mask)? == r(value)? & m,
                    };
                    if hit {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }
}

fn parse_atom(tok: &str) -> Result<Atom, String> {
    match tok {
        "" => Err("empty pattern alternative".to_string()),
        "_" => Ok(Atom::Any),
        "neg" => Ok(Atom::Neg),
        _ => match tok.split_once('/') {
            Some((v, m)) => Ok(Atom::Masked {
                value: parse_value(v)?,
                mask: parse_value(m)?,
            }),
            None => parse_value(tok)
                .map(Atom::Exact)
                .map_err(|e| format!("{e}; a pattern is N, V/M, _, neg, A|B|..., or @name")),
        },
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Any => f.write_str("_"),
            Atom::Neg => f.write_str("neg"),
            Atom::Exact(v) => write!(f, "{v}"),
            Atom::Masked { value, mask } => write!(f, "{value}/{mask}"),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Capture(n) => write!(f, "@{n}"),
            Pattern::Alts(alts) => {
                for (i, a) in alts.iter().enumerate() {
                    if i > 0 {
                        f.write_str("|")?;
                    }
                    write!(f, "{a}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, v: u64, bits: u32) -> bool {
        Pattern::parse(p)
            .unwrap()
            .check(v, bits, &mut Vars::new())
            .unwrap()
    }

    #[test]
    fn number_pattern_compares_at_the_width() {
        assert!(m("-1", u64::MAX, 64));
        assert!(!m("-1", 0xffff_ffff, 64));
        assert!(m("-1", 0xffff_ffff, 32));
        assert!(m("0xffffffff", u64::MAX, 32));
    }

    #[test]
    fn masked_pattern_checks_only_masked_bits() {
        assert!(m("0x3c5/0x3cf", 0x2003c5, 64));
        assert!(!m("0x3c5/0x3cf", 0x3c4, 64));
    }

    #[test]
    fn neg_means_top_bit_at_the_width() {
        assert!(m("neg", u64::MAX - 2, 64));
        assert!(!m("neg", 0xffff_fffd, 64));
        assert!(m("neg", 0xffff_fffd, 32));
        assert!(m("neg", 0x80, 8));
    }

    #[test]
    fn alternatives_and_any() {
        assert!(m("0|1|-2", 1, 64));
        assert!(m("0|neg", u64::MAX, 64));
        assert!(!m("0|1", 2, 64));
        assert!(m("_", 12345, 64));
    }

    #[test]
    fn capture_binds_and_offset_use_compares() {
        let mut vars = Vars::new();
        assert!(
            Pattern::parse("@a")
                .unwrap()
                .check(7, 64, &mut vars)
                .unwrap()
        );
        assert_eq!(vars["a"], 7);
        assert!(
            Pattern::parse("@a+1")
                .unwrap()
                .check(8, 64, &mut vars)
                .unwrap()
        );
        assert!(
            !Pattern::parse("@a-1")
                .unwrap()
                .check(8, 64, &mut vars)
                .unwrap()
        );
        assert_eq!(Pattern::parse("@a+0").unwrap().uses(), vec!["a"]);
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in ["", "|", "1|", "x", "1/", "/1", "@", "@1", "neg/1", "1//2"] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
